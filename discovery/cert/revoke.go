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
// fingerprint. The mesh root signs it; a newer list (a higher serial)
// replaces an older one as it spreads by gossip.

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
	Issuer  string    `json:"issuer"`  // KeyID of the root
}

// Revocations is a signed revocation list.
type Revocations struct {
	Body      RevocationBody
	Raw       []byte
	Signature []byte
}

// Fingerprint names one certificate: the first 16 bytes of the SHA-256 of
// its encoding, in hex.
func Fingerprint(c *Cert) string {
	sum := sha256.Sum256(c.Marshal())
	return hex.EncodeToString(sum[:16])
}

// SignRevocations signs b with the root key.
func SignRevocations(b RevocationBody, root ed25519.PrivateKey) (*Revocations, error) {
	if len(root) != ed25519.PrivateKeySize {
		return nil, errors.New("sign revocations: root private key of the wrong size")
	}
	b.Version = Version
	b.Issuer = KeyID(root.Public().(ed25519.PublicKey))
	b.Issued = b.Issued.UTC().Truncate(time.Second)
	b.Revoked = slices.Compact(slices.Sorted(slices.Values(b.Revoked)))
	if b.Mesh == "" || b.Serial == 0 {
		return nil, errors.New("sign revocations: mesh and a serial above 0 are required")
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return &Revocations{Body: b, Raw: raw, Signature: ed25519.Sign(root, append([]byte(revokeDomain), raw...))}, nil
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
	r := &Revocations{Body: b, Raw: bytes.Clone(env.Body), Signature: env.Sig}
	if enc, err := json.Marshal(b); err != nil || !bytes.Equal(enc, r.Raw) || !bytes.Equal(r.Marshal(), data) {
		return nil, fmt.Errorf("%w: revocation list not in the encoding vpcmesh writes", ErrMalformed)
	}
	return r, nil
}

// VerifyRevocations checks that the root signed the list for mesh.
func (root Root) VerifyRevocations(r *Revocations, mesh string) error {
	if want := KeyID(root.Key); r.Body.Issuer != want {
		return fmt.Errorf("revocation list: %w: issued by key %s, the mesh root is %s", ErrUnknownIssuer, r.Body.Issuer, want)
	}
	if len(r.Signature) != ed25519.SignatureSize || !ed25519.Verify(root.Key, append([]byte(revokeDomain), r.Raw...), r.Signature) {
		return fmt.Errorf("revocation list: %w", ErrBadSignature)
	}
	if r.Body.Mesh != mesh {
		return fmt.Errorf("revocation list: %w: for mesh %q, not %q", ErrConstraint, r.Body.Mesh, mesh)
	}
	return nil
}

// Revokes says whether any certificate of chain is on the list.
func (r *Revocations) Revokes(chain []*Cert) bool {
	fps := make([]string, len(chain))
	for i, c := range chain {
		fps[i] = Fingerprint(c)
	}
	return r.RevokesAny(fps)
}

// RevokesAny says whether any of the fingerprints is on the list.
func (r *Revocations) RevokesAny(fingerprints []string) bool {
	if r == nil {
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

// WriteRevocationsFile writes the list as PEM, atomically.
func WriteRevocationsFile(path string, r *Revocations) error {
	data := pem.EncodeToMemory(&pem.Block{Type: RevocationsPEMType, Bytes: r.Marshal()})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
