package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// A gateway whose config revokes another, restarted with the revocation
// lists it saved in its state directory blanked, or cut in half, keeps the
// revoked gateway out: the broken file is set aside and the config's list
// applies. The revoked gateway, which never got the list, knocks all along.
func TestRevocationsStateFileBroken(t *testing.T) {
	l, ctx := newLab(t)
	trust, err := scenario.NewTrust(l, vpcmeshBin, "lab")
	must(t, err)
	// vpc1's join address is a gateway that is not there: vpc1 is alone
	// but for the revoked gateway, so no other gateway can hand it the
	// list after its restart.
	vpc1, err := scenario.AddGossipSite(l, vpcmeshBin, trust, scenario.GossipSiteSpec{
		Name: "vpc1", NAT: lab.NATOneToOne, Public: "203.0.113.20", LAN: "10.1.0.0/24",
		Host: "10.1.0.20", Join: "203.0.113.21:51820", Overlay: "100.96.0.1"})
	must(t, err)
	old, err := scenario.AddGossipSite(l, vpcmeshBin, trust, scenario.GossipSiteSpec{
		Name: "vpc3", NAT: lab.NATOneToOne, Public: "198.51.100.20", LAN: "10.3.0.0/24",
		Host: "10.3.0.20", Join: "203.0.113.20:51820", Overlay: "100.96.0.5"})
	must(t, err)
	t.Cleanup(func() { dumpLogsIfAsked(t, &scenario.GossipMesh{Sites: []*scenario.GossipSite{vpc1, old}}) })

	list, err := trust.Revoke(l, "lab", old.GW)
	must(t, err)
	vpc1.GW.RevocationsFile = list
	must(t, vpc1.GW.WriteConfig())
	must(t, vpc1.GW.Start(ctx))
	saved := filepath.Join(vpc1.GW.Dir, "state", "revocations.pem")
	var kept []byte
	must(t, lab.Eventually(ctx, 10*time.Second, func() (err error) {
		kept, err = os.ReadFile(saved)
		return err
	}))
	must(t, old.GW.Start(ctx))
	keptOut(t, ctx, vpc1, old)

	for _, tc := range []struct {
		name  string
		saved []byte
	}{
		{"blank", nil},
		{"truncated", kept[:len(kept)/2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, vpc1.GW.Stop())
			must(t, os.WriteFile(saved, tc.saved, 0o600))
			must(t, vpc1.GW.Start(ctx))
			keptOut(t, ctx, vpc1, old)

			var aside []string
			matches, _ := filepath.Glob(saved + ".broken-*")
			for _, m := range matches {
				if b, err := os.ReadFile(m); err == nil && bytes.Equal(b, tc.saved) {
					aside = append(aside, m)
				}
			}
			if len(aside) != 1 {
				t.Errorf("set aside: %v holding what was written, want one %s.broken-*", aside, saved)
			}
			var lines []string
			for _, line := range strings.Split(vpc1.GW.Log(), "\n") {
				if strings.Contains(line, saved) && strings.Contains(line, "set aside") {
					lines = append(lines, line)
				}
			}
			if len(lines) != 1 {
				t.Errorf("log lines saying %s was set aside: %q, want one", saved, lines)
			}
		})
	}
}

// keptOut checks that gw refuses the revoked site's gateway, which knocks
// every half second while alone, and holds nothing of it a while later:
// no peer, no member, no route, no packet through.
func keptOut(t *testing.T, ctx context.Context, gw, revoked *scenario.GossipSite) {
	t.Helper()
	must(t, waitRefused(ctx, gw.GW, "revoked", 1))
	time.Sleep(2 * time.Second) // an admission, were there one, has had its effect
	st, err := gw.GW.Status(ctx)
	must(t, err)
	for _, p := range st.Peers {
		if p.PublicKey == revoked.GW.PublicKey {
			t.Errorf("%s has a peer for the revoked %s: %+v", gw.GW.Name, revoked.GW.Name, p)
		}
	}
	if st.Gossip != nil && slices.Contains(st.Gossip.Members, revoked.GW.Name) {
		t.Errorf("%s lists the revoked %s as a member", gw.GW.Name, revoked.GW.Name)
	}
	if routes := ownedRoutes(t, ctx, gw.Gateway); slices.Contains(routes, revoked.LAN.String()) {
		t.Errorf("%s routes the revoked site's %s: %v", gw.GW.Name, revoked.LAN, routes)
	}
	if err := revoked.Host.Ping(ctx, gw.HostIP); err == nil {
		t.Errorf("the revoked site's host reaches %s's host", gw.Name)
	}
}
