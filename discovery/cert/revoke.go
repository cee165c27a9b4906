package cert

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// A revocation list names certificates no gateway may accept any more, by
// fingerprint. The mesh root signs one for the whole mesh; a project
// authority signs one for the gateways it certified, and it revokes no others
// (docs/ARCHITECTURE.md, The model: trust chain): a project removes its own
// gateways without the network admin. Each issuer's newer list (a higher
// serial) replaces its older one as it spreads by gossip.

// RevocationsPEMType is the PEM block type of a revocation list file.
const RevocationsPEMType = "VPCMESH REVOCATIONS"

// revokeDomain separates revocation list signatures from certificates'.
const revokeDomain = "vpcmesh revocations v1\x00"

// RevocationBody is what a revocation list states.
type RevocationBody struct {
	Version int       `json:"v"`
	Mesh    string    `json:"mesh"`
	Serial  uint64    `json:"serial"` // higher replaces lower
	Issued  time.Time `json:"issued"`
	Revoked []string  `json:"revoked"` // Fingerprint of each revoked certificate
	Issuer  string    `json:"issuer"`  // KeyID of the root or of the authority
	// Authority is the issuing authority's certificate (signed by the
	// root), absent on the root's list: it lets any gateway check the list
	// with the root key alone, and bounds what the list revokes.
	Authority []byte `json:"authority,omitempty"`
}

// Revocations is a signed revocation list.
type Revocations struct {
	Body      RevocationBody
	Raw       []byte
	Signature []byte

	// scope is the fingerprint of the authority of an authority's list,
	// worked out once: RevokesAny runs for every record, often.
	scope        string
	badAuthority bool
}

// scoped sets what the list may revoke from its authority certificate.
func (r *Revocations) scoped() *Revocations {
	a, err := r.AuthorityCert()
	switch {
	case err != nil:
		r.badAuthority = true
	case a != nil:
		r.scope = Fingerprint(a)
	}
	return r
}

// Fingerprint names one certificate: the first 16 bytes of the SHA-256 of
// its encoding, in hex.
func Fingerprint(c *Cert) string {
	sum := sha256.Sum256(c.Marshal())
	return hex.EncodeToString(sum[:16])
}

// SignRevocations signs b with the root key.
func SignRevocations(b RevocationBody, root ed25519.PrivateKey) (*Revocations, error) {
	return signRevocations(b, root)
}

// SignAuthorityRevocations signs b as the project authority whose
// certificate is authority and private key key.
func SignAuthorityRevocations(b RevocationBody, authority *Cert, key ed25519.PrivateKey) (*Revocations, error) {
	if authority.Body.Kind != KindAuthority || !authority.Body.SigningKey.Equal(key.Public()) {
		return nil, errors.New("sign revocations: not the key of that authority certificate")
	}
	b.Authority = authority.Marshal()
	return signRevocations(b, key)
}

func signRevocations(b RevocationBody, key ed25519.PrivateKey) (*Revocations, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("sign revocations: private key of the wrong size")
	}
	b.Version = Version
	b.Issuer = KeyID(key.Public().(ed25519.PublicKey))
	b.Issued = b.Issued.UTC().Truncate(time.Second)
	b.Revoked = slices.Compact(slices.Sorted(slices.Values(b.Revoked)))
	if b.Mesh == "" || b.Serial == 0 {
		return nil, errors.New("sign revocations: mesh and a serial above 0 are required")
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return (&Revocations{Body: b, Raw: raw, Signature: ed25519.Sign(key, append([]byte(revokeDomain), raw...))}).scoped(), nil
}

// Marshal is the list's encoding: {"body":RAW,"sig":"BASE64"}.
func (r *Revocations) Marshal() []byte { return marshalEnvelope(r.Raw, r.Signature) }

// ParseRevocations decodes a list strictly, as Parse does a certificate.
// It does not check the signature: Root.VerifyRevocations does.
func ParseRevocations(data []byte) (*Revocations, error) {
	if len(data) > MaxCertSize {
		return nil, fmt.Errorf("%w: revocation list of %d bytes, more than %d", ErrMalformed, len(data), MaxCertSize)
	}
	var env envelope
	if err := decodeStrict(data, &env); err != nil {
		return nil, fmt.Errorf("%w: revocation list: %v", ErrMalformed, err)
	}
	var b RevocationBody
	if err := decodeStrict(env.Body, &b); err != nil {
		return nil, fmt.Errorf("%w: revocation list body: %v", ErrMalformed, err)
	}
	r := (&Revocations{Body: b, Raw: bytes.Clone(env.Body), Signature: env.Sig}).scoped()
	if enc, err := json.Marshal(b); err != nil || !bytes.Equal(enc, r.Raw) || !bytes.Equal(r.Marshal(), data) {
		return nil, fmt.Errorf("%w: revocation list not in the encoding vpcmesh writes", ErrMalformed)
	}
	return r, nil
}

// VerifyRevocations checks that the root, or an authority the root
// certified and valid now, signed the list for mesh.
func (root Root) VerifyRevocations(r *Revocations, mesh string) error {
	return root.VerifyRevocationsAt(r, mesh, time.Now())
}

// VerifyRevocationsAt is VerifyRevocations at time now.
func (root Root) VerifyRevocationsAt(r *Revocations, mesh string, now time.Time) error {
	key, who := root.Key, "the mesh root"
	if r.Body.Authority != nil {
		a, err := r.AuthorityCert()
		if err == nil {
			_, err = root.Verify([]*Cert{a}, now)
		}
		if err == nil && a.Body.Kind != KindAuthority {
			err = fmt.Errorf("%w: signed by %s %q, which is no authority", ErrConstraint, a.Body.Kind, a.Body.Name)
		}
		if err != nil {
			return fmt.Errorf("revocation list: its authority: %w", err)
		}
		key, who = a.Body.SigningKey, fmt.Sprintf("authority %q", a.Body.Name)
	}
	if want := KeyID(key); r.Body.Issuer != want {
		return fmt.Errorf("revocation list: %w: issued by key %s, %s has %s", ErrUnknownIssuer, r.Body.Issuer, who, want)
	}
	if len(r.Signature) != ed25519.SignatureSize || !ed25519.Verify(key, append([]byte(revokeDomain), r.Raw...), r.Signature) {
		return fmt.Errorf("revocation list: %w", ErrBadSignature)
	}
	if r.Body.Mesh != mesh {
		return fmt.Errorf("revocation list: %w: for mesh %q, not %q", ErrConstraint, r.Body.Mesh, mesh)
	}
	return nil
}

// AuthorityCert is the certificate of the authority that signed the list;
// nil, nil for the root's list.
func (r *Revocations) AuthorityCert() (*Cert, error) {
	if r.Body.Authority == nil {
		return nil, nil
	}
	return Parse(r.Body.Authority)
}

// Revokes says whether any certificate of chain is on the list.
func (r *Revocations) Revokes(chain []*Cert) bool {
	fps := make([]string, len(chain))
	for i, c := range chain {
		fps[i] = Fingerprint(c)
	}
	return r.RevokesAny(fps)
}

// RevokesAny says whether any of the fingerprints, those of one chain, is
// on the list. An authority's list revokes only in chains it signed.
func (r *Revocations) RevokesAny(fingerprints []string) bool {
	if r == nil {
		return false
	}
	if r.badAuthority || r.scope != "" && !slices.Contains(fingerprints, r.scope) {
		return false
	}
	for _, fp := range fingerprints {
		if _, found := slices.BinarySearch(r.Body.Revoked, fp); found {
			return true
		}
	}
	return false
}

// ReadRevocationsFile reads a PEM revocation list; it does not verify it.
func ReadRevocationsFile(path string) (*Revocations, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("revocation list: %w", err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != RevocationsPEMType || len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%s: %w: want one %q PEM block", path, ErrMalformed, RevocationsPEMType)
	}
	r, err := ParseRevocations(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ReadRevocationsFiles reads a file of one or more PEM revocation lists
// (the root's and authorities'); it does not verify them.
func ReadRevocationsFiles(path string) ([]*Revocations, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("revocation list: %w", err)
	}
	var out []*Revocations
	for len(bytes.TrimSpace(data)) > 0 {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil || block.Type != RevocationsPEMType {
			return nil, fmt.Errorf("%s: %w: want %q PEM blocks only", path, ErrMalformed, RevocationsPEMType)
		}
		r, err := ParseRevocations(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: list %d: %w", path, len(out)+1, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w: no %q PEM block", path, ErrMalformed, RevocationsPEMType)
	}
	return out, nil
}

// EncodeRevocationsPEM is the content of a file of several lists, as
// ReadRevocationsFiles reads it.
func EncodeRevocationsPEM(lists []*Revocations) []byte {
	var data []byte
	for _, r := range lists {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: RevocationsPEMType, Bytes: r.Marshal()})...)
	}
	return data
}

// WriteRevocationsFile writes the list as PEM, atomically.
func WriteRevocationsFile(path string, r *Revocations) error {
	return WriteRevocationsFiles(path, []*Revocations{r})
}

// WriteRevocationsFiles writes several lists into one PEM file, atomically.
func WriteRevocationsFiles(path string, lists []*Revocations) error {
	data := EncodeRevocationsPEM(lists)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
