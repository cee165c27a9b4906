package discovery

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestRecordSignVerify(t *testing.T) {
	m := newTestMesh(t)
	id := m.issue(t, 1, time.Now().Add(time.Hour))
	rec := Record{Name: "gw-1", Version: 7, Endpoints: []netip.AddrPort{netip.MustParseAddrPort("203.0.113.20:51820")},
		Members: []Member{{Site: "site-1", Project: "lab", Wire: netip.MustParsePrefix("10.0.1.50/32")}}}
	data, err := id.Sign(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 1100 {
		t.Errorf("record is %d bytes; it must fit one control packet with room", len(data))
	}
	n, err := Verify(m.root, data, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "gw-1" || n.Version != 7 || n.Overlay.String() != "100.96.0.1" || n.Endpoints[0] != rec.Endpoints[0] || len(n.Sites) != 1 {
		t.Errorf("verified node = %+v", n)
	}
}

func TestRecordRefused(t *testing.T) {
	m := newTestMesh(t)
	other := newTestMesh(t)
	good := m.issue(t, 1, time.Now().Add(time.Hour))
	sign := func(id *Identity, rec Record) []byte {
		t.Helper()
		b, err := id.Sign(rec)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := sign(good, Record{Name: "gw-1", Version: 1})
	tampered := append([]byte(nil), valid...)
	tampered[len(tampered)-70] ^= 1 // inside the body
	stranger := sign(other.issue(t, 2, time.Now().Add(time.Hour)), Record{Name: "gw-2", Version: 1})
	expired := sign(m.issue(t, 3, time.Now().Add(time.Hour)), Record{Name: "gw-3", Version: 1})
	outside := sign(good, Record{Name: "gw-1", Version: 2, Members: []Member{{Site: "site-1", Project: "lab", Wire: netip.MustParsePrefix("10.9.9.9/32")}}})
	// Its own hosts, in a project its certificate gives the site no part in:
	// they would use that project's routes everywhere.
	otherProject := sign(good, Record{Name: "gw-1", Version: 3, Members: []Member{{Site: "site-1", Project: "alpha", Wire: netip.MustParsePrefix("10.0.1.50/32")}}})
	relay := sign(good, Record{Name: "gw-1", Version: 4, Relay: true})
	// DNS zones for an export the certificate does not have, or no names.
	lab := netip.MustParsePrefix("10.0.1.0/24")
	zonesElsewhere := sign(good, Record{Name: "gw-1", Version: 5, Zones: []Zones{{Site: "site-1", Project: "beta", Wire: lab, Names: []string{"corp.internal"}}}})
	zonesBadName := sign(good, Record{Name: "gw-1", Version: 6, Zones: []Zones{{Site: "site-1", Project: "lab", Wire: lab, Names: []string{"corp..internal"}}}})
	zonesTooMany := sign(good, Record{Name: "gw-1", Version: 7, Zones: []Zones{{Site: "site-1", Project: "lab", Wire: lab, Names: make([]string, 17)}}})
	if n, err := Verify(m.root, sign(good, Record{Name: "gw-1", Version: 8, Zones: []Zones{{Site: "site-1", Project: "lab", Wire: lab, Names: []string{"corp.internal"}}}}), time.Now()); err != nil || len(n.Zones) != 1 {
		t.Fatalf("zones of its own export refused: %v", err)
	}

	cases := []struct {
		name   string
		data   []byte
		now    time.Time
		reason string
	}{
		{"another mesh's root", stranger, time.Now(), RefusedUntrusted},
		{"expired certificate", expired, time.Now().Add(2 * time.Hour), RefusedExpired},
		{"tampered record", tampered, time.Now(), RefusedRecordSig},
		{"member outside the certified site", outside, time.Now(), RefusedConstraint},
		{"member in a project the site is not in", otherProject, time.Now(), RefusedConstraint},
		{"relay role the certificate does not grant", relay, time.Now(), RefusedConstraint},
		{"DNS zones of an export it does not have", zonesElsewhere, time.Now(), RefusedConstraint},
		{"DNS zone that is no domain name", zonesBadName, time.Now(), RefusedMalformed},
		{"17 DNS zones", zonesTooMany, time.Now(), RefusedMalformed},
		{"truncated", valid[:len(valid)-1], time.Now(), RefusedMalformed},
		{"empty", nil, time.Now(), RefusedMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := Verify(m.root, c.data, c.now)
			var re *RefusedError
			if !errors.As(err, &re) || re.Reason != c.reason {
				t.Fatalf("Verify = %v, %v; want refused for %s", n, err, c.reason)
			}
		})
	}
	// A record for another name than the certificate's is not even signed.
	if _, err := good.Sign(Record{Name: "gw-9"}); err == nil {
		t.Error("signed a record for another gateway's name")
	}
}

// The record decoder takes any bytes from any member: it must refuse
// without panicking, and what it accepts must be what was signed.
func FuzzVerifyRecord(f *testing.F) {
	m := newTestMesh(f)
	id := m.issue(f, 1, time.Now().Add(time.Hour))
	rec, err := id.Sign(Record{Name: "gw-1", Version: 7, Members: []Member{{Site: "site-1", Project: "lab", Wire: netip.MustParsePrefix("10.0.1.5/32")}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	f.Add(rec[:len(rec)/2])
	now := time.Now()
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := Verify(m.root, data, now)
		if err != nil {
			var re *RefusedError
			if !errors.As(err, &re) || re.Reason == "" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		if n.Name != "gw-1" || string(n.Encoded) != string(data) {
			t.Fatalf("accepted %q with encoding %d bytes for %d bytes of input", n.Name, len(n.Encoded), len(data))
		}
		if name, version, ok := peek(data); !ok || name != n.Name || version != n.Version {
			t.Fatalf("peek says %q v%d, the record %q v%d", name, version, n.Name, n.Version)
		}
	})
}

// Push/pull state arrives from any member as length-prefixed records and
// digests.
func FuzzMergeRemoteState(f *testing.F) {
	m := newTestMesh(f)
	id := m.issue(f, 1, time.Now().Add(time.Hour))
	rec, err := id.Sign(Record{Name: "gw-1", Version: 1})
	if err != nil {
		f.Fatal(err)
	}
	self := m.issue(f, 2, time.Now().Add(time.Hour))
	state := binary.BigEndian.AppendUint32(nil, uint32(1+len(rec)))
	f.Add(append(append(state, msgRecord), rec...))
	f.Add([]byte{0, 0, 0, 9, 1})
	digest := append([]byte{msgDigest}, "gw-2\x00\x04gw-1\x00\x00\x00\x00\x00\x00\x00\x07"...)
	f.Add(append(binary.BigEndian.AppendUint32(nil, uint32(len(digest))), digest...))
	f.Fuzz(func(t *testing.T, buf []byte) {
		g := &Gossip{cfg: GossipConfig{Identity: self, Root: m.root, Now: time.Now, Log: slog.New(slog.DiscardHandler)}, name: "self",
			records: map[string]*Node{}, refused: map[string]uint64{}}
		g.queue = &memberlist.TransmitLimitedQueue{NumNodes: func() int { return 1 }}
		(*delegate)(g).MergeRemoteState(buf, false)
		for name, n := range g.records {
			if name != "gw-1" || n.Name != name {
				t.Fatalf("holds %q as %q", n.Name, name)
			}
		}
	})
}

// One root could sign gateways of two meshes; a gateway takes records of
// its own mesh only.
func TestGossipRefusesAnotherMeshUnderTheSameRoot(t *testing.T) {
	m := newTestMesh(t)
	g := &Gossip{cfg: GossipConfig{Identity: m.issue(t, 1, time.Now().Add(time.Hour)), Root: m.root, Now: time.Now}}
	for _, c := range []struct {
		mesh, want string
	}{{"lab", ""}, {"staging", RefusedWrongMesh}} {
		rec, err := m.issueIn(t, c.mesh, 2, time.Now().Add(time.Hour)).Sign(Record{Name: "gw-2", Version: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = g.Verify(rec)
		var re *RefusedError
		switch {
		case c.want == "" && err != nil:
			t.Errorf("mesh %q: %v", c.mesh, err)
		case c.want != "" && (!errors.As(err, &re) || re.Reason != c.want):
			t.Errorf("mesh %q: %v, want refused as %s", c.mesh, err, c.want)
		}
	}
}
