package tunnel

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

// Control packets share the WireGuard socket: they reach the handler with
// the sender's address, and a WireGuard session on the same port carries on.
func TestControlPacketsShareTheSocket(t *testing.T) {
	netnstest.Run(t, func() {
		ka, _ := GenerateKey()
		kb, _ := GenerateKey()
		a := openTest(t, "vmctla", ka, 51911)
		b := openTest(t, "vmctlb", kb, 51912)
		got := make(chan netip.AddrPort, 1)
		var body []byte
		b.HandleControl(ControlFunc(func(pkt []byte, from netip.AddrPort, _ *Reply) {
			body = append([]byte(nil), pkt...) // borrowed: copied to keep
			got <- from
		}))
		pkt := []byte{ControlByte, 'h', 'i'}
		must(t, a.SendControl(netip.MustParseAddrPort("127.0.0.1:51912"), pkt))
		select {
		case from := <-got:
			if from.String() != "127.0.0.1:51911" || string(body) != string(pkt) {
				t.Errorf("got %q from %v, want %q from 127.0.0.1:51911", body, from, pkt)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("control packet not delivered")
		}

		must(t, b.SetPeers([]Peer{{PublicKey: ka.Public(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.8.0.0/24")}}}))
		must(t, a.SetPeers([]Peer{{PublicKey: kb.Public(), Endpoint: netip.MustParseAddrPort("127.0.0.1:51912"),
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/24")}, Keepalive: 1}}))
		waitHandshake(t, a)

		if err := a.SendControl(netip.MustParseAddrPort("127.0.0.1:51912"), []byte{1, 0, 0, 0}); err == nil {
			t.Error("SendControl sent a packet that looks like WireGuard's")
		}
	})
}
