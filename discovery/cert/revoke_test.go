package cert

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

func TestRevocations(t *testing.T) {
	pub, root, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	gw := func(name string) *Cert {
		t.Helper()
		spub, _, _ := ed25519.GenerateKey(rand.Reader)
		c, err := Sign(Body{Version: 1, Kind: KindGateway, Mesh: "lab", Name: name, WireGuardKey: "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=",
			SigningKey: spub, Overlay: netip.MustParseAddr("100.96.0.1"), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, root)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := gw("gw-a"), gw("gw-b")
	list, err := SignRevocations(RevocationBody{Mesh: "lab", Serial: 1, Issued: time.Now(), Revoked: []string{Fingerprint(b)}}, root)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "revoked.pem")
	if err := WriteRevocationsFile(path, list); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRevocationsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := Root{Key: pub}
	if err := r.VerifyRevocations(got, "lab"); err != nil {
		t.Fatal(err)
	}
	if got.Revokes([]*Cert{a}) || !got.Revokes([]*Cert{b}) {
		t.Errorf("revokes gw-a %v, gw-b %v; want only gw-b", got.Revokes([]*Cert{a}), got.Revokes([]*Cert{b}))
	}
	if err := r.VerifyRevocations(got, "prod"); !errors.Is(err, ErrConstraint) {
		t.Errorf("for another mesh: %v", err)
	}
	forged, _ := SignRevocations(RevocationBody{Mesh: "lab", Serial: 9, Revoked: []string{Fingerprint(a)}}, other)
	if err := r.VerifyRevocations(forged, "lab"); !errors.Is(err, ErrUnknownIssuer) {
		t.Errorf("a list signed by another key: %v", err)
	}
	tampered := *got
	tampered.Raw = []byte(string(got.Raw[:len(got.Raw)-2]) + "\"]}")
	if _, err := ParseRevocations(tampered.Marshal()); err == nil {
		if err := r.VerifyRevocations(&tampered, "lab"); !errors.Is(err, ErrBadSignature) {
			t.Errorf("an edited list verified: %v", err)
		}
	}
}

func FuzzParseRevocations(f *testing.F) {
	_, root, _ := ed25519.GenerateKey(rand.Reader)
	list, _ := SignRevocations(RevocationBody{Mesh: "lab", Serial: 3, Revoked: []string{"00112233445566778899aabbccddeeff"}}, root)
	f.Add(list.Marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRevocations(data)
		if err != nil {
			return
		}
		if again, err := ParseRevocations(r.Marshal()); err != nil || again.Body.Serial != r.Body.Serial {
			t.Fatalf("does not round trip: %v", err)
		}
	})
}

// A project authority's list verifies with the root key alone and revokes
// the gateways that authority signed, and no others, whatever it names.
func TestAuthorityRevocations(t *testing.T) {
	rootKey, authKey, otherRoot := newKey(t), newKey(t), newKey(t)
	root := Root{Key: pub(rootKey)}
	auth := mustSign(t, authority(authKey), rootKey)
	mine := mustSign(t, gateway(newKey(t)), authKey)
	notMine := mustSign(t, gateway(newKey(t)), rootKey)
	list, err := SignAuthorityRevocations(RevocationBody{Mesh: "acme", Serial: 1, Issued: now,
		Revoked: []string{Fingerprint(mine), Fingerprint(notMine)}}, auth, authKey)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseRevocations(list.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := root.VerifyRevocationsAt(again, "acme", now); err != nil {
		t.Fatalf("the authority's list does not verify: %v", err)
	}
	if !again.Revokes([]*Cert{mine, auth}) {
		t.Error("the authority's own gateway is not revoked")
	}
	if again.Revokes([]*Cert{notMine}) {
		t.Error("a gateway the root signed is revoked by an authority's list")
	}

	// The authority's certificate must come from this mesh's root and be
	// valid; the list must be signed by its key.
	foreign := mustSign(t, authority(authKey), otherRoot)
	forged, _ := SignAuthorityRevocations(RevocationBody{Mesh: "acme", Serial: 2, Revoked: []string{Fingerprint(mine)}}, foreign, authKey)
	if err := root.VerifyRevocationsAt(forged, "acme", now); !errors.Is(err, ErrUnknownIssuer) {
		t.Errorf("authority of another root: %v, want ErrUnknownIssuer", err)
	}
	if err := root.VerifyRevocationsAt(list, "acme", now.Add(3*365*24*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("list of an expired authority: %v, want ErrExpired", err)
	}
	if _, err := SignAuthorityRevocations(RevocationBody{Mesh: "acme", Serial: 1}, auth, newKey(t)); err == nil {
		t.Error("signed with a key the authority certificate does not certify")
	}
	tampered := *list
	tampered.Body.Authority = mustSign(t, authority(newKey(t)), rootKey).Marshal()
	if err := root.VerifyRevocationsAt(&tampered, "acme", now); err == nil {
		t.Error("a list whose authority was swapped verifies")
	}
}
