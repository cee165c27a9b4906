package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

// TestPackage builds the .deb and .rpm with systemd/package.sh, installs the
// .deb into a throwaway root with dpkg (no chroot: --root with the
// maintainer scripts run chrootless), and checks what a gateway gets: each
// file with its mode and content, the unit pointing at the packaged binary,
// the stamped version, nothing enabled, and lintian clean of errors. Then
// removes it and checks that /etc/vpcmesh with a config in it stays.
func TestPackage(t *testing.T) {
	netnstest.Require(t) // root, as the rest of the tier; dpkg itself would not need it
	for _, tool := range []string{"dpkg", "dpkg-deb", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: packages are checked on Debian", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	const version = "v9.8.7-e2e"
	const pkgVersion = "9.8.7+e2e-1" // package.sh: no "v", "-" → "+", release 1
	dist := t.TempDir()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "bash", "../systemd/package.sh", version)
	cmd.Env = append(os.Environ(), "DIST="+dist)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("package.sh: %v\n%s", err, out)
	}
	t.Logf("package.sh took %s:\n%s", time.Since(start).Round(time.Second), out)

	deb := filepath.Join(dist, "vpcmesh_"+pkgVersion+"_amd64.deb")
	rpm := filepath.Join(dist, "vpcmesh-"+strings.TrimSuffix(pkgVersion, "-1")+"-1.x86_64.rpm")
	for _, p := range []string{deb, rpm} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() < 1<<20 {
			t.Errorf("%s: %d bytes, too small to hold the gateway", p, st.Size())
		}
	}

	// Control fields and conffiles.
	fields := pkgRun(t, ctx, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture")
	for _, want := range []string{"Package: vpcmesh", "Version: " + pkgVersion, "Architecture: amd64"} {
		if !strings.Contains(fields, want+"\n") {
			t.Errorf("control lacks %q:\n%s", want, fields)
		}
	}
	if got := pkgRun(t, ctx, "dpkg-deb", "-I", deb, "conffiles"); strings.TrimSpace(got) != "/etc/iproute2/rt_protos.d/vpcmesh.conf" {
		t.Errorf("conffiles = %q", got)
	}

	// Install into an empty dpkg database under root.
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		must(t, os.WriteFile(filepath.Join(root, f), nil, 0o644))
	}
	dpkg := func(args ...string) string {
		return pkgRun(t, ctx, "dpkg", append([]string{"--root=" + root, "--force-not-root", "--force-script-chrootless"}, args...)...)
	}
	dpkg("-i", deb)
	if st := dpkg("-s", "vpcmesh"); !strings.Contains(st, "Status: install ok installed") {
		t.Fatalf("dpkg -s vpcmesh:\n%s", st)
	}

	// Every file, its mode, and its content where the repo has it.
	unit, err := os.ReadFile("../systemd/vpcmesh.service")
	must(t, err)
	packagedUnit := bytes.ReplaceAll(unit, []byte("/usr/local/bin/vpcmesh"), []byte("/usr/bin/vpcmesh"))
	type want struct {
		mode fs.FileMode
		same string // repo file it must equal, or ""
	}
	files := map[string]want{
		"usr/bin/vpcmesh":                           {0o755, ""},
		"lib/systemd/system/vpcmesh.service":        {0o644, ""},
		"usr/lib/sysctl.d/99-vpcmesh.conf":          {0o644, "../systemd/99-vpcmesh.conf"},
		"etc/iproute2/rt_protos.d/vpcmesh.conf":     {0o644, "../systemd/rt_protos.conf"},
		"etc/vpcmesh":                               {fs.ModeDir | 0o700, ""},
		"usr/share/doc/vpcmesh/copyright":           {0o644, "../systemd/copyright"},
		"usr/share/doc/vpcmesh/changelog.Debian.gz": {0o644, ""},
		"usr/share/lintian/overrides/vpcmesh":       {0o644, "../systemd/lintian-overrides"},
	}
	examples, err := filepath.Glob("../configs/examples/*")
	must(t, err)
	if len(examples) == 0 {
		t.Fatal("no configs/examples")
	}
	for _, e := range examples {
		files["usr/share/doc/vpcmesh/examples/"+filepath.Base(e)] = want{0o644, e}
	}
	for rel, w := range files {
		p := filepath.Join(root, rel)
		st, err := os.Lstat(p)
		if err != nil {
			t.Errorf("not installed: /%s", rel)
			continue
		}
		if got := st.Mode() & (fs.ModeType | fs.ModePerm); got != w.mode {
			t.Errorf("/%s: mode %v, want %v", rel, got, w.mode)
		}
		if w.same != "" {
			got, err := os.ReadFile(p)
			must(t, err)
			repo, err := os.ReadFile(w.same)
			must(t, err)
			if !bytes.Equal(got, repo) {
				t.Errorf("/%s differs from %s", rel, w.same)
			}
		}
	}
	gotUnit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/vpcmesh.service"))
	must(t, err)
	if !bytes.Equal(gotUnit, packagedUnit) {
		t.Errorf("installed unit is not systemd/vpcmesh.service with /usr/bin/vpcmesh:\n%s", gotUnit)
	}
	if !bytes.Contains(gotUnit, []byte("\nExecStart=/usr/bin/vpcmesh run ")) || bytes.Contains(gotUnit, []byte("/usr/local/")) {
		t.Errorf("installed unit does not run /usr/bin/vpcmesh:\n%s", gotUnit)
	}
	// dpkg's list of the package's files has nothing the test does not know.
	for _, l := range strings.Split(strings.TrimSpace(dpkg("-L", "vpcmesh")), "\n") {
		rel := strings.TrimPrefix(l, "/")
		if _, ok := files[rel]; ok || rel == "." {
			continue
		}
		if st, err := os.Lstat(filepath.Join(root, rel)); err == nil && st.IsDir() {
			continue // a parent directory
		}
		t.Errorf("unexpected file in the package: %s", l)
	}
	// Nothing enabled: no wants/ symlink anywhere in the root.
	must(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(filepath.Dir(p), ".wants") {
			t.Errorf("the package enabled something: %s", p)
		}
		return err
	}))

	// The installed binary runs and reports the stamped version.
	bin := filepath.Join(root, "usr/bin/vpcmesh")
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if got := pkgRun(t, ctx, bin, args...); got != "vpcmesh version "+version+"\n" {
			t.Errorf("vpcmesh %s = %q, want %q", args[0], got, "vpcmesh version "+version+"\n")
		}
	}

	lintDeb(t, ctx, deb)
	runInstalled(t, root, bin)

	// Removal takes the package's files and keeps the admin's config.
	must(t, os.WriteFile(filepath.Join(root, "etc/vpcmesh/vpcmesh.toml"), []byte("# kept\n"), 0o600))
	dpkg("-r", "vpcmesh")
	if _, err := os.Stat(bin); err == nil {
		t.Error("dpkg -r left /usr/bin/vpcmesh")
	}
	if _, err := os.Stat(filepath.Join(root, "etc/vpcmesh/vpcmesh.toml")); err != nil {
		t.Errorf("dpkg -r removed the config: %v", err)
	}
}

// runInstalled brings a gateway up from what the package installed alone:
// its binary, keys from its keygen, and its office example with the paths
// moved into a folder of the test. The gateway runs in a lab namespace and
// answers status over its control socket.
func runInstalled(t *testing.T, root, bin string) {
	t.Helper()
	l, ctx := newLab(t)
	ns, err := l.NS("pkg-gw")
	must(t, err)
	// The example is an office gateway: its LAN, where it has an address.
	for _, args := range [][]string{{"link", "add", "lan", "type", "veth", "peer", "name", "lan-peer"}, {"addr", "add", "192.168.0.2/24", "dev", "lan"}, {"link", "set", "lan-peer", "up"}, {"link", "set", "lan", "up"}} {
		_, err := ns.Exec(ctx, append([]string{"ip"}, args...)...)
		must(t, err)
	}
	dir := t.TempDir()
	pkgRun(t, ctx, bin, "keygen", "--dir", dir)
	example, err := os.ReadFile(filepath.Join(root, "usr/share/doc/vpcmesh/examples/office-gateway.toml"))
	must(t, err)
	sock := filepath.Join(dir, "vpcmesh.sock")
	cfg := strings.ReplaceAll(string(example), "/etc/vpcmesh/", dir+"/")
	// Its jump-host users are accounts of that office; this machine has none.
	cfg = regexp.MustCompile(`(?m)^users = .*$`).ReplaceAllString(cfg, "")
	cfg = strings.Replace(cfg, "[mesh]", fmt.Sprintf("state_dir = %q\ncontrol_socket = %q\n\n[mesh]", filepath.Join(dir, "state"), sock), 1)
	path := filepath.Join(dir, "vpcmesh.toml")
	must(t, os.WriteFile(path, []byte(cfg), 0o600))
	pkgRun(t, ctx, bin, "check", "-c", path)
	gw, err := ns.Start("pkg-gw", bin, "run", "-c", path)
	must(t, err)
	must(t, lab.Eventually(ctx, 30*time.Second, func() error {
		if gw.Exited() {
			t.Fatalf("the installed gateway exited:\n%s", gw.Log())
		}
		_, err := exec.CommandContext(ctx, bin, "status", "-s", sock).CombinedOutput()
		return err
	}))
	out := pkgRun(t, ctx, bin, "status", "-s", sock)
	if !strings.Contains(out, "office-gw") {
		t.Errorf("status of the installed gateway:\n%s", out)
	}
	must(t, gw.Stop(10*time.Second))
}

// lintDeb checks the .deb (with the overrides it ships) and fails on any
// error tag; warnings and the rest are logged.
func lintDeb(t *testing.T, ctx context.Context, deb string) {
	t.Helper()
	if _, err := exec.LookPath("lintian"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("lintian not installed (e2e/setup.sh installs it)")
		}
		t.Log("lintian not installed: .deb not linted (e2e/setup.sh installs it)")
		return
	}
	// lintian exits non-zero on errors; its tags are what the test judges.
	out, _ := exec.CommandContext(ctx, "lintian", "--display-info", deb).CombinedOutput()
	errs := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case strings.HasPrefix(l, "E: "):
			t.Errorf("lintian: %s", l)
			errs++
		case l != "" && !strings.HasPrefix(l, "N:") && !strings.Contains(l, "running with root privileges"):
			t.Logf("lintian: %s", l)
		}
	}
	if errs > 0 {
		t.Errorf("lintian reported %d errors; fix them or add a justified override to systemd/lintian-overrides", errs)
	}
}

// pkgRun runs name with args and returns its standard output; it fails the
// test with the output on a non-zero exit.
func pkgRun(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}
