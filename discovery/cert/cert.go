// Package cert is the mesh's trust chain: the mesh root key signs project
// authorities and gateways, an authority signs gateways of its projects
// (docs/ARCHITECTURE.md, The model: trust chain). A certificate binds a
// gateway's name, keys, overlay address, sites and exports, for a time.
//
// Keys are ed25519 from the standard library. A certificate is a JSON body
// signed as it is encoded: the signed bytes are kept (Cert.Raw) and only
// one encoding of a body is accepted, so verification never depends on
// re-encoding, and a certificate's bytes identify it.
package cert

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Kind is what a certificate's holder may do.
type Kind string

const (
	KindGateway   Kind = "gateway"
	KindAuthority Kind = "authority" // a project authority (issue 6): may sign gateways within Projects/Prefixes
)

// Version is the body version this package writes and reads.
const Version = 1

// Size limits, so that decoding a hostile message costs little. A gateway
// with a thousand exports stays well under MaxCertSize.
const (
	MaxCertSize    = 256 << 10
	MaxChainLength = 4 // leaf and up to three authorities
)

// signDomain separates certificate signatures from any other use of the
// same key (records, revocations).
const signDomain = "vpcmesh cert v1\x00"

// Export is a CIDR a gateway's site offers to a project, and its wire
// prefix (equal to CIDR when not mapped).
type Export struct {
	Project string       `json:"project"`
	CIDR    netip.Prefix `json:"cidr"`
	Wire    netip.Prefix `json:"wire"`
}

// Site is a network behind a gateway, as its certificate states it.
type Site struct {
	Name     string         `json:"name"`
	CIDRs    []netip.Prefix `json:"cidrs"`
	Priority int            `json:"priority"`
	Exports  []Export       `json:"exports,omitempty"`
	// Members are the projects whose members the site may announce,
	// beside those it exports to: a record claiming a member in any other
	// project is refused.
	Members []string `json:"members,omitempty"`
}

// Body is what a certificate binds.
type Body struct {
	Version      int               `json:"v"` // 1
	Kind         Kind              `json:"kind"`
	Mesh         string            `json:"mesh"`             // mesh name; must match along the chain
	Name         string            `json:"name"`             // gateway name (or authority name)
	WireGuardKey string            `json:"wg_key,omitempty"` // base64 WireGuard public key (gateway)
	SigningKey   ed25519.PublicKey `json:"signing_key"`      // signs the node's records (gateway) or certificates (authority)
	Overlay      netip.Addr        `json:"overlay,omitzero"` // gateway's overlay address
	Sites        []Site            `json:"sites,omitempty"`
	Relay        bool              `json:"relay,omitempty"`    // gateway: may relay; authority: may sign relays
	Projects     []string          `json:"projects,omitempty"` // authority: the projects it may sign for
	Prefixes     []netip.Prefix    `json:"prefixes,omitempty"` // authority: real prefixes (and wire ones, without Wires) it may let gateways use
	// Wires are an authority's wire prefixes, unique in the mesh, apart
	// from its real prefixes, which may overlap another project's: the
	// root reserves them for it alone. Without them, Prefixes bound the
	// wire prefixes too and are reserved whole.
	Wires []netip.Prefix `json:"wires,omitempty"`
	// An authority's share of the identities: the gateway names and site
	// names it may sign start with one of its prefixes, the overlay
	// addresses lie in its ranges. An authority without them signs no
	// gateway.
	NamePrefixes []string       `json:"name_prefixes,omitempty"`
	SitePrefixes []string       `json:"site_prefixes,omitempty"`
	Overlays     []netip.Prefix `json:"overlays,omitempty"`
	NotBefore    time.Time      `json:"not_before"`
	NotAfter     time.Time      `json:"not_after"`
	Issuer       string         `json:"issuer"` // KeyID of the key that signed it
}

// WirePrefixes are the wire prefixes an authority's gateways may announce:
// its Wires, or without them all its Prefixes.
func (b Body) WirePrefixes() []netip.Prefix {
	if len(b.Wires) > 0 {
		return b.Wires
	}
	return b.Prefixes
}

// Cert is a signed Body. Raw is the exact signed encoding of Body (JSON),
// kept so verification never depends on re-encoding.
type Cert struct {
	Body      Body
	Raw       []byte
	Signature []byte
}

// KeyID names a public key in certificates and output: the first 16 bytes
// of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// Sign sets b.Issuer to the issuer's key id, checks b, and signs it. Times
// are stored in UTC to the second, so the returned Body is exactly what
// Parse reads back from Marshal.
func Sign(b Body, issuer ed25519.PrivateKey) (*Cert, error) {
	if len(issuer) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign: issuer private key has %d bytes, want %d", len(issuer), ed25519.PrivateKeySize)
	}
	b.Issuer = KeyID(issuer.Public().(ed25519.PublicKey))
	b.NotBefore = b.NotBefore.UTC().Truncate(time.Second)
	b.NotAfter = b.NotAfter.UTC().Truncate(time.Second)
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("sign %s %q: %w", b.Kind, b.Name, err)
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("sign %s %q: %w", b.Kind, b.Name, err)
	}
	// The body as decoded from raw, so that c.Body never differs from
	// what a receiver sees (nil versus empty slices, time zones).
	var decoded Body
	if err := json.Unmarshal(raw, &decoded); err != nil {
		return nil, fmt.Errorf("sign %s %q: %w", b.Kind, b.Name, err)
	}
	c := &Cert{Body: decoded, Raw: raw, Signature: ed25519.Sign(issuer, signedBytes(raw))}
	if n := len(c.Marshal()); n > MaxCertSize {
		return nil, fmt.Errorf("sign %s %q: %w: %d bytes encoded, more than %d", b.Kind, b.Name, ErrMalformed, n, MaxCertSize)
	}
	return c, nil
}

func signedBytes(raw []byte) []byte {
	return append([]byte(signDomain), raw...)
}

// Marshal is the certificate's self-contained encoding:
// {"body":RAW,"sig":"BASE64"}. Parse(Marshal()) round-trips.
func (c *Cert) Marshal() []byte { return marshalEnvelope(c.Raw, c.Signature) }

// marshalEnvelope writes {"body":RAW,"sig":"BASE64"}: signed things travel
// as the exact bytes signed and the signature.
func marshalEnvelope(raw, sig []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"body":`)
	b.Write(raw)
	b.WriteString(`,"sig":"`)
	b.WriteString(base64.StdEncoding.EncodeToString(sig))
	b.WriteString(`"}`)
	return b.Bytes()
}

type envelope struct {
	Body json.RawMessage `json:"body"`
	Sig  []byte          `json:"sig"`
}

// Parse decodes a certificate strictly: unknown fields, trailing data,
// wrong sizes, an invalid body or any encoding other than the one Marshal
// writes are errors wrapping ErrMalformed. It does not check the signature:
// that is Root.Verify's job.
func Parse(data []byte) (*Cert, error) {
	if len(data) > MaxCertSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(data), MaxCertSize)
	}
	var env envelope
	if err := decodeStrict(data, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(env.Body) == 0 {
		return nil, fmt.Errorf("%w: no body", ErrMalformed)
	}
	if len(env.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature has %d bytes, want %d", ErrMalformed, len(env.Sig), ed25519.SignatureSize)
	}
	var b Body
	if err := decodeStrict(env.Body, &b); err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrMalformed, err)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("%s %q: %w", kindName(b.Kind), b.Name, err)
	}
	if b.Issuer == "" {
		return nil, fmt.Errorf("%s %q: %w: issuer: required", b.Kind, b.Name, ErrMalformed)
	}
	c := &Cert{Body: b, Raw: bytes.Clone(env.Body), Signature: env.Sig}
	// One body, one encoding: JSON admits duplicate keys, keys in any
	// case and order, and spacing, which a signature check would not see.
	if !c.canonical() || !bytes.Equal(c.Marshal(), data) {
		return nil, fmt.Errorf("%s %q: %w: not in the encoding vpcmesh writes (edited or re-encoded?)", b.Kind, b.Name, ErrMalformed)
	}
	return c, nil
}

// canonical says whether Raw is the encoding of Body, as Sign makes it.
// It also catches a Body changed after signing.
func (c *Cert) canonical() bool {
	enc, err := json.Marshal(c.Body)
	return err == nil && bytes.Equal(enc, c.Raw)
}

// decodeStrict decodes exactly one JSON value with no unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// MarshalChain encodes a chain, leaf first then the authorities as issued,
// as a JSON array of Marshal encodings.
func MarshalChain(chain []*Cert) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, c := range chain {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(c.Marshal())
	}
	b.WriteByte(']')
	return b.Bytes()
}

// ParseChain decodes what MarshalChain writes, as strictly as Parse: 1 to
// MaxChainLength certificates. It does not verify the chain.
func ParseChain(data []byte) ([]*Cert, error) {
	if len(data) > MaxChainLength*MaxCertSize {
		return nil, fmt.Errorf("%w: chain of %d bytes is too long", ErrMalformed, len(data))
	}
	var raws []json.RawMessage
	if err := decodeStrict(data, &raws); err != nil {
		return nil, fmt.Errorf("%w: chain: %v", ErrMalformed, err)
	}
	if len(raws) == 0 || len(raws) > MaxChainLength {
		return nil, fmt.Errorf("%w: chain of %d certificates, want 1 to %d", ErrMalformed, len(raws), MaxChainLength)
	}
	chain := make([]*Cert, len(raws))
	for i, r := range raws {
		c, err := Parse(r)
		if err != nil {
			return nil, fmt.Errorf("chain[%d]: %w", i, err)
		}
		chain[i] = c
	}
	if !bytes.Equal(MarshalChain(chain), data) {
		return nil, fmt.Errorf("%w: chain not in the encoding vpcmesh writes", ErrMalformed)
	}
	return chain, nil
}

// ExpiresSoon says whether c is expired at now or will be within the given
// time: the warning that comes well before a mesh breaks.
func ExpiresSoon(c *Cert, now time.Time, within time.Duration) bool {
	return !now.Add(within).Before(c.Body.NotAfter)
}
