package discovery

import (
	"context"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	ctx := context.Background()
	cases := []struct{ in, want, err string }{
		{"203.0.113.20:51820", "203.0.113.20:51820", ""},
		{"localhost:51820", "127.0.0.1:51820", ""}, // from /etc/hosts, no DNS traffic
		{"203.0.113.20", "", "missing port"},
		{"203.0.113.20:0", "", "invalid port"},
		{"203.0.113.20:70000", "", "invalid port"},
	}
	for _, c := range cases {
		got, err := Resolve(ctx, c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("%s = %v, %v; want %s", c.in, got, err, c.want)
		}
	}
}
