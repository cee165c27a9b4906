package cert

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"testing"
)

// fuzzSeeds are valid encodings: a gateway, and a chain through an
// authority. Keys are fixed so the corpus is stable.
func fuzzSeeds(t testing.TB) (single []byte, chain []byte) {
	root := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	auth := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	gw := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	leaf := mustSign(t, gateway(gw), auth)
	return mustSign(t, gateway(gw), root).Marshal(), MarshalChain([]*Cert{leaf, mustSign(t, authority(auth), root)})
}

// sameBody compares bodies by their encoding, which is what was signed.
func sameBody(t *testing.T, a, b Body) {
	ea, _ := json.Marshal(a)
	eb, _ := json.Marshal(b)
	if !bytes.Equal(ea, eb) {
		t.Fatalf("body changed in a round trip:\n%s\n%s", ea, eb)
	}
}

func FuzzParse(f *testing.F) {
	single, chain := fuzzSeeds(f)
	f.Add(single)
	f.Add(chain)
	f.Add([]byte(`{"body":{"v":1},"sig":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		again, err := Parse(c.Marshal())
		if err != nil {
			t.Fatalf("re-marshalled certificate does not parse: %v", err)
		}
		sameBody(t, c.Body, again.Body)
		if err := c.Body.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid body: %v", err)
		}
		// Verification of arbitrary input must not panic either.
		Root{Key: make(ed25519.PublicKey, 32)}.Verify([]*Cert{c}, now)
	})
}

func FuzzParseChain(f *testing.F) {
	single, chain := fuzzSeeds(f)
	f.Add(chain)
	f.Add([]byte("[" + string(single) + "]"))
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseChain(data)
		if err != nil {
			return
		}
		again, err := ParseChain(MarshalChain(c))
		if err != nil {
			t.Fatalf("re-marshalled chain does not parse: %v", err)
		}
		if len(again) != len(c) {
			t.Fatalf("chain of %d became %d", len(c), len(again))
		}
		for i := range c {
			sameBody(t, c[i].Body, again[i].Body)
		}
		root := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
		Root{Key: pub(root)}.Verify(c, now)
	})
}

// The PEM reader shares the decoder; it must not panic on any file.
func FuzzDecodeChainPEM(f *testing.F) {
	single, _ := fuzzSeeds(f)
	c, _ := Parse(single)
	f.Add(EncodeChainPEM([]*Cert{c}))
	f.Add([]byte("-----BEGIN VPCMESH CERTIFICATE-----\n-----END VPCMESH CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		chain, err := decodeChainPEM(data)
		if err == nil && len(chain) == 0 {
			t.Fatal("no error and no certificate")
		}
	})
}
