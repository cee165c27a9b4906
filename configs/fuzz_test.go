package configs

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

var errLine = regexp.MustCompile(`^fuzz\.toml:\d+:\d+: \S`)

// FuzzParse: no input panics; each either loads into a config that
// survives a round trip through TOML, or fails with errors that all point
// at a position inside the file.
func FuzzParse(f *testing.F) {
	for _, s := range []string{base, minimal, syntaxes, "", "version = 1", "[[site]]\n[[site.export]]\n", "a = [[1], {b = 2}]"} {
		f.Add([]byte(s))
	}
	examples, _ := filepath.Glob("examples/*.toml")
	for _, ex := range examples {
		data, err := os.ReadFile(ex)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.toml", data)
		if err == nil {
			roundTrip(t, cfg)
			return
		}
		if cfg != nil {
			t.Fatal("config and error")
		}
		checkErrorLines(t, err, data)
	})
}

func roundTrip(t *testing.T, cfg *Config) {
	out, err := toml.Marshal(cfg)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	again, err := Parse("fuzz.toml", out)
	if err != nil {
		t.Fatalf("a loaded config does not load again: %v\n%s", err, out)
	}
	if out2, _ := toml.Marshal(again); string(out) != string(out2) {
		t.Fatalf("round trip changed the config:\n%s\n%s", out, out2)
	}
}

func checkErrorLines(t *testing.T, err error, data []byte) {
	lines := strings.Count(string(data), "\n") + 1
	for _, l := range strings.Split(err.Error(), "\n") {
		if !errLine.MatchString(l) {
			t.Fatalf("error line %q is not FILE:LINE:COL: ...", l)
		}
	}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) || fe.Line < 1 || fe.Line > lines || fe.Col < 1 {
			t.Fatalf("%v: outside the file (%d lines)", e, lines)
		}
	}
}
