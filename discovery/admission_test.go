package discovery

import (
	"bytes"
	"crypto/ed25519"
	"net/netip"
	"testing"
	"time"
)

// A Join and a Welcome decode to what was encoded, their signatures check
// against the sender's key only, and a flipped byte anywhere breaks them.
func TestAdmissionCodec(t *testing.T) {
	m := newTestMesh(t)
	id := m.issue(t, 1, time.Now().Add(time.Hour))
	other := m.issue(t, 2, time.Now().Add(time.Hour))
	rec, err := id.Sign(Record{Name: "gw-1", Version: 1, Endpoints: []netip.AddrPort{netip.MustParseAddrPort("203.0.113.20:51820")}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Verify(m.root, rec, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []Admission{
		{Type: MsgJoin, Cookie: Cookie{1, 2}, Nonce: Nonce{3}, Record: rec},
		{Type: MsgWelcome, Nonce: Nonce{4}, Observed: netip.MustParseAddrPort("198.51.100.7:40000"), Record: rec},
		{Type: MsgWelcome, Nonce: Nonce{5}, Observed: netip.MustParseAddrPort("[2001:db8::7]:40000"), Record: rec},
	} {
		pkt := a.Encode(id.Key)
		got, err := DecodeAdmission(pkt)
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != a.Type || got.Cookie != a.Cookie || got.Nonce != a.Nonce || got.Observed != a.Observed || !bytes.Equal(got.Record, rec) {
			t.Errorf("round trip of %+v = %+v", a, got)
		}
		if !got.SignedBy(n.SigningKey) {
			t.Errorf("%v: signature does not verify", a.Type)
		}
		if got.SignedBy(other.Key.Public().(ed25519.PublicKey)) {
			t.Errorf("%v: verifies with another gateway's key", a.Type)
		}
		for i := 2; i < len(pkt); i += 7 {
			bad := bytes.Clone(pkt)
			bad[i] ^= 0x10
			if d, err := DecodeAdmission(bad); err == nil && d.SignedBy(n.SigningKey) {
				t.Fatalf("%v with byte %d flipped still verifies", a.Type, i)
			}
		}
	}
	for _, bad := range [][]byte{nil, {0xf6}, {0xf6, 9, 1}, {1, 0, 0, 0}, {0xf6, 2, 1, 2, 3}, {0xf6, 1}, make([]byte, joinFixed)} {
		if _, err := DecodeAdmission(bad); err == nil {
			t.Errorf("DecodeAdmission(%x) accepted", bad)
		}
	}
}

// A record signed by the largest identity the lab makes, in a Join or a
// Welcome, fits one control packet.
func TestAdmissionFitsOnePacket(t *testing.T) {
	m := newTestMesh(t)
	id := m.issue(t, 1, time.Now().Add(time.Hour))
	eps := []netip.AddrPort{netip.MustParseAddrPort("203.0.113.20:51820"), netip.MustParseAddrPort("198.51.100.20:51820")}
	rec, err := id.Sign(Record{Name: "gw-1", Version: uint64(time.Now().UnixNano()), Endpoints: eps, Local: eps,
		Members: []Member{{Site: "site-1", Project: "lab", Wire: netip.MustParsePrefix("10.0.1.50/32")}},
		NAT:     NATIndependent, Relay: true, ENI: "eni-0123456789abcdef0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []MsgType{MsgJoin, MsgWelcome} {
		pkt := Admission{Type: typ, Record: rec, Observed: eps[0]}.Encode(id.Key)
		t.Logf("%v with a %d-byte record: %d bytes", typ, len(rec), len(pkt))
		if len(pkt) > 1200 {
			t.Errorf("%v is %d bytes, over 1200", typ, len(pkt))
		}
	}
}

func TestCookieReplyCodec(t *testing.T) {
	c := CookieReply{Nonce: Nonce{1, 2, 3}, Cookie: Cookie{9, 8}}
	pkt := c.AppendEncode(nil)
	if len(pkt) != CookieMsgSize {
		t.Fatalf("cookie message is %d bytes, want %d", len(pkt), CookieMsgSize)
	}
	got, err := DecodeCookieReply(pkt)
	if err != nil || got != c {
		t.Fatalf("DecodeCookieReply = %+v, %v; want %+v", got, err, c)
	}
	for _, bad := range [][]byte{pkt[:len(pkt)-1], append(bytes.Clone(pkt), 0), nil} {
		if _, err := DecodeCookieReply(bad); err == nil {
			t.Errorf("DecodeCookieReply(%x) accepted", bad)
		}
	}
}

func TestProbeRoundTrip(t *testing.T) {
	ping := Probe{Type: MsgPing, Nonce: [12]byte{1, 2, 3}, To: netip.MustParseAddr("100.96.0.9")}
	pong := Probe{Type: MsgPong, Nonce: [12]byte{9}, Observed: netip.MustParseAddrPort("203.0.113.10:40123")}
	for _, p := range []Probe{ping, pong} {
		got, err := DecodeProbe(p.Encode())
		if err != nil || got != p {
			t.Errorf("DecodeProbe(Encode(%+v)) = %+v, %v", p, got, err)
		}
	}
	// Answering a Ping sends no more bytes than it got.
	if len(ping.Encode()) < len(pong.Encode()) {
		t.Errorf("a Ping is %d bytes, its Pong %d: answering amplifies", len(ping.Encode()), len(pong.Encode()))
	}
	for _, bad := range [][]byte{ping.Encode()[:10], append(pong.Encode(), 0), {0xf6, byte(MsgJoin), 'x'}} {
		if _, err := DecodeProbe(bad); err == nil {
			t.Errorf("DecodeProbe(%x) accepted", bad)
		}
	}
}

// Joins and Welcomes come from anyone on the WireGuard port: any bytes are
// refused or decoded without panicking, into parts that tile the packet.
// (Signature checks stay out: under the fuzzer's instrumentation they take
// seconds; FuzzVerifyRecord covers records, TestAdmissionCodec tampering.)
func FuzzDecodeAdmission(f *testing.F) {
	m := newTestMesh(f)
	id := m.issue(f, 1, time.Now().Add(time.Hour))
	rec, err := id.Sign(Record{Name: "gw-1", Version: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(Admission{Type: MsgJoin, Nonce: Nonce{1}, Record: rec}.Encode(id.Key))
	f.Add(Admission{Type: MsgWelcome, Observed: netip.MustParseAddrPort("1.2.3.4:5"), Record: rec}.Encode(id.Key))
	f.Add(Admission{Type: MsgWelcome, Observed: netip.MustParseAddrPort("[::ffff:1.2.3.4]:5"), Record: rec}.Encode(id.Key))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		a, err := DecodeAdmission(pkt)
		if err != nil {
			return
		}
		fixed := 2 + NonceSize + CookieSize
		if a.Type == MsgWelcome {
			fixed = 2 + NonceSize + addrSize
		}
		if len(a.Record) == 0 || fixed+len(a.Record)+sigSize != len(pkt) || !bytes.Equal(a.signed, pkt[:len(pkt)-sigSize]) || len(a.sig) != sigSize {
			t.Fatalf("%v decoded into parts that do not tile its %d bytes", a.Type, len(pkt))
		}
		if a.Observed.IsValid() && a.Observed.Addr().Is4In6() {
			t.Fatalf("observed address %v left mapped", a.Observed)
		}
	})
}

// Probes come from anyone on the WireGuard port: any bytes are refused or
// decoded without panicking, and what decodes encodes back to itself.
func FuzzDecodeProbe(f *testing.F) {
	f.Add(Probe{Type: MsgPing, Nonce: [12]byte{1}, To: netip.MustParseAddr("100.96.0.1")}.Encode())
	f.Add(Probe{Type: MsgPong, Nonce: [12]byte{2}, Observed: netip.MustParseAddrPort("203.0.113.10:51820")}.Encode())
	f.Add(Probe{Type: MsgPong, Nonce: [12]byte{2}, Observed: netip.MustParseAddrPort("[2001:db8::1]:51820")}.Encode())
	f.Fuzz(func(t *testing.T, pkt []byte) {
		p, err := DecodeProbe(pkt)
		if err != nil {
			return
		}
		if again, err := DecodeProbe(p.Encode()); err != nil || again != p {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, p)
		}
	})
}

func FuzzDecodeCookieReply(f *testing.F) {
	f.Add(CookieReply{Nonce: Nonce{1}, Cookie: Cookie{2}}.AppendEncode(nil))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		c, err := DecodeCookieReply(pkt)
		if err == nil && !bytes.Equal(c.AppendEncode(nil), pkt) {
			t.Fatalf("round trip of %x", pkt)
		}
	})
}
