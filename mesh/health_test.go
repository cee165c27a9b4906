package mesh

import (
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery"
)

// A member of an HA group that has never answered a probe through its
// tunnel must not carry its site, whatever its priority: it could
// otherwise hold the site and black-hole it for as long as it likes. It
// counts as down after the same misses as a member that answered once,
// however often the view is computed again meanwhile, and its first
// answer makes it eligible again (it never failed; there is nothing to
// hold down).
func TestHAHigherPriorityNeverAnswered(t *testing.T) {
	cfg, err := configs.Parse("gw.toml", []byte(gossipGW))
	if err != nil {
		t.Fatal(err)
	}
	a1 := node(t, nodeSpec{"gw-a1", "vpc-a", 200, "100.96.0.2", []string{"alpha=100.100.1.0/24"}, ""})
	a2 := node(t, nodeSpec{"gw-a2", "vpc-a", 100, "100.96.0.5", []string{"alpha=100.100.1.0/24"}, ""})
	const misses = 3
	h := &health{misses: misses, holdDown: time.Hour, changed: func() {}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		peers: map[netip.Addr]*peerHealth{}}
	targets := map[netip.Addr]string{a1.Overlay: a1.Name, a2.Overlay: a2.Name}
	h.setTargets(targets)

	carrier := func() string {
		r := fromView(cfg, View{Nodes: []*discovery.Node{a1, a2}, Down: h.down()})
		for _, p := range r.peers {
			if slices.Contains(p.AllowedIPs, netip.MustParsePrefix("100.100.1.0/24")) {
				return r.names[p.PublicKey]
			}
		}
		return ""
	}
	src := strings.NewReplacer(`name = "gw"`, `name = "gw-a2"`, `name = "office"`, `name = "vpc-a"`).Replace(gossipGW)
	self, err := configs.Parse("gw-a2.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}

	// gw-a2 answers every probe, gw-a1 none. The view is computed again
	// between probes (any membership event does it): that must not wipe
	// out the misses counted.
	for range misses + 1 {
		h.round()
		h.replied(a2.Overlay, h.seq)
		h.setTargets(targets)
	}
	if d := h.down(); !d["gw-a1"] || d["gw-a2"] {
		t.Errorf("after %d probes, gw-a1 never answering, gw-a2 every time: down %v, want gw-a1 alone", misses+1, d)
	}
	if got := carrier(); got != "gw-a2" {
		t.Errorf("%s carries the site, want gw-a2: gw-a1 has never answered a probe", got)
	}
	if !activeForSites(self, View{Nodes: []*discovery.Node{a1}, Down: h.down()}, time.Time{}, nil) {
		t.Error("gw-a2 not active while gw-a1, of higher priority, has never answered a probe")
	}

	// gw-a1's first answer: eligible again at once, no hold-down.
	h.round()
	h.replied(a1.Overlay, h.seq)
	h.replied(a2.Overlay, h.seq)
	if d := h.down(); len(d) != 0 {
		t.Errorf("gw-a1 answered its first probe: down %v, want none", d)
	}
	if got := carrier(); got != "gw-a1" {
		t.Errorf("%s carries the site once gw-a1 answers, want gw-a1", got)
	}
}

// A member that answered and then stops is down after misses probes, the
// view computed again between them or not.
func TestHealthDownDespiteViewUpdates(t *testing.T) {
	a := netip.MustParseAddr("100.96.0.2")
	h := &health{misses: 3, holdDown: time.Hour, changed: func() {}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		peers: map[netip.Addr]*peerHealth{}}
	targets := map[netip.Addr]string{a: "gw-a1"}
	h.setTargets(targets)
	h.round()
	h.replied(a, h.seq)
	for range h.misses + 1 {
		h.round()
		h.setTargets(targets)
	}
	if !h.down()["gw-a1"] {
		t.Errorf("gw-a1 missed %d probes in a row: not down", h.misses+1)
	}
}
