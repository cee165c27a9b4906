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
