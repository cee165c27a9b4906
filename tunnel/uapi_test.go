package tunnel

import (
	"net/netip"
	"testing"
	"time"
)

func testKey(b byte) Key {
	var k Key
	k[0] = b
	return k
}

func TestPeerDiff(t *testing.T) {
	a, b := testKey(1), testKey(2)
	ep := netip.MustParseAddrPort("203.0.113.20:51820")
	p24 := netip.MustParsePrefix("10.0.0.0/24")
	p32 := netip.MustParsePrefix("100.96.0.2/32")
	peerA := Peer{PublicKey: a, Endpoint: ep, AllowedIPs: []netip.Prefix{p24}, Keepalive: 25}
	cases := []struct {
		name     string
		old, new []Peer
		want     string
	}{
		{"add", nil, []Peer{peerA},
			"public_key=" + a.hex() + "\nendpoint=203.0.113.20:51820\npersistent_keepalive_interval=25\nallowed_ip=10.0.0.0/24\n"},
		{"unchanged says nothing", []Peer{peerA}, []Peer{peerA}, ""},
		{"remove", []Peer{peerA}, nil, "public_key=" + a.hex() + "\nremove=true\n"},
		{"edit allowed ips in place",
			[]Peer{peerA},
			[]Peer{{PublicKey: a, Endpoint: ep, AllowedIPs: []netip.Prefix{p32}, Keepalive: 25}},
			"public_key=" + a.hex() + "\nupdate_only=true\nallowed_ip=100.96.0.2/32\nallowed_ip=-10.0.0.0/24\n"},
		{"no endpoint, keepalive off",
			nil, []Peer{{PublicKey: b, AllowedIPs: []netip.Prefix{p32}}},
			"public_key=" + b.hex() + "\npersistent_keepalive_interval=0\nallowed_ip=100.96.0.2/32\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := peerDiff(byKey(c.old), byKey(c.new))
			if got != c.want {
				t.Errorf("diff:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

func byKey(ps []Peer) map[Key]Peer {
	m := map[Key]Peer{}
	for _, p := range ps {
		m[p.PublicKey] = p
	}
	return m
}

func TestParseStatus(t *testing.T) {
	a, b := testKey(1), testKey(2)
	in := "private_key=" + testKey(9).hex() + "\nlisten_port=51820\n" +
		"public_key=" + a.hex() + "\nendpoint=203.0.113.20:51820\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=5\n" +
		"tx_bytes=100\nrx_bytes=200\npersistent_keepalive_interval=25\nallowed_ip=10.0.0.0/24\nallowed_ip=100.96.0.2/32\n" +
		"public_key=" + b.hex() + "\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n"
	got, err := parseStatus(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d peers, want 2", len(got))
	}
	p := got[0]
	if p.PublicKey != a || p.Endpoint.String() != "203.0.113.20:51820" || p.RxBytes != 200 || p.TxBytes != 100 ||
		p.Keepalive != 25 || len(p.AllowedIPs) != 2 || !p.LastHandshake.Equal(time.Unix(1700000000, 5)) {
		t.Errorf("peer 0 = %+v", p)
	}
	if got[1].PublicKey != b || !got[1].LastHandshake.IsZero() || got[1].Endpoint.IsValid() {
		t.Errorf("peer 1 = %+v", got[1])
	}
	if _, err := parseStatus("public_key=zz\n"); err == nil {
		t.Error("bad key accepted")
	}
}

func TestKeyRoundTrip(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKey(k.String())
	if err != nil || back != k {
		t.Fatalf("round trip: %v %v", back, err)
	}
	// RFC 7748 test vector: Alice's private key and public key.
	priv, _ := ParseKey("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=")
	if got := priv.Public().String(); got != "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=" {
		t.Errorf("public key = %s", got)
	}
	if _, err := ParseKey("c2hvcnQ="); err == nil {
		t.Error("short key accepted")
	}
}
