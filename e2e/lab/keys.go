package lab

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"golang.org/x/crypto/curve25519"
)

// GenKey makes a WireGuard key pair, base64 as `wg genkey | wg pubkey`
// writes them.
func GenKey() (priv, pub string, err error) {
	var k [curve25519.ScalarSize]byte
	if _, err := rand.Read(k[:]); err != nil {
		return "", "", err
	}
	// Clamp as wg genkey does, so the stored key is canonical.
	k[0] &= 248
	k[31] = k[31]&127 | 64
	priv = base64.StdEncoding.EncodeToString(k[:])
	pub, err = PublicKey(priv)
	return priv, pub, err
}

// PublicKey derives the public key of a base64 private key.
func PublicKey(priv string) (string, error) {
	k, err := base64.StdEncoding.DecodeString(priv)
	if err != nil || len(k) != curve25519.ScalarSize {
		return "", fmt.Errorf("private key: want 32 bytes in base64 (%v)", err)
	}
	p, err := curve25519.X25519(k, curve25519.Basepoint)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(p), nil
}
