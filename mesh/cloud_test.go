package mesh

import (
	"maps"
	"slices"
	"testing"

	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
)

// An interface a record names counts as a partner's, whose VPC routes the
// active member takes over, only when the record's certificate names a
// site this gateway's certificate names too: an HA partner. Any other
// gateway's is ignored, so that no gateway can have another interface's
// routes re-pointed by naming it.
func TestPartnerENIs(t *testing.T) {
	gw := func(name, eni string, sites ...string) *discovery.Node {
		n := &discovery.Node{Record: discovery.Record{Name: name, ENI: eni}}
		for _, s := range sites {
			n.Sites = append(n.Sites, cert.Site{Name: s, Priority: 100})
		}
		return n
	}
	for _, c := range []struct {
		name    string
		own     []string
		nodes   []*discovery.Node
		known   []string
		ignored map[string]string // node name → ENI
	}{
		{"a same-site partner's ENI is known", []string{"vpc-a"},
			[]*discovery.Node{gw("vpc-a-gw2", "eni-partner", "vpc-a")}, []string{"eni-partner"}, nil},
		{"another site's gateway's ENI is not", []string{"vpc-a"},
			[]*discovery.Node{gw("vpc-b-gw", "eni-vpcb", "vpc-b")}, nil, map[string]string{"vpc-b-gw": "eni-vpcb"}},
		{"a site's gateway naming its partner's ENI is heard, an outsider naming it is not", []string{"vpc-a"},
			[]*discovery.Node{gw("evil", "eni-partner", "office"), gw("vpc-a-gw2", "eni-partner", "vpc-a")},
			[]string{"eni-partner"}, map[string]string{"evil": "eni-partner"}},
		{"a partner in one of several sites", []string{"vpc-a", "vpc-a-db"},
			[]*discovery.Node{gw("db-gw", "eni-db", "office", "vpc-a-db")}, []string{"eni-db"}, nil},
		{"a gateway without sites", []string{"vpc-a"},
			[]*discovery.Node{gw("hub", "eni-hub")}, nil, map[string]string{"hub": "eni-hub"}},
		{"this gateway without sites has no partners", nil,
			[]*discovery.Node{gw("vpc-a-gw2", "eni-partner", "vpc-a")}, nil, map[string]string{"vpc-a-gw2": "eni-partner"}},
		{"a partner off EC2 names none", []string{"vpc-a"},
			[]*discovery.Node{gw("vpc-a-gw2", "", "vpc-a")}, nil, nil},
		{"mixed", []string{"vpc-a"},
			[]*discovery.Node{gw("a2", "eni-a2", "vpc-a"), gw("b1", "eni-b1", "vpc-b"), gw("a3", "eni-a3", "vpc-a")},
			[]string{"eni-a2", "eni-a3"}, map[string]string{"b1": "eni-b1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var own []cert.Site
			for _, s := range c.own {
				own = append(own, cert.Site{Name: s, Priority: 100})
			}
			known, ignored := partnerENIs(own, c.nodes)
			if !slices.Equal(known, c.known) {
				t.Errorf("known %q, want %q", known, c.known)
			}
			if !maps.Equal(ignored, c.ignored) {
				t.Errorf("ignored %v, want %v", ignored, c.ignored)
			}
		})
	}
}
