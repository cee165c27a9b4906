package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// run runs the binary and returns its stdout, stderr and exit code.
// mustRun runs the binary and returns its output; a non-zero exit fails
// the test.
func mustRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, bin, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

func run(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	// (package main has a func named bytes, so strings.Builder here)
	var stdout, stderr strings.Builder
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// gatewayConfig copies the VPC gateway example into dir with its key paths
// pointing into dir; extra lines go at the end of [node].
func gatewayConfig(t *testing.T, dir string, extra string) string {
	t.Helper()
	src, err := os.ReadFile("../../configs/examples/vpc-gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.ReplaceAll(string(src), "/etc/vpcmesh/", dir+"/")
	doc = strings.Replace(doc, "\n[mesh]\n", "\n"+extra+"\n[mesh]\n", 1)
	if !strings.Contains(doc, dir+"/signing.key") || !strings.Contains(doc, extra) {
		t.Fatal("example changed shape; update this test")
	}
	p := filepath.Join(dir, "vpc-gateway.toml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, data, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestCA(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	caDir, gwDir := filepath.Join(dir, "ca"), filepath.Join(dir, "gw")
	certFile := filepath.Join(gwDir, "vpc-a-gw.pem")

	out, errOut, code := run(t, bin, "ca", "init", "--dir", caDir)
	if code != 0 {
		t.Fatalf("ca init: exit %d\n%s%s", code, out, errOut)
	}
	rootID := regexp.MustCompile(`root key id ([0-9a-f]{32})`).FindStringSubmatch(out)
	if rootID == nil || !strings.Contains(out, "mesh.root_file") {
		t.Fatalf("ca init must print the key id and where root.pub goes:\n%s", out)
	}
	for name, mode := range map[string]os.FileMode{"root.key": 0o600, "root.pub": 0o644} {
		fi, err := os.Stat(filepath.Join(caDir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %v", name, fi, err, mode)
		}
	}
	t.Run("init refuses to replace the root", func(t *testing.T) {
		before, _ := os.ReadFile(filepath.Join(caDir, "root.key"))
		_, errOut, code := run(t, bin, "ca", "init", "--dir", caDir)
		after, _ := os.ReadFile(filepath.Join(caDir, "root.key"))
		if code != exitFailure || !strings.Contains(errOut, "exists; use --force") || string(before) != string(after) {
			t.Errorf("exit %d, root changed %v:\n%s", code, string(before) != string(after), errOut)
		}
	})

	if out, errOut, code := run(t, bin, "keygen", "--dir", gwDir); code != 0 {
		t.Fatalf("keygen: exit %d\n%s%s", code, out, errOut)
	}
	config := gatewayConfig(t, gwDir, `certificate_file = "`+certFile+`"`)
	out, errOut, code = run(t, bin, "ca", "sign", "--root-key", filepath.Join(caDir, "root.key"), "-c", config)
	if code != 0 {
		t.Fatalf("ca sign: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{`"vpc-a-gw"`, rootID[1], "valid until 20", "wrote " + certFile} {
		if !strings.Contains(out, want) {
			t.Errorf("ca sign output lacks %q:\n%s", want, out)
		}
	}
	if fi, err := os.Stat(certFile); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("certificate file: %v %v, want mode 0644", fi, err)
	}

	t.Run("show with the root verifies", func(t *testing.T) {
		out, errOut, code := run(t, bin, "ca", "show", certFile, "--root", filepath.Join(caDir, "root.pub"))
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		wgPub, _ := os.ReadFile(filepath.Join(gwDir, "wireguard.pub"))
		// What the config and keygen said is what the certificate binds.
		for _, want := range []string{
			`gateway "vpc-a-gw"`, "mesh       acme", "overlay    100.96.0.2",
			"wireguard  " + strings.TrimSpace(string(wgPub)),
			"site       vpc-a  10.0.0.0/24  priority 200",
			"export   10.0.0.0/24 as 100.100.1.0/24 to project alpha",
			"expires in 365 days", rootID[1] + " (the root)",
			"verify against root key " + rootID[1] + ": OK",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("show with another mesh's root fails", func(t *testing.T) {
		otherDir := filepath.Join(dir, "other-ca")
		if _, errOut, code := run(t, bin, "ca", "init", "--dir", otherDir); code != 0 {
			t.Fatal(errOut)
		}
		out, errOut, code := run(t, bin, "ca", "show", certFile, "--root", filepath.Join(otherDir, "root.pub"))
		if code != exitFailure || !strings.Contains(out, "FAILED") || !strings.Contains(errOut, certFile+`: gateway "vpc-a-gw" (chain[0]): unknown issuer`) {
			t.Errorf("exit %d, want %d\n%s%s", code, exitFailure, out, errOut)
		}
	})
	t.Run("sign with explicit key files and output", func(t *testing.T) {
		other := filepath.Join(dir, "explicit.pem")
		_, errOut, code := run(t, bin, "ca", "sign", "--root-key", filepath.Join(caDir, "root.key"), "-c", config,
			"--wireguard-pub", filepath.Join(gwDir, "wireguard.pub"), "--signing-pub", filepath.Join(gwDir, "signing.pub"),
			"--valid-for", "240h", "-o", other)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		out, _, _ := run(t, bin, "ca", "show", other)
		if !strings.Contains(out, "EXPIRES SOON: in 10 days") {
			t.Errorf("a 10-day certificate must be flagged:\n%s", out)
		}
	})
	t.Run("sign errors", func(t *testing.T) {
		rootKey := filepath.Join(caDir, "root.key")
		noCert := gatewayConfig(t, t.TempDir(), "")
		// root.pub copied beside a root.key, as the public half of another root
		mismatched := filepath.Join(t.TempDir(), "root.key")
		copyFile(t, filepath.Join(gwDir, "signing.key"), mismatched)
		copyFile(t, filepath.Join(caDir, "root.pub"), filepath.Join(filepath.Dir(mismatched), "root.pub"))
		broken := filepath.Join(t.TempDir(), "broken.toml")
		src, _ := os.ReadFile(config)
		os.WriteFile(broken, []byte(strings.Replace(string(src), `"10.0.0.0/24"`, `"10.0.0.1/24"`, 1)), 0o644)
		for _, c := range []struct {
			name string
			args []string
			code int
			msg  string
		}{
			{"no root key", []string{"-c", config}, exitUsage, "give --root-key"},
			{"no config", []string{"--root-key", rootKey}, exitUsage, "give -c"},
			{"bad duration", []string{"--root-key", rootKey, "-c", config, "--valid-for", "-1h"}, exitUsage, "must be positive"},
			{"invalid config", []string{"--root-key", rootKey, "-c", broken}, exitFailure, broken + ":"},
			{"no certificate_file", []string{"--root-key", rootKey, "-c", noCert}, exitFailure, "node.certificate_file is not set"},
			{"missing public key", []string{"--root-key", rootKey, "-c", noCert, "-o", filepath.Join(t.TempDir(), "x.pem")}, exitFailure, "wireguard.pub"},
			{"public key given as root key", []string{"--root-key", filepath.Join(caDir, "root.pub"), "-c", config}, exitFailure, "root.pub: a public key file"},
			{"root key not matching root.pub", []string{"--root-key", mismatched, "-c", config}, exitFailure, "does not match " + filepath.Join(filepath.Dir(mismatched), "root.pub")},
		} {
			_, errOut, code := run(t, bin, append([]string{"ca", "sign"}, c.args...)...)
			if code != c.code || !strings.Contains(errOut, c.msg) {
				t.Errorf("%s: exit %d, want %d with %q:\n%s", c.name, code, c.code, c.msg, errOut)
			}
		}
	})
	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{{"ca"}, {"ca", "bogus"}, {"ca", "show"}, {"ca", "init"}, {"ca", "show", "a", "b"}} {
			if _, errOut, code := run(t, bin, args...); code != exitUsage {
				t.Errorf("%v: exit %d, want %d\n%s", args, code, exitUsage, errOut)
			}
		}
	})
}
