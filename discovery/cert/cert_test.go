package cert

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// gateway is the body of vpc-a-gw: VPC A exported to alpha under a mapped
// wire prefix.
func gateway(signing ed25519.PrivateKey) Body {
	return Body{
		Version:      1,
		Kind:         KindGateway,
		Mesh:         "acme",
		Name:         "vpc-a-gw",
		WireGuardKey: "YOG00/4b9tSf6hPmxZ4vGrUrKxknhhPJx24OzIM+8Xc=",
		SigningKey:   pub(signing),
		Overlay:      netip.MustParseAddr("100.96.0.2"),
		Sites: []Site{{
			Name:     "vpc-a",
			CIDRs:    []netip.Prefix{pfx("10.0.0.0/24")},
			Priority: 200,
			Exports:  []Export{{Project: "alpha", CIDR: pfx("10.0.0.0/24"), Wire: pfx("100.100.1.0/24")}},
		}},
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(365 * 24 * time.Hour),
	}
}

// authority is project alpha's authority: VPCs in 10.0.0.0/16, wire
// prefixes in 100.100.0.0/20, gateways and sites named vpc-*, overlay
// addresses in 100.96.0.0/28.
func authority(signing ed25519.PrivateKey) Body {
	return Body{
		Version:      1,
		Kind:         KindAuthority,
		Mesh:         "acme",
		Name:         "alpha-ca",
		SigningKey:   pub(signing),
		Projects:     []string{"alpha"},
		Prefixes:     []netip.Prefix{pfx("10.0.0.0/16"), pfx("100.100.0.0/20")},
		NamePrefixes: []string{"vpc-"},
		SitePrefixes: []string{"vpc-"},
		Overlays:     []netip.Prefix{pfx("100.96.0.0/28")},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(2 * 365 * 24 * time.Hour),
	}
}

func mustSign(t testing.TB, b Body, issuer ed25519.PrivateKey) *Cert {
	t.Helper()
	c, err := Sign(b, issuer)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSignParseVerify(t *testing.T) {
	root, gwKey := newKey(t), newKey(t)
	c := mustSign(t, gateway(gwKey), root)
	if c.Body.Issuer != KeyID(pub(root)) || len(c.Body.Issuer) != 32 {
		t.Errorf("issuer %q, want the root's key id %q", c.Body.Issuer, KeyID(pub(root)))
	}
	parsed, err := Parse(c.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(parsed.Raw, c.Raw) || !bytes.Equal(parsed.Signature, c.Signature) {
		t.Error("Parse(Marshal()) changed the certificate")
	}
	leaf, err := Root{Key: pub(root)}.Verify([]*Cert{parsed}, now)
	if err != nil {
		t.Fatal(err)
	}
	b := leaf.Body
	if b.Name != "vpc-a-gw" || b.Mesh != "acme" || b.Overlay.String() != "100.96.0.2" ||
		b.Sites[0].Priority != 200 || b.Sites[0].Exports[0].Wire != pfx("100.100.1.0/24") ||
		!b.SigningKey.Equal(pub(gwKey)) {
		t.Errorf("verified body lost fields: %+v", b)
	}
	if !b.NotAfter.Equal(now.Add(365*24*time.Hour)) || b.NotAfter.Location() != time.UTC {
		t.Errorf("not_after %v", b.NotAfter)
	}
}

func TestSignRefusesInvalidBody(t *testing.T) {
	b := gateway(newKey(t))
	b.Sites[0].Exports[0].Wire = pfx("100.100.1.0/25")
	_, err := Sign(b, newKey(t))
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), `gateway "vpc-a-gw"`) ||
		!strings.Contains(err.Error(), "sites[0].exports[0].wire: length /25 differs from cidr 10.0.0.0/24") {
		t.Errorf("got %v", err)
	}
}

// Every refusal wraps its sentinel and names the certificate at fault.
func TestVerifyRefuses(t *testing.T) {
	root, other, gwKey, authKey := newKey(t), newKey(t), newKey(t), newKey(t)
	auth := mustSign(t, authority(authKey), root)
	underAuth := func(edit func(*Body)) []*Cert {
		b := gateway(gwKey)
		edit(&b)
		return []*Cert{mustSign(t, b, authKey), auth}
	}
	cases := []struct {
		name  string
		chain func() []*Cert
		want  error
		msg   []string // parts of the message
	}{
		{"body altered on the wire", func() []*Cert {
			enc := bytes.Replace(mustSign(t, gateway(gwKey), root).Marshal(), []byte(`"100.96.0.2"`), []byte(`"100.96.0.9"`), 1)
			c, err := Parse(enc)
			if err != nil {
				t.Fatal(err)
			}
			return []*Cert{c}
		}, ErrBadSignature, []string{`gateway "vpc-a-gw" (chain[0])`, "does not verify with the key of the mesh root"}},
		{"signature altered", func() []*Cert {
			c := mustSign(t, gateway(gwKey), root)
			c.Signature[7] ^= 1
			return []*Cert{c}
		}, ErrBadSignature, []string{`gateway "vpc-a-gw"`}},
		{"body changed after signing", func() []*Cert {
			c := mustSign(t, gateway(gwKey), root)
			c.Body.Sites[0].Priority = 1000
			return []*Cert{c}
		}, ErrMalformed, []string{`gateway "vpc-a-gw"`, "differs from its signed encoding"}},
		{"another mesh's root", func() []*Cert {
			return []*Cert{mustSign(t, gateway(gwKey), other)}
		}, ErrUnknownIssuer, []string{`gateway "vpc-a-gw"`, KeyID(pub(other)), KeyID(pub(root)), "another mesh"}},
		{"expired", func() []*Cert {
			b := gateway(gwKey)
			b.NotBefore, b.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
			return []*Cert{mustSign(t, b, root)}
		}, ErrExpired, []string{`gateway "vpc-a-gw"`, "expired 2026-02-28T12:00:00Z (now 2026-03-01T12:00:00Z)"}},
		{"not yet valid", func() []*Cert {
			b := gateway(gwKey)
			b.NotBefore = now.Add(time.Hour)
			return []*Cert{mustSign(t, b, root)}
		}, ErrExpired, []string{`gateway "vpc-a-gw"`, "not valid before 2026-03-01T13:00:00Z"}},
		{"empty chain", func() []*Cert { return nil }, ErrMalformed, []string{"chain of 0"}},
		{"gateway signed by an authority the root did not sign", func() []*Cert {
			return underAuth(func(*Body) {})[:1]
		}, ErrUnknownIssuer, []string{`gateway "vpc-a-gw"`, "the mesh root has key"}},
		{"authority of another mesh's root", func() []*Cert {
			return []*Cert{mustSign(t, gateway(gwKey), authKey), mustSign(t, authority(authKey), other)}
		}, ErrUnknownIssuer, []string{`authority "alpha-ca" (chain[1])`}},
		{"gateway signed by a key other than its authority's", func() []*Cert {
			return []*Cert{mustSign(t, gateway(gwKey), other), auth}
		}, ErrUnknownIssuer, []string{`gateway "vpc-a-gw" (chain[0])`, `; authority "alpha-ca" (chain[1]) has key`}},
		{"expired authority", func() []*Cert {
			b := authority(authKey)
			b.NotBefore, b.NotAfter = now.Add(-48*time.Hour), now.Add(-time.Hour)
			return []*Cert{mustSign(t, gateway(gwKey), authKey), mustSign(t, b, root)}
		}, ErrExpired, []string{`authority "alpha-ca" (chain[1])`, "expired"}},
		{"export to another project", func() []*Cert {
			return underAuth(func(b *Body) { b.Sites[0].Exports[0].Project = "beta" })
		}, ErrConstraint, []string{`gateway "vpc-a-gw" (chain[0])`, `project "beta" is not one of [alpha]`, `authority "alpha-ca"`}},
		{"export wire outside the authority's prefixes", func() []*Cert {
			return underAuth(func(b *Body) { b.Sites[0].Exports[0].Wire = pfx("100.100.64.0/24") })
		}, ErrConstraint, []string{`gateway "vpc-a-gw"`, "export wire 100.100.64.0/24 is outside the wire prefixes [10.0.0.0/16 100.100.0.0/20]"}},
		// An authority with wire prefixes of its own: its real prefixes are
		// no wire prefix, even unmapped.
		{"export wire among the real prefixes of an authority with wires", func() []*Cert {
			b := authority(authKey)
			b.Prefixes, b.Wires = []netip.Prefix{pfx("10.0.0.0/16")}, []netip.Prefix{pfx("100.100.0.0/20")}
			gw := gateway(gwKey)
			gw.Sites[0].Exports[0].Wire = gw.Sites[0].Exports[0].CIDR
			return []*Cert{mustSign(t, gw, authKey), mustSign(t, b, root)}
		}, ErrConstraint, []string{"export wire 10.0.0.0/24 is outside the wire prefixes [100.100.0.0/20]"}},
		{"sub-authority with wires outside its authority's", func() []*Cert {
			b := authority(authKey)
			b.Prefixes, b.Wires = []netip.Prefix{pfx("10.0.0.0/16")}, []netip.Prefix{pfx("100.100.0.0/20")}
			subKey := newKey(t)
			sub := authority(subKey)
			sub.Name, sub.Prefixes, sub.Wires = "sub", []netip.Prefix{pfx("10.0.0.0/16")}, []netip.Prefix{pfx("100.100.16.0/24")}
			return []*Cert{mustSign(t, gateway(gwKey), subKey), mustSign(t, sub, authKey), mustSign(t, b, root)}
		}, ErrConstraint, []string{`authority "sub" (chain[1])`, "wire prefix 100.100.16.0/24 is outside the wire prefixes [100.100.0.0/20]"}},
		{"site outside the authority's prefixes", func() []*Cert {
			return underAuth(func(b *Body) {
				b.Sites[0].CIDRs = []netip.Prefix{pfx("10.1.0.0/24")}
				b.Sites[0].Exports = nil
			})
		}, ErrConstraint, []string{`gateway "vpc-a-gw"`, "site vpc-a cidr 10.1.0.0/24 is outside"}},
		{"sub-authority with more projects", func() []*Cert {
			subKey := newKey(t)
			sub := authority(subKey)
			sub.Name, sub.Projects = "sub", []string{"alpha", "beta"}
			return []*Cert{mustSign(t, gateway(gwKey), subKey), mustSign(t, sub, authKey), auth}
		}, ErrConstraint, []string{`authority "sub" (chain[1])`, `project "beta"`}},
		{"gateway certificate used as an authority", func() []*Cert {
			otherGW := gateway(authKey)
			otherGW.Name = "vpc-b-gw"
			return []*Cert{mustSign(t, gateway(gwKey), authKey), mustSign(t, otherGW, root)}
		}, ErrConstraint, []string{`gateway "vpc-a-gw" (chain[0])`, `gateway "vpc-b-gw" (chain[1]), which may not sign`}},
		// An authority's gateways cannot take another's identity: its name,
		// overlay address or HA site, or the relay role, or members in a
		// project it was not given.
		{"name outside the authority's", func() []*Cert {
			return underAuth(func(b *Body) { b.Name = "gw-1" })
		}, ErrConstraint, []string{`name "gw-1" does not start with any of ["vpc-"]`}},
		{"overlay outside the authority's", func() []*Cert {
			return underAuth(func(b *Body) { b.Overlay = netip.MustParseAddr("100.96.0.200") })
		}, ErrConstraint, []string{"overlay address 100.96.0.200 is outside [100.96.0.0/28]"}},
		{"site outside the authority's", func() []*Cert {
			return underAuth(func(b *Body) { b.Sites[0].Name = "hq" })
		}, ErrConstraint, []string{`site "hq" does not start with any of ["vpc-"]`}},
		{"members of another project", func() []*Cert {
			return underAuth(func(b *Body) { b.Sites[0].Members = []string{"beta"} })
		}, ErrConstraint, []string{`project "beta" is not one of [alpha]`}},
		{"relay not granted", func() []*Cert {
			return underAuth(func(b *Body) { b.Relay = true })
		}, ErrConstraint, []string{"the relay role is not granted"}},
		{"authority without an identity grant", func() []*Cert {
			b := authority(authKey)
			b.NamePrefixes, b.SitePrefixes, b.Overlays = nil, nil, nil
			return []*Cert{mustSign(t, gateway(gwKey), authKey), mustSign(t, b, root)}
		}, ErrConstraint, []string{`name "vpc-a-gw" does not start with any of []`}},
		{"sub-authority with a wider name prefix", func() []*Cert {
			subKey := newKey(t)
			sub := authority(subKey)
			sub.Name, sub.NamePrefixes = "sub", []string{"v"}
			return []*Cert{mustSign(t, gateway(gwKey), subKey), mustSign(t, sub, authKey), auth}
		}, ErrConstraint, []string{`authority "sub" (chain[1])`, `name prefix "v" does not start with any of ["vpc-"]`}},
		{"authority of another mesh name", func() []*Cert {
			return underAuth(func(b *Body) { b.Mesh = "globex" })
		}, ErrConstraint, []string{`gateway "vpc-a-gw"`, `mesh "globex"`, `"acme"`}},
	}
	r := Root{Key: pub(root)}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			leaf, err := r.Verify(c.chain(), now)
			if leaf != nil || !errors.Is(err, c.want) {
				t.Fatalf("got %v, %v; want %v", leaf, err, c.want)
			}
			for _, m := range c.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message lacks %q:\n%v", m, err)
				}
			}
			for _, s := range []error{ErrUnknownIssuer, ErrBadSignature, ErrExpired, ErrConstraint, ErrMalformed} {
				if s != c.want && errors.Is(err, s) {
					t.Errorf("also wraps %v: %v", s, err)
				}
			}
		})
	}
}

// Two projects whose VPCs use one CIDR, each with its own authority: the
// real prefixes overlap, the wire prefixes do not, and each authority's
// gateway verifies.
func TestVerifyAuthoritiesSharingARealPrefix(t *testing.T) {
	root := newKey(t)
	r := Root{Key: pub(root)}
	for i, c := range []struct{ project, wire, export string }{{"alpha", "100.100.0.0/20", "100.100.1.0/24"}, {"beta", "100.100.16.0/20", "100.100.17.0/24"}} {
		authKey, gwKey := newKey(t), newKey(t)
		a := authority(authKey)
		a.Name, a.Projects = c.project+"-ca", []string{c.project}
		a.Prefixes, a.Wires = []netip.Prefix{pfx("10.0.0.0/16")}, []netip.Prefix{pfx(c.wire)}
		gw := gateway(gwKey)
		gw.Name, gw.Overlay = fmt.Sprintf("vpc-%d-gw", i), netip.AddrFrom4([4]byte{100, 96, 0, byte(2 + i)})
		gw.Sites[0].Name = fmt.Sprintf("vpc-%d", i)
		gw.Sites[0].Exports[0].Project, gw.Sites[0].Exports[0].Wire = c.project, pfx(c.export)
		if _, err := r.Verify([]*Cert{mustSign(t, gw, authKey), mustSign(t, a, root)}, now); err != nil {
			t.Errorf("%s's gateway exporting 10.0.0.0/24 as %s: %v", c.project, c.export, err)
		}
	}
}

func TestVerifyAuthorityChain(t *testing.T) {
	root, authKey, gwKey := newKey(t), newKey(t), newKey(t)
	chain := []*Cert{mustSign(t, gateway(gwKey), authKey), mustSign(t, authority(authKey), root)}
	parsed, err := ParseChain(MarshalChain(chain))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := Root{Key: pub(root)}.Verify(parsed, now)
	if err != nil || leaf.Body.Name != "vpc-a-gw" {
		t.Fatalf("got %v, %v", leaf, err)
	}
	// An authority alone verifies too; the caller checks the leaf's kind.
	leaf, err = Root{Key: pub(root)}.Verify(parsed[1:], now)
	if err != nil || leaf.Body.Kind != KindAuthority {
		t.Fatalf("authority alone: %v, %v", leaf, err)
	}
}

func TestValidate(t *testing.T) {
	key := newKey(t)
	cases := []struct {
		name string
		edit func(*Body)
		msg  string // empty: valid
	}{
		{"valid", func(*Body) {}, ""},
		{"unmapped export", func(b *Body) { b.Sites[0].Exports[0].Wire = b.Sites[0].Exports[0].CIDR }, ""},
		{"version", func(b *Body) { b.Version = 2 }, "v: version 2"},
		{"kind", func(b *Body) { b.Kind = "root" }, `kind: "root" is neither`},
		{"name", func(b *Body) { b.Name = "VPC_A" }, `name: "VPC_A" is not a valid name`},
		{"mesh", func(b *Body) { b.Mesh = "" }, `mesh: "" is not a valid name`},
		{"signing key size", func(b *Body) { b.SigningKey = b.SigningKey[:31] }, "signing_key: 31 bytes"},
		{"wireguard key", func(b *Body) { b.WireGuardKey = "short" }, `wg_key: "short" is not a WireGuard public key`},
		{"overlay missing", func(b *Body) { b.Overlay = netip.Addr{} }, "overlay: required for a gateway"},
		{"overlay IPv6", func(b *Body) { b.Overlay = netip.MustParseAddr("fd00::1") }, "overlay: fd00::1 is not an IPv4 address"},
		{"window reversed", func(b *Body) { b.NotAfter = b.NotBefore }, "not_after: 2026-03-01T11:00:00Z is not after not_before"},
		{"window unset", func(b *Body) { b.NotBefore = time.Time{} }, "not_before: validity window unset"},
		{"issuer", func(b *Body) { b.Issuer = "ABC" }, `issuer: "ABC" is not a key id`},
		{"site without cidrs", func(b *Body) { b.Sites[0].CIDRs = nil; b.Sites[0].Exports = nil }, "sites[0].cidrs: at least one"},
		{"duplicate site", func(b *Body) { b.Sites = append(b.Sites, b.Sites[0]) }, `sites[1].name: duplicate site "vpc-a"`},
		{"priority", func(b *Body) { b.Sites[0].Priority = 0 }, "sites[0].priority: 0 is out of range 1..1000"},
		{"host bits", func(b *Body) { b.Sites[0].CIDRs[0] = pfx("10.0.0.1/24") }, "sites[0].cidrs[0]: 10.0.0.1/24 has host bits set"},
		{"export outside site", func(b *Body) { b.Sites[0].Exports[0].CIDR = pfx("10.9.0.0/24") }, "sites[0].exports[0].cidr: 10.9.0.0/24 is not inside the site's cidrs"},
		{"wire missing", func(b *Body) { b.Sites[0].Exports[0].Wire = netip.Prefix{} }, "sites[0].exports[0].wire: required"},
		{"wire length", func(b *Body) { b.Sites[0].Exports[0].Wire = pfx("100.100.0.0/23") }, "sites[0].exports[0].wire: length /23 differs"},
		{"gateway with authority fields", func(b *Body) { b.Projects = []string{"alpha"} }, "projects: a gateway certificate carries no authority"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := gateway(key)
			c.edit(&b)
			err := b.Validate()
			switch {
			case c.msg == "" && err != nil:
				t.Errorf("unexpected %v", err)
			case c.msg != "" && (!errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.msg)):
				t.Errorf("got %v, want %q", err, c.msg)
			}
		})
	}
	a := authority(key)
	a.Overlay = netip.MustParseAddr("100.96.0.9")
	a.Projects = []string{"alpha", "alpha"}
	err := a.Validate()
	for _, m := range []string{"kind: an authority certificate carries no gateway fields", `projects[1]: duplicate project "alpha"`} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("authority: %v lacks %q", err, m)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("several problems must stay on one line: %q", err)
	}
}

// Parse accepts exactly the encoding Marshal writes.
func TestParseStrict(t *testing.T) {
	c := mustSign(t, gateway(newKey(t)), newKey(t))
	good := c.Marshal()
	var generic map[string]any
	json.Unmarshal(c.Raw, &generic)
	generic["extra"] = 1
	extraField, _ := json.Marshal(generic)
	cases := []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "EOF"},
		{"not JSON", []byte("hello"), "invalid character"},
		{"trailing data", append(bytes.Clone(good), []byte(" {}")...), "trailing data"},
		{"unknown envelope field", bytes.Replace(good, []byte(`"sig":`), []byte(`"x":1,"sig":`), 1), `unknown field "x"`},
		{"unknown body field", bytes.Replace(good, c.Raw, extraField, 1), `unknown field "extra"`},
		{"short signature", bytes.Replace(good, []byte(`"sig":"`), []byte(`"sig":"AAAA`), 1), "signature has"},
		{"no body", []byte(`{"sig":""}`), "no body"},
		{"spacing", bytes.Replace(good, []byte(`{"body":`), []byte(`{ "body":`), 1), "not in the encoding vpcmesh writes"},
		{"key case", bytes.Replace(good, []byte(`"name":`), []byte(`"NAME":`), 1), "not in the encoding vpcmesh writes"},
		{"duplicate key", bytes.Replace(good, []byte(`"name":"vpc-a-gw"`), []byte(`"name":"evil","name":"vpc-a-gw"`), 1), "not in the encoding vpcmesh writes"},
		{"invalid body", bytes.Replace(good, []byte(`"priority":200`), []byte(`"priority":0`), 1), "sites[0].priority"},
		{"too big", bytes.Repeat([]byte(" "), MaxCertSize+1), "more than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want ErrMalformed with %q", err, tc.msg)
			}
		})
	}
}

func TestParseChainStrict(t *testing.T) {
	c := mustSign(t, gateway(newKey(t)), newKey(t))
	one := MarshalChain([]*Cert{c})
	for name, data := range map[string][]byte{
		"empty array":  []byte("[]"),
		"five":         MarshalChain([]*Cert{c, c, c, c, c}),
		"spacing":      []byte("[ " + string(c.Marshal()) + "]"),
		"not an array": c.Marshal(),
		"trailing":     append(bytes.Clone(one), '1'),
		"bad member":   []byte(`[{"body":{}}]`),
	} {
		if _, err := ParseChain(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	chain, err := ParseChain(one)
	if err != nil || len(chain) != 1 || !bytes.Equal(chain[0].Raw, c.Raw) {
		t.Errorf("round trip: %v %v", chain, err)
	}
}

func TestExpiresSoon(t *testing.T) {
	b := gateway(newKey(t))
	b.NotAfter = now.Add(10 * 24 * time.Hour)
	c := mustSign(t, b, newKey(t))
	for _, tc := range []struct {
		at     time.Time
		within time.Duration
		want   bool
	}{
		{now, 30 * 24 * time.Hour, true},
		{now, 5 * 24 * time.Hour, false},
		{now.Add(11 * 24 * time.Hour), 0, true}, // expired already
		{now, 10 * 24 * time.Hour, true},        // on the boundary
	} {
		if got := ExpiresSoon(c, tc.at, tc.within); got != tc.want {
			t.Errorf("ExpiresSoon(%v, %v) = %v, want %v", tc.at, tc.within, got, tc.want)
		}
	}
}

// Gossip verifies every record it receives; this is the cost per chain.
func BenchmarkVerify(b *testing.B) {
	root, gwKey := newKey(b), newKey(b)
	chain := []*Cert{mustSign(b, gateway(gwKey), root)}
	enc := MarshalChain(chain)
	r := Root{Key: pub(root)}
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			ParseChain(enc)
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			r.Verify(chain, now)
		}
	})
}
