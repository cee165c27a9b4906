package mesh

import (
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
	h := newLiveness(200*time.Millisecond, misses, time.Hour)
	now := time.Unix(1e9, 0)
	targets := map[netip.Addr]probeTarget{a1.Overlay: {a1.Name, true}, a2.Overlay: {a2.Name, true}}
	h.setTargets(targets, now)

	carrier := func() string {
		r := fromView(cfg, View{Nodes: []*discovery.Node{a1, a2}, Down: h.downNames()})
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
	for range misses + 2 {
		now = now.Add(h.interval)
		_, seq, _ := h.round(now, nil)
		h.reply(a2.Overlay, seq, now.Add(time.Millisecond))
		h.setTargets(targets, now)
	}
	if d := h.downNames(); !d["gw-a1"] || d["gw-a2"] {
		t.Errorf("after %d probes, gw-a1 never answering, gw-a2 every time: down %v, want gw-a1 alone", misses+1, d)
	}
	if got := carrier(); got != "gw-a2" {
		t.Errorf("%s carries the site, want gw-a2: gw-a1 has never answered a probe", got)
	}
	if !activeForSites(self, View{Nodes: []*discovery.Node{a1}, Down: h.downNames()}, time.Time{}, nil) {
		t.Error("gw-a2 not active while gw-a1, of higher priority, has never answered a probe")
	}

	// gw-a1's first answer: eligible again at once, no hold-down.
	now = now.Add(h.interval)
	_, seq, _ := h.round(now, nil)
	h.reply(a1.Overlay, seq, now.Add(time.Millisecond))
	h.reply(a2.Overlay, seq, now.Add(time.Millisecond))
	if d := h.downNames(); len(d) != 0 {
		t.Errorf("gw-a1 answered its first probe: down %v, want none", d)
	}
	if got := carrier(); got != "gw-a1" {
		t.Errorf("%s carries the site once gw-a1 answers, want gw-a1", got)
	}
}

// A member that answered and then stops is down after misses probes, the
// view computed again between them or not: a busy mesh must not keep a
// silent member from ever being down.
func TestHealthDownDespiteViewUpdates(t *testing.T) {
	a := netip.MustParseAddr("100.96.0.2")
	h := newLiveness(200*time.Millisecond, 3, time.Hour)
	now := time.Unix(1e9, 0)
	targets := map[netip.Addr]probeTarget{a: {"gw-a1", true}}
	h.setTargets(targets, now)
	now = now.Add(h.interval)
	_, seq, _ := h.round(now, nil)
	h.reply(a, seq, now.Add(time.Millisecond))
	for range h.misses + 1 {
		now = now.Add(h.interval)
		h.round(now, nil)
		h.setTargets(targets, now)
	}
	if !h.downNames()["gw-a1"] {
		t.Errorf("gw-a1 missed %d probes in a row, the view recomputed between them: not down", h.misses+1)
	}
}
