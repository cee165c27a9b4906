package cert

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Reasons a chain is refused. Verify wraps exactly one of them, so callers
// can count refusals by reason with errors.Is.
var (
	// ErrUnknownIssuer: signed by a key that is not the root (a
	// certificate of another mesh) or not the next certificate's.
	ErrUnknownIssuer = errors.New("unknown issuer")
	ErrBadSignature  = errors.New("bad signature")
	// ErrExpired: past not_after, or before not_before.
	ErrExpired = errors.New("expired or not yet valid")
	// ErrConstraint: an issuer signed beyond what it may (projects,
	// prefixes, another mesh), or a gateway certificate signed another.
	ErrConstraint = errors.New("outside the issuer's authority")
	ErrMalformed  = errors.New("malformed certificate")
)

// Root is a mesh's trust anchor.
type Root struct{ Key ed25519.PublicKey }

// Verify checks the chain (leaf first, then the authorities as issued)
// against the root at time now, and returns the leaf. It checks every
// signature (the last certificate's with the root key, each other's with
// the next one's signing key), every validity window, that mesh names are
// equal along the chain, that every certificate but the leaf is an
// authority, and each authority's constraints on what it signed: a
// gateway's exports only to the authority's projects, and its sites'
// CIDRs and its exports' CIDRs and wire prefixes inside the authority's
// prefixes; a sub-authority's projects and prefixes within its issuer's.
//
// The leaf may be of any kind: callers admitting a gateway check that
// Kind is KindGateway, and that Mesh is their own mesh's name.
// Certificates are checked from the root down, so an error names the
// highest certificate at fault.
func (r Root) Verify(chain []*Cert, now time.Time) (*Cert, error) {
	if len(r.Key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: root key has %d bytes, want %d", ErrMalformed, len(r.Key), ed25519.PublicKeySize)
	}
	if len(chain) == 0 || len(chain) > MaxChainLength {
		return nil, fmt.Errorf("%w: chain of %d certificates, want 1 to %d", ErrMalformed, len(chain), MaxChainLength)
	}
	for i, c := range chain {
		if c == nil {
			return nil, fmt.Errorf("%w: chain[%d] is nil", ErrMalformed, i)
		}
		if err := c.Body.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", describe(chain, i), err)
		}
		// Raw is what was signed; Body is what callers act on.
		if !c.canonical() {
			return nil, fmt.Errorf("%s: %w: body differs from its signed encoding", describe(chain, i), ErrMalformed)
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if err := r.verifyOne(chain, i, now); err != nil {
			return nil, err
		}
	}
	return chain[0], nil
}

// verifyOne checks chain[i], its issuer being verified already.
func (r Root) verifyOne(chain []*Cert, i int, now time.Time) error {
	c, name := chain[i], describe(chain, i)
	key, keyName := r.Key, "the mesh root"
	var issuer *Cert
	if i+1 < len(chain) {
		issuer = chain[i+1]
		key, keyName = issuer.Body.SigningKey, describe(chain, i+1)
		if issuer.Body.Kind != KindAuthority {
			return fmt.Errorf("%s: %w: signed by %s, which may not sign certificates", name, ErrConstraint, keyName)
		}
	}
	if want := KeyID(key); c.Body.Issuer != want {
		hint := ""
		if issuer == nil {
			hint = " (a certificate of another mesh?)"
		}
		return fmt.Errorf("%s: %w: issued by key %s; %s has key %s%s", name, ErrUnknownIssuer, c.Body.Issuer, keyName, want, hint)
	}
	if len(c.Signature) != ed25519.SignatureSize || !ed25519.Verify(key, signedBytes(c.Raw), c.Signature) {
		return fmt.Errorf("%s: %w: does not verify with the key of %s (altered after signing?)", name, ErrBadSignature, keyName)
	}
	b := c.Body
	if issuer != nil && b.Mesh != issuer.Body.Mesh {
		return fmt.Errorf("%s: %w: mesh %q, but its issuer %s is of mesh %q", name, ErrConstraint, b.Mesh, keyName, issuer.Body.Mesh)
	}
	if now.Before(b.NotBefore) {
		return fmt.Errorf("%s: %w: not valid before %s (now %s)", name, ErrExpired, stamp(b.NotBefore), stamp(now))
	}
	if now.After(b.NotAfter) {
		return fmt.Errorf("%s: %w: expired %s (now %s)", name, ErrExpired, stamp(b.NotAfter), stamp(now))
	}
	if issuer != nil {
		if err := within(issuer.Body, b); err != nil {
			return fmt.Errorf("%s: %w: %v (issuer %s)", name, ErrConstraint, err, keyName)
		}
	}
	return nil
}

// within checks that b asks for no more than authority a may give: its
// projects and prefixes, and for identities (names, overlay addresses,
// sites, the relay role) its share of each, so that no certificate it
// signs can take another's name, address or HA site.
func within(a, b Body) error {
	project := func(p string) error {
		if !slices.Contains(a.Projects, p) {
			return fmt.Errorf("project %q is not one of %v", p, a.Projects)
		}
		return nil
	}
	prefix := func(what string, p netip.Prefix) error {
		if !insideAny(p, a.Prefixes) {
			return fmt.Errorf("%s %s is outside the prefixes %v", what, p, a.Prefixes)
		}
		return nil
	}
	wires := a.WirePrefixes()
	wire := func(what string, p netip.Prefix) error {
		if !insideAny(p, wires) {
			return fmt.Errorf("%s %s is outside the wire prefixes %v", what, p, wires)
		}
		return nil
	}
	named := func(what, name string, prefixes []string) error {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			return fmt.Errorf("%s %q does not start with any of %q", what, name, prefixes)
		}
		return nil
	}
	var errs []error
	for _, p := range b.Projects {
		errs = append(errs, project(p))
	}
	for _, p := range b.Prefixes {
		errs = append(errs, prefix("prefix", p))
	}
	for _, p := range b.Wires {
		errs = append(errs, wire("wire prefix", p))
	}
	for _, p := range b.NamePrefixes {
		errs = append(errs, named("name prefix", p, a.NamePrefixes))
	}
	for _, p := range b.SitePrefixes {
		errs = append(errs, named("site prefix", p, a.SitePrefixes))
	}
	for _, p := range b.Overlays {
		if !insideAny(p, a.Overlays) {
			errs = append(errs, fmt.Errorf("overlay range %s is outside %v", p, a.Overlays))
		}
	}
	if b.Relay && !a.Relay {
		errs = append(errs, errors.New("the relay role is not granted"))
	}
	if b.Kind == KindGateway {
		errs = append(errs, named("name", b.Name, a.NamePrefixes))
		if !slices.ContainsFunc(a.Overlays, func(p netip.Prefix) bool { return p.Contains(b.Overlay) }) {
			errs = append(errs, fmt.Errorf("overlay address %s is outside %v", b.Overlay, a.Overlays))
		}
	}
	for _, s := range b.Sites {
		errs = append(errs, named("site", s.Name, a.SitePrefixes))
		for _, p := range s.CIDRs {
			errs = append(errs, prefix("site "+s.Name+" cidr", p))
		}
		for _, e := range s.Exports {
			errs = append(errs, project(e.Project), prefix("export cidr", e.CIDR), wire("export wire", e.Wire))
		}
		for _, p := range s.Members {
			errs = append(errs, project(p))
		}
	}
	// The first violation is enough to refuse, and keeps the message one line.
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// describe names chain[i] in errors: its kind, name and place.
func describe(chain []*Cert, i int) string {
	b := chain[i].Body
	return fmt.Sprintf("%s %q (chain[%d])", kindName(b.Kind), b.Name, i)
}

// kindName is a kind for messages: an unknown one (from a hostile or
// broken certificate, reported as such) is not echoed unquoted.
func kindName(k Kind) string {
	if k == KindGateway || k == KindAuthority {
		return string(k)
	}
	return "certificate"
}
