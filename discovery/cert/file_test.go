package cert

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChainFile(t *testing.T) {
	root, authKey := newKey(t), newKey(t)
	chain := []*Cert{mustSign(t, gateway(newKey(t)), authKey), mustSign(t, authority(authKey), root)}
	dir := t.TempDir()
	p := filepath.Join(dir, "vpc-a-gw.pem")
	if err := WriteChainFile(p, chain); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v; want 0644", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary file left behind: %v", entries)
	}
	data, _ := os.ReadFile(p)
	if n := bytes.Count(data, []byte("-----BEGIN VPCMESH CERTIFICATE-----")); n != 2 {
		t.Errorf("%d PEM blocks, want 2:\n%s", n, data)
	}
	got, err := ReadChainFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Body.Name != "vpc-a-gw" || got[1].Body.Name != "alpha-ca" {
		t.Fatalf("read back %d certificates: %+v", len(got), got)
	}
	if _, err := (Root{Key: pub(root)}).Verify(got, now); err != nil {
		t.Errorf("read-back chain does not verify: %v", err)
	}
	// Overwriting is atomic and keeps the mode.
	if err := WriteChainFile(p, chain[:1]); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadChainFile(p); err != nil || len(got) != 1 {
		t.Errorf("after rewrite: %d, %v", len(got), err)
	}
}

func TestReadChainFileErrors(t *testing.T) {
	c := mustSign(t, gateway(newKey(t)), newKey(t))
	block := string(EncodeChainPEM([]*Cert{c}))
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, msg string
	}{
		{"empty", "", "no \"VPCMESH CERTIFICATE\" block"},
		{"text before", "hello\n" + block, "line 1: text outside a PEM block"},
		{"text after", block + "\ntrailing words\n", fmt.Sprintf("line %d: text outside a PEM block", strings.Count(block, "\n")+2)},
		{"other block", strings.ReplaceAll(block, "VPCMESH CERTIFICATE", "CERTIFICATE"), `line 1: a "CERTIFICATE" block`},
		{"broken block", strings.Replace(block, "-----END", "-----BROKEN", 1), "line 1: broken PEM block"},
		{"bad certificate", "\n" + strings.Replace(block, block[40:44], "AAAA", 1), "certificate 1 (line 2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".pem")
			os.WriteFile(p, []byte(tc.content), 0o644)
			_, err := ReadChainFile(p)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), p+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want %s: ... %q", err, p, tc.msg)
			}
		})
	}
	if _, err := ReadChainFile(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("missing file: %v", err)
	}
}

// Key files are what `vpcmesh keygen` writes: base64 and a newline.
func TestKeyFiles(t *testing.T) {
	k := newKey(t)
	dir := t.TempDir()
	b64 := base64.StdEncoding.EncodeToString
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	priv, err := ReadPrivateKeyFile(write("signing.key", b64(k.Seed())+"\n"))
	if err != nil || !priv.Equal(k) {
		t.Errorf("private key: %v", err)
	}
	pk, err := ReadPublicKeyFile(write("signing.pub", b64(pub(k))+"\n"))
	if err != nil || !pk.Equal(pub(k)) {
		t.Errorf("public key: %v", err)
	}
	for _, tc := range []struct {
		read    func(string) error
		content string
		msg     string
	}{
		{func(p string) error { _, err := ReadPrivateKeyFile(p); return err }, b64(k) + "\n", "64 bytes (want the base64 of a 32-byte ed25519 seed"},
		{func(p string) error { _, err := ReadPrivateKeyFile(p); return err }, "not base64!\n", "not base64"},
		{func(p string) error { _, err := ReadPublicKeyFile(p); return err }, b64(pub(k)[:16]) + "\n", "16 bytes (want the base64 of a 32-byte ed25519 public key"},
	} {
		p := write("bad", tc.content)
		if err := tc.read(p); err == nil || !strings.Contains(err.Error(), p+": "+tc.msg) {
			t.Errorf("got %v, want %s: %s", err, p, tc.msg)
		}
	}
}
