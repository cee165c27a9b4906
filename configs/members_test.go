package configs

import (
	"net/netip"
	"strings"
	"testing"
)

// A member source inside an export of its own project is a warning, not
// an error, at the source; outside it, in another project's export, or on
// a transparent member, there is none.
func TestMemberInsideOwnExportWarns(t *testing.T) {
	cases := []struct {
		name  string
		edits []string
		want  string // the warning's start; empty: none
	}{
		{"member outside the export", nil, ""},
		{"member inside its project's export", []string{`sources = ["10.1.0.5/32"]`, `sources = ["10.1.0.5/32", "10.0.0.128/25"]`},
			`base.toml:29:27: site[0].member[0].sources[1]: warning: 10.0.0.128/25 lies inside site[0].export[0].cidr 10.0.0.0/24, exported to project "alpha"`},
		{"member equal to the export", []string{`sources = ["10.1.0.5/32"]`, `sources = ["10.0.0.0/24"]`},
			`base.toml:29:12: site[0].member[0].sources[0]: warning: 10.0.0.0/24 lies inside site[0].export[0].cidr 10.0.0.0/24`},
		{"member inside another project's export", []string{`project = "alpha"
sources`, `project = "gamma"
sources`}, ""},
		{"transparent member", []string{`users = ["alice"]`, "users = [\"alice\"]\ntransparent = true", `sources = ["10.1.0.5/32"]`, `sources = ["10.0.0.5/32"]`}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("base.toml", []byte(edit(t, c.edits...)))
			if err != nil {
				t.Fatalf("a warning must not be an error: %v", err)
			}
			var got []string
			for _, w := range cfg.Warnings {
				got = append(got, w.Error())
			}
			switch {
			case c.want == "" && len(got) > 0:
				t.Errorf("warnings %q, want none", got)
			case c.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], c.want)):
				t.Errorf("warnings %q, want one starting %q", got, c.want)
			}
		})
	}
}

// The static WireGuard example claims only the HQ servers' subnet uses
// the branches' routes: it loads without warnings, and every address of
// project "branches" at HQ, exported or member, is in that subnet.
func TestStaticSiteExampleKeepsItsClaim(t *testing.T) {
	cfg := mustLoad(t, "examples/static-wireguard-site.toml")
	if len(cfg.Warnings) > 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	servers := netip.MustParsePrefix("172.20.10.0/24")
	in := 0
	for _, s := range cfg.Sites {
		for _, e := range s.Exports {
			if e.Project == "branches" {
				in++
				if !contains(servers, e.CIDR) {
					t.Errorf("site %s exports %s to the branches: beyond the servers' subnet %s", s.Name, e.CIDR, servers)
				}
			}
		}
		for _, m := range s.Members {
			for _, src := range m.Sources {
				if m.Project == "branches" {
					in++
					if !contains(servers, src) {
						t.Errorf("site %s lets %s use the branches' routes: beyond the servers' subnet %s", s.Name, src, servers)
					}
				}
			}
		}
	}
	if in == 0 {
		t.Error("nothing at HQ is in project branches")
	}
}
