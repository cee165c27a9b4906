package cert

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// PEMType is the block type of a certificate in a chain file.
const PEMType = "VPCMESH CERTIFICATE"

// ReadChainFile reads a PEM file of one or more "VPCMESH CERTIFICATE"
// blocks, leaf first. Only blocks and blank space may be in it. It does
// not verify the chain. Errors name the path.
func ReadChainFile(path string) ([]*Cert, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certificate chain: %w", err)
	}
	chain, err := decodeChainPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return chain, nil
}

func decodeChainPEM(data []byte) ([]*Cert, error) {
	var chain []*Cert
	rest := data
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 {
			break
		}
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("%w: line %d: text outside a PEM block", ErrMalformed, lineOf(data, rest))
		}
		line := lineOf(data, rest)
		var block *pem.Block
		block, rest = pem.Decode(rest)
		switch {
		case block == nil:
			return nil, fmt.Errorf("%w: line %d: broken PEM block", ErrMalformed, line)
		case block.Type != PEMType:
			return nil, fmt.Errorf("%w: line %d: a %q block, want %q", ErrMalformed, line, block.Type, PEMType)
		case len(block.Headers) > 0:
			return nil, fmt.Errorf("%w: line %d: PEM headers are not used", ErrMalformed, line)
		case len(chain) == MaxChainLength:
			return nil, fmt.Errorf("%w: more than %d certificates", ErrMalformed, MaxChainLength)
		}
		c, err := Parse(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d (line %d): %w", len(chain)+1, line, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: no %q block", ErrMalformed, PEMType)
	}
	return chain, nil
}

// lineOf is the 1-based line of data at which rest starts.
func lineOf(data, rest []byte) int {
	return bytes.Count(data[:len(data)-len(rest)], []byte("\n")) + 1
}

// EncodeChainPEM is the content of a chain file.
func EncodeChainPEM(chain []*Cert) []byte {
	var b bytes.Buffer
	for _, c := range chain {
		// pem.Encode fails only on bad headers, and there are none.
		_ = pem.Encode(&b, &pem.Block{Type: PEMType, Bytes: c.Marshal()})
	}
	return b.Bytes()
}

// WriteChainFile writes the chain as ReadChainFile reads it, mode 0644,
// atomically: a gateway reading it never sees half a file.
func WriteChainFile(path string, chain []*Cert) error {
	if len(chain) == 0 {
		return fmt.Errorf("%s: no certificate to write", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write certificate chain: %w", err)
	}
	_, werr := tmp.Write(EncodeChainPEM(chain))
	err = errors.Join(werr, tmp.Chmod(0o644), tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadPrivateKeyFile reads an ed25519 private key as `vpcmesh keygen` and
// `vpcmesh ca init` write it: the base64 of its 32-byte seed and a newline.
// Errors name the path.
func ReadPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	b, err := readBase64(path, ed25519.SeedSize, "the base64 of a 32-byte ed25519 seed")
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(b), nil
}

// ReadPublicKeyFile reads an ed25519 public key: the base64 of its 32
// bytes and a newline. Errors name the path.
func ReadPublicKeyFile(path string) (ed25519.PublicKey, error) {
	b, err := readBase64(path, ed25519.PublicKeySize, "the base64 of a 32-byte ed25519 public key")
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(b), nil
}

func readBase64(path string, size int, want string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // names the path already
	}
	b, err := base64.StdEncoding.Strict().DecodeString(string(bytes.TrimSpace(data)))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: not base64 (want %s, as vpcmesh keygen writes)", path, want)
	case len(b) != size:
		return nil, fmt.Errorf("%s: %d bytes (want %s, as vpcmesh keygen writes)", path, len(b), want)
	}
	return b, nil
}
