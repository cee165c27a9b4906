package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// buildBinary builds vpcmesh once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vpcmesh")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func TestCLI(t *testing.T) {
	bin := buildBinary(t)
	t.Run("examples pass check", func(t *testing.T) {
		examples, _ := filepath.Glob("../../configs/examples/*.toml")
		if len(examples) < 3 {
			t.Fatalf("found %d examples, want at least 3", len(examples))
		}
		for _, ex := range examples {
			out, err := exec.Command(bin, "check", "-c", ex).CombinedOutput()
			if err != nil || !strings.Contains(string(out), ex+": ok") {
				t.Errorf("check %s: %v\n%s", ex, err, out)
			}
		}
	})
	t.Run("broken copy fails with file:line:col", func(t *testing.T) {
		src, err := os.ReadFile("../../configs/examples/vpc-gateway.toml")
		if err != nil {
			t.Fatal(err)
		}
		broken := filepath.Join(t.TempDir(), "broken.toml")
		// An unknown key and a CIDR with host bits set.
		bad := strings.Replace(string(src), "[node]\n", "[node]\nlisten_prot = 51820\n", 1)
		bad = strings.Replace(bad, `"10.0.0.0/24"`, `"10.0.0.1/24"`, 1)
		if bad == string(src) {
			t.Fatal("example changed shape; update this test")
		}
		os.WriteFile(broken, []byte(bad), 0o644)
		cmd := exec.Command(bin, "check", "-c", broken)
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); err == nil || code != exitFailure {
			t.Fatalf("exit %d, want %d\n%s", code, exitFailure, out)
		}
		for _, want := range []string{`node\.listen_prot`, `10\.0\.0\.1/24`} {
			re := regexp.MustCompile(regexp.QuoteMeta(broken) + `:\d+:\d+: .*` + want)
			if !re.Match(out) {
				t.Errorf("output lacks %s with file:line:col:\n%s", want, out)
			}
		}
	})
	t.Run("usage error exits 2", func(t *testing.T) {
		cmd := exec.Command(bin, "check", "--no-such-flag")
		cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != exitUsage {
			t.Errorf("exit %d, want %d", code, exitUsage)
		}
	})
	t.Run("keygen writes 0600 keys and refuses to overwrite", func(t *testing.T) {
		dir := t.TempDir()
		out, err := exec.Command(bin, "keygen", "--dir", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for name, mode := range map[string]os.FileMode{"wireguard.key": 0o600, "signing.key": 0o600, "wireguard.pub": 0o644} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil || fi.Mode().Perm() != mode {
				t.Errorf("%s: %v %v, want mode %v", name, fi, err, mode)
			}
		}
		before, _ := os.ReadFile(filepath.Join(dir, "wireguard.key"))
		out, err = exec.Command(bin, "keygen", "--dir", dir).CombinedOutput()
		after, _ := os.ReadFile(filepath.Join(dir, "wireguard.key"))
		if err == nil || !strings.Contains(string(out), "exists") || string(before) != string(after) {
			t.Errorf("second keygen must refuse and keep the key: %v\n%s", err, out)
		}
	})
}

// A version stamped at build with -X main.version is what --version and
// `vpcmesh version` print.
func TestVersionStamped(t *testing.T) {
	const stamped = "v9.8.7-test"
	bin := filepath.Join(t.TempDir(), "vpcmesh")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+stamped, "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || string(out) != "vpcmesh version "+stamped+"\n" {
			t.Errorf("vpcmesh %s: %v %q, want %q", args[0], err, out, "vpcmesh version "+stamped+"\n")
		}
	}
}
