package tunnel

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/curve25519"
)

// Key is a Curve25519 key as WireGuard uses it: base64 in files and configs,
// hex on the UAPI.
type Key [32]byte

// GenerateKey returns a new clamped private key.
func GenerateKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	// Clamp as RFC 7748 §5 and `wg genkey` do, so the key file is byte-for-byte
	// what the reference tools would write.
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k, nil
}

// ParseKey decodes a base64 key.
func ParseKey(s string) (Key, error) {
	var k Key
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(k) {
		return Key{}, fmt.Errorf("invalid key: want base64 of 32 bytes")
	}
	copy(k[:], b)
	return k, nil
}

// ReadKeyFile reads a base64 private key file.
func ReadKeyFile(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("read key: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Public derives the public key of a private key.
func (k Key) Public() Key {
	// X25519 with the base point fails only for low-order inputs, which a
	// base point multiplication cannot produce.
	b, _ := curve25519.X25519(k[:], curve25519.Basepoint)
	var pub Key
	copy(pub[:], b)
	return pub
}

func (k Key) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

func (k Key) hex() string { return hex.EncodeToString(k[:]) }

// IsZero reports whether k is unset.
func (k Key) IsZero() bool { return k == Key{} }
