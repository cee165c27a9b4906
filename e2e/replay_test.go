package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// Somebody who recorded a gateway's admission replays it after that
// gateway stopped cleanly: its old record brings nothing back (it once gave
// the stopped gateway routes for 30 s per packet). Forged Welcomes, which
// answer no Join, re-point no endpoint and start no gossip.
func TestGossipReplayChangesNothing(t *testing.T) {
	_, ctx, m, _ := startGossipMesh(t)
	vpc1, vpc3 := m.Site("vpc1"), m.Site("vpc3")
	chain, err := cert.ReadChainFile(filepath.Join(vpc3.GW.Dir, "gateway.crt"))
	must(t, err)
	key, err := cert.ReadPrivateKeyFile(filepath.Join(vpc3.GW.Dir, "signing.key"))
	must(t, err)
	id := &discovery.Identity{Chain: chain, Key: key}
	// A record of vpc3-gw from before its stop: any version below the one
	// its leaving record carries.
	old, err := id.Sign(discovery.Record{Name: "vpc3-gw", Version: 1, Endpoints: []netip.AddrPort{netip.MustParseAddrPort(vpc3.PublicIP + ":51820")}})
	must(t, err)

	must(t, vpc3.GW.Stop())
	_, err = routeGone(ctx, m, vpc3, vpc3.LAN.String(), 10*time.Second)
	must(t, err)
	// The replay, with a cookie for the address it comes from, as an
	// attacker on vpc3's old address would get one.
	_, _, err = knock(vpc3.Gateway, vpc1.PublicIP+":51820", old, key)
	must(t, err)
	must(t, waitRefused(ctx, vpc1.GW, discovery.RefusedStale, 1))
	if slices.Contains(ownedRoutes(t, ctx, vpc1.Gateway), vpc3.LAN.String()) {
		t.Errorf("vpc1-gw routes the stopped vpc3's LAN again after the replay")
	}
	st, err := vpc1.GW.Status(ctx)
	must(t, err)
	for _, p := range st.Peers {
		if p.Name == "vpc3-gw" && !p.Standby {
			t.Errorf("vpc1-gw has vpc3-gw as a peer again: %+v", p)
		}
	}

	// Forged Welcomes with vpc2's real record, naming an address of the
	// attacker's choosing, to a public and a NATed gateway's address.
	vpc2 := m.Site("vpc2")
	chain2, err := cert.ReadChainFile(filepath.Join(vpc2.GW.Dir, "gateway.crt"))
	must(t, err)
	key2, err := cert.ReadPrivateKeyFile(filepath.Join(vpc2.GW.Dir, "signing.key"))
	must(t, err)
	rec2, err := (&discovery.Identity{Chain: chain2, Key: key2}).Sign(discovery.Record{Name: "vpc2-gw", Version: uint64(time.Now().UnixNano())})
	must(t, err)
	before := peerEndpoints(t, ctx, vpc1.GW)
	dropped := st.Gossip.Dropped["unexpected"]
	const forged = 50
	must(t, vpc3.Gateway.Do(func() error {
		c, err := net.Dial("udp4", vpc1.PublicIP+":51820")
		if err != nil {
			return err
		}
		defer c.Close()
		for i := range forged {
			w := discovery.Admission{Type: discovery.MsgWelcome, Nonce: discovery.Nonce{byte(i)},
				Observed: netip.MustParseAddrPort(fmt.Sprintf("203.0.113.99:%d", 1000+i)), Record: rec2}
			if _, err := c.Write(w.Encode(key2)); err != nil {
				return err
			}
		}
		return nil
	}))
	must(t, lab.Eventually(ctx, 5*time.Second, func() error {
		st, err := vpc1.GW.Status(ctx)
		if err != nil {
			return err
		}
		if got := st.Gossip.Dropped["unexpected"] - dropped; got < forged {
			return fmt.Errorf("vpc1-gw dropped %d forged Welcomes as unexpected, want %d", got, forged)
		}
		return nil
	}))
	if after := peerEndpoints(t, ctx, vpc1.GW); !maps.Equal(after, before) {
		t.Errorf("forged Welcomes changed vpc1-gw's endpoints: %v, were %v", after, before)
	}
}

// peerEndpoints is each peer's endpoint as g's status shows it.
func peerEndpoints(t *testing.T, ctx context.Context, g *scenario.Gateway) map[string]string {
	t.Helper()
	st, err := g.Status(ctx)
	must(t, err)
	out := map[string]string{}
	for _, p := range st.Peers {
		out[p.Name] = p.Endpoint
	}
	return out
}
