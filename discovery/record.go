package discovery

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/vpcmesh/vpcmesh/discovery/cert"
)

// A node record is what a gateway says about itself beyond its certificate:
// where it can be reached, and how recent that is. It travels with the
// certificate chain, signed by the signing key the certificate names, so
// that any gateway can check it against the mesh root alone, whoever
// relayed it (docs/ARCHITECTURE.md, A membership event's way).

// Record is the signed part of a node record.
type Record struct {
	Name string `json:"name"`
	// Version orders a node's records: a receiver keeps the highest. It is
	// the time of publication in nanoseconds, and above the node's last
	// version, kept across restarts (GossipConfig.VersionFile).
	Version   uint64           `json:"version"`
	Endpoints []netip.AddrPort `json:"endpoints,omitempty"` // candidates, best first
	// Local are the node's own interface addresses: the direct path to a
	// gateway behind the same NAT, which most NAT routers do not hairpin.
	// Only hole punching tries them; they never become a dial address.
	Local []netip.AddrPort `json:"local,omitempty"`
	// Members are the sources on the node's sites that use a project's
	// routes, by wire address: replies must find their way back to them.
	Members []Member `json:"members,omitempty"`
	Leaving bool     `json:"leaving,omitempty"` // a clean stop is under way
	// ENI is the EC2 network interface the node forwards on, when on EC2:
	// its HA partner may re-point VPC routes from it.
	ENI string `json:"eni,omitempty"`
	// SitesDown are the node's sites it cannot reach (their probe target
	// does not answer): it is not to carry them.
	SitesDown []string `json:"sites_down,omitempty"`
	// NAT is how the node reaches the internet, as far as it can tell:
	// NATPublic, NATIndependent, NATDependent or "" (unknown).
	NAT string `json:"nat,omitempty"`
	// Relay says the node forwards tunnel packets for pairs of gateways
	// without a direct path.
	Relay bool `json:"relay,omitempty"`
	// Zones are the DNS zones the node's sites answer for their exports:
	// the export's project's members ask them through the node.
	Zones []Zones `json:"zones,omitempty"`
}

// Zones are one export's DNS zones, the export named by its site, project
// and wire prefix as its certificate binds them.
type Zones struct {
	Site    string       `json:"site"`
	Project string       `json:"project"`
	Wire    netip.Prefix `json:"wire"`
	Names   []string     `json:"names"`
}

// maxZoneNames bounds one export's zones in a record.
const maxZoneNames = 16

// NAT behaviours a node announces.
const (
	NATPublic      = "public"               // it has a public endpoint
	NATIndependent = "endpoint-independent" // every peer sees it at one address
	NATDependent   = "endpoint-dependent"   // peers see it at different ports: direct paths need a relay
)

// Member is one member source of a site, as it appears on the wire.
type Member struct {
	Site    string       `json:"site"`
	Project string       `json:"project"`
	Wire    netip.Prefix `json:"wire"`
}

// Node is a verified node record: its certificate's facts and its record.
type Node struct {
	Record
	Mesh         string   // the mesh its certificate is for
	Fingerprints []string // of its certificate chain, for revocation
	WireGuardKey string
	SigningKey   ed25519.PublicKey // signs its records, Joins and Welcomes
	Overlay      netip.Addr
	Sites        []cert.Site
	NotAfter     time.Time
	Encoded      []byte // the record as it travels, to pass it on unchanged
}

// recordDomain separates record signatures from every other use of the key.
const recordDomain = "vpcmesh record v1\x00"

// Identity is this gateway's certificate chain and signing key.
type Identity struct {
	Chain []*cert.Cert
	Key   ed25519.PrivateKey
}

// Leaf is the gateway's own certificate.
func (id *Identity) Leaf() *cert.Cert { return id.Chain[0] }

// Sign encodes and signs rec, with the chain, as it travels.
func (id *Identity) Sign(rec Record) ([]byte, error) {
	if rec.Name != id.Leaf().Body.Name {
		return nil, fmt.Errorf("record for %q signed by the certificate of %q", rec.Name, id.Leaf().Body.Name)
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	chain := cert.MarshalChain(id.Chain)
	if len(chain) > 0xffff || len(body) > 0xffff {
		return nil, errors.New("record too large")
	}
	sig := ed25519.Sign(id.Key, append([]byte(recordDomain), body...))
	var b bytes.Buffer
	b.Grow(4 + len(chain) + len(body) + len(sig))
	binary.Write(&b, binary.BigEndian, uint16(len(chain)))
	b.Write(chain)
	binary.Write(&b, binary.BigEndian, uint16(len(body)))
	b.Write(body)
	b.Write(sig)
	return b.Bytes(), nil
}

// Why a record was refused, for counting.
const (
	RefusedMalformed   = "malformed"
	RefusedUntrusted   = "untrusted"   // chain not from this mesh's root, or a bad signature
	RefusedExpired     = "expired"     // certificate outside its validity
	RefusedConstraint  = "constraint"  // certificate exceeds what its issuer may grant
	RefusedRecordSig   = "record_sig"  // record not signed by the certificate's key
	RefusedWrongName   = "wrong_name"  // record names another node than its certificate
	RefusedNotAGateway = "not_gateway" // leaf is not a gateway certificate
	RefusedWrongMesh   = "wrong_mesh"  // certificate for another mesh under the same root
	RefusedRevoked     = "revoked"     // a certificate of the chain is on the mesh's revocation list
	RefusedStale       = "stale"       // an admission older than the gateway's own leaving record: a replay
	RefusedNameHeld    = "name_held"   // the name is held by another issuer's certificate, as entitled to it
)

// RefusedError says why a record was refused; Reason is one of the
// Refused constants.
type RefusedError struct {
	Reason string
	Err    error
}

func (e *RefusedError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

func refused(reason string, err error) error { return &RefusedError{reason, err} }

// Verify decodes a record as it travels and checks it against the root at
// time now: the certificate chain, then the record's signature by the key
// the certificate names.
func Verify(root cert.Root, data []byte, now time.Time) (*Node, error) {
	chainBytes, body, sig, err := split(data)
	if err != nil {
		return nil, refused(RefusedMalformed, err)
	}
	chain, err := cert.ParseChain(chainBytes)
	if err != nil {
		return nil, refused(RefusedMalformed, err)
	}
	leaf, err := root.Verify(chain, now)
	if err != nil {
		return nil, refused(chainReason(err), err)
	}
	if leaf.Body.Kind != cert.KindGateway {
		return nil, refused(RefusedNotAGateway, fmt.Errorf("certificate of %q is a %s certificate", leaf.Body.Name, leaf.Body.Kind))
	}
	if !ed25519.Verify(leaf.Body.SigningKey, append([]byte(recordDomain), body...), sig) {
		return nil, refused(RefusedRecordSig, fmt.Errorf("record of %q: signature does not verify", leaf.Body.Name))
	}
	var rec Record
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil || dec.More() {
		return nil, refused(RefusedMalformed, fmt.Errorf("record of %q: %v", leaf.Body.Name, err))
	}
	if rec.Name != leaf.Body.Name {
		return nil, refused(RefusedWrongName, fmt.Errorf("record names %q, certificate %q", rec.Name, leaf.Body.Name))
	}
	for _, m := range rec.Members {
		if !memberAllowed(leaf.Body.Sites, m) {
			return nil, refused(RefusedConstraint, fmt.Errorf("record of %q: member %s of site %q in project %q is outside the site's certified networks and projects", rec.Name, m.Wire, m.Site, m.Project))
		}
	}
	for _, z := range rec.Zones {
		if err := zonesValid(z); err != nil {
			return nil, refused(RefusedMalformed, fmt.Errorf("record of %q: %v", rec.Name, err))
		}
		if !zonesAllowed(leaf.Body.Sites, z) {
			return nil, refused(RefusedConstraint, fmt.Errorf("record of %q: DNS zones for %s of site %q in project %q, which its certificate does not export", rec.Name, z.Wire, z.Site, z.Project))
		}
	}
	if rec.Relay && !leaf.Body.Relay {
		return nil, refused(RefusedConstraint, fmt.Errorf("record of %q claims the relay role, which its certificate does not grant", rec.Name))
	}
	return &Node{
		Record:       rec,
		Mesh:         leaf.Body.Mesh,
		Fingerprints: fingerprints(chain),
		WireGuardKey: leaf.Body.WireGuardKey,
		SigningKey:   leaf.Body.SigningKey,
		Overlay:      leaf.Body.Overlay,
		Sites:        leaf.Body.Sites,
		NotAfter:     leaf.Body.NotAfter,
		Encoded:      slices.Clone(data),
	}, nil
}

// zonesValid checks what a record says of an export's zones: a bounded
// list of domain names.
func zonesValid(z Zones) error {
	if len(z.Names) == 0 || len(z.Names) > maxZoneNames {
		return fmt.Errorf("%d DNS zones for %s: want 1 to %d", len(z.Names), z.Wire, maxZoneNames)
	}
	for _, n := range z.Names {
		if labels, ok := dns.IsDomainName(n); !ok || labels < 1 || len(n) > 253 {
			return fmt.Errorf("DNS zone %q is not a domain name", n)
		}
	}
	return nil
}

// zonesAllowed reports whether z names one of the certified exports: a
// gateway speaks for the names of what it exports, nothing else.
func zonesAllowed(sites []cert.Site, z Zones) bool {
	for _, s := range sites {
		if s.Name == z.Site && slices.ContainsFunc(s.Exports, func(e cert.Export) bool { return e.Project == z.Project && e.Wire == z.Wire }) {
			return true
		}
	}
	return false
}

// memberAllowed reports whether m lies in its site's certified networks, as
// a real (unmapped) or a wire address, in a project the certificate lets
// the site have members in: one it exports to or names as a member
// project. A gateway cannot make its hosts members of a project its issuer
// did not grant.
func memberAllowed(sites []cert.Site, m Member) bool {
	for _, s := range sites {
		if s.Name != m.Site || !slices.Contains(s.Members, m.Project) &&
			!slices.ContainsFunc(s.Exports, func(e cert.Export) bool { return e.Project == m.Project }) {
			continue
		}
		for _, c := range s.CIDRs {
			if c.Bits() <= m.Wire.Bits() && c.Contains(m.Wire.Addr()) {
				return true
			}
		}
		for _, e := range s.Exports {
			if e.Wire.Bits() <= m.Wire.Bits() && e.Wire.Contains(m.Wire.Addr()) {
				return true
			}
		}
	}
	return false
}

func chainReason(err error) string {
	switch {
	case errors.Is(err, cert.ErrExpired):
		return RefusedExpired
	case errors.Is(err, cert.ErrConstraint):
		return RefusedConstraint
	case errors.Is(err, cert.ErrMalformed):
		return RefusedMalformed
	}
	return RefusedUntrusted
}

// split takes a record as it travels apart: u16 length, chain, u16 length,
// body, then the ed25519 signature to the end.
func split(data []byte) (chain, body, sig []byte, err error) {
	next := func() ([]byte, bool) {
		if len(data) < 2 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			return nil, false
		}
		part := data[2 : 2+n]
		data = data[2+n:]
		return part, true
	}
	var ok1, ok2 bool
	chain, ok1 = next()
	body, ok2 = next()
	if !ok1 || !ok2 || len(data) != ed25519.SignatureSize {
		return nil, nil, nil, errors.New("record: bad framing")
	}
	return chain, body, data, nil
}

func fingerprints(chain []*cert.Cert) []string {
	out := make([]string, len(chain))
	for i, c := range chain {
		out[i] = cert.Fingerprint(c)
	}
	return out
}
