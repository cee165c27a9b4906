package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// check says a config that serves metrics to the network without a web
// config is ok, and warns on stderr at the key's file:line:col.
func TestCheckWarnsOfOpenMetrics(t *testing.T) {
	src, err := os.ReadFile("../../configs/examples/vpc-gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		listen string
		warn   bool
	}{
		{"127.0.0.1:9586", false},
		{"0.0.0.0:9586", true},
	} {
		t.Run(c.listen, func(t *testing.T) {
			doc := strings.Replace(string(src), "[node]\n", "[node]\nmetrics_listen = \""+c.listen+"\"\n", 1)
			file := filepath.Join(t.TempDir(), "gw.toml")
			if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut strings.Builder
			cmd := checkCmd()
			cmd.SetOut(&out)
			cmd.SetErr(&errOut)
			cmd.SetArgs([]string{"-c", file})
			if err := cmd.Execute(); err != nil {
				t.Fatalf("check: %v\n%s", err, errOut.String())
			}
			if out.String() != file+": ok\n" {
				t.Errorf("stdout %q", out.String())
			}
			warned := regexp.MustCompile(`^` + regexp.QuoteMeta(file) + `:\d+:\d+: node\.metrics_listen: warning: 0\.0\.0\.0:9586 is not a loopback address`).MatchString(errOut.String())
			if warned != c.warn || !c.warn && errOut.Len() > 0 {
				t.Errorf("stderr %q, want a warning: %v", errOut.String(), c.warn)
			}
		})
	}
}

// check given several files, or a directory of them, also reports what
// they get wrong together, naming both files; a join address no gateway
// listens at is only a warning.
func TestCheckConflictsBetweenFiles(t *testing.T) {
	gw := func(name, overlay, endpoint, join, mapped string) string {
		return `version = 1
[node]
name = "` + name + `"
private_key_file = "/etc/vpcmesh/wireguard.key"
overlay_address = "` + overlay + `"
public_endpoint = "` + endpoint + `"
[mesh]
name = "acme"
overlay_range = "100.96.0.0/16"
join = [` + join + `]
[[site]]
name = "vpc-` + name + `"
cidrs = ["10.0.0.0/24"]
[[site.export]]
project = "alpha"
cidr = "10.0.0.0/24"
mapped = "` + mapped + `"
`
	}
	write := func(dir, name, doc string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	run := func(args ...string) (string, string, error) {
		var out, errOut strings.Builder
		cmd := checkCmd()
		cmd.SilenceUsage, cmd.SilenceErrors = true, true // as under the root command
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs(args)
		err := cmd.Execute()
		return out.String(), errOut.String(), err
	}

	dir := t.TempDir()
	a := write(dir, "a.toml", gw("gw1", "100.96.0.1", "203.0.113.1:51820", `"203.0.113.2:51820"`, "100.100.1.0/24"))
	b := write(dir, "b.toml", gw("gw2", "100.96.0.2", "203.0.113.2:51820", `"203.0.113.1:51820"`, "100.100.1.0/24"))
	write(dir, "notes.txt", "not a config")
	for _, args := range [][]string{{"-c", a, "-c", b}, {"-c", dir}, {"-c", dir, "-c", a}} {
		t.Run("same wire prefix "+strings.Join(args, " "), func(t *testing.T) {
			out, errOut, err := run(args...)
			if err == nil || !strings.Contains(err.Error(), "1 conflicts between the 2 config files") {
				t.Fatalf("check: %v, want 1 conflict\n%s", err, errOut)
			}
			if out != a+": ok\n"+b+": ok\n" {
				t.Errorf("stdout %q", out)
			}
			want := regexp.MustCompile(`^` + regexp.QuoteMeta(b) + `:17:10: site\[0\]\.export\[0\]\.mapped: wire prefix 100\.100\.1\.0/24 overlaps 100\.100\.1\.0/24 in ` + regexp.QuoteMeta(a) + `:17:10 `)
			if !want.MatchString(errOut) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr %q, want one line matching %s", errOut, want)
			}
		})
	}

	t.Run("same name and overlay address", func(t *testing.T) {
		c := write(t.TempDir(), "c.toml", gw("gw1", "100.96.0.1", "203.0.113.3:51820", "", "100.100.3.0/24"))
		_, errOut, err := run("-c", a, "-c", c)
		if err == nil || !strings.Contains(err.Error(), "2 conflicts") {
			t.Fatalf("check: %v\n%s", err, errOut)
		}
		for _, field := range []string{"node.name", "node.overlay_address"} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c) + `:\d+:\d+: ` + regexp.QuoteMeta(field) + `: .* in ` + regexp.QuoteMeta(a) + `:\d+:\d+`).MatchString(errOut) {
				t.Errorf("stderr lacks %s naming both files:\n%s", field, errOut)
			}
		}
	})

	t.Run("join nobody listens at is a warning", func(t *testing.T) {
		d := t.TempDir()
		c := write(d, "c.toml", gw("gw3", "100.96.0.3", "203.0.113.3:51820", `"203.0.113.9:51820"`, "100.100.3.0/24"))
		out, errOut, err := run("-c", a, "-c", c)
		if err != nil {
			t.Fatalf("a warning must not fail check: %v\n%s", err, errOut)
		}
		if out != a+": ok\n"+c+": ok\n" {
			t.Errorf("stdout %q", out)
		}
		// a joins 203.0.113.2, which is not among these two files either.
		for _, w := range []string{a + `:10:9: mesh.join[0]: warning: 203.0.113.2:51820`, c + `:10:9: mesh.join[0]: warning: 203.0.113.9:51820`} {
			if !strings.Contains(errOut, w) {
				t.Errorf("stderr lacks %q:\n%s", w, errOut)
			}
		}
	})

	t.Run("one file: no cross checks", func(t *testing.T) {
		if _, errOut, err := run("-c", a); err != nil || errOut != "" {
			t.Errorf("check: %v\n%s", err, errOut)
		}
	})

	t.Run("directory without configs", func(t *testing.T) {
		if _, _, err := run("-c", t.TempDir()); err == nil || !strings.Contains(err.Error(), "without *.toml") {
			t.Errorf("check of an empty directory: %v", err)
		}
	})
}
