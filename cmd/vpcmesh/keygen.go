package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/tunnel"
)

func keygenCmd() *cobra.Command {
	var dir string
	var force bool
	cmd := &cobra.Command{
		Use:   "keygen [--dir DIR]",
		Short: "Write a gateway's WireGuard and signing key pairs (private keys 0600)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := newKeyFiles()
			if err != nil {
				return err
			}
			if err := writeKeyFiles(dir, files, force); err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", filepath.Join(dir, f.name), describe(f))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "/etc/vpcmesh", "directory for the key files")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing key files")
	return cmd
}

type keyFile struct {
	name    string
	content string
	mode    os.FileMode
}

func describe(f keyFile) string {
	if f.mode == 0o600 {
		return "private (0600)"
	}
	return f.content
}

// newKeyFiles makes the WireGuard key pair (the format `wg genkey` uses)
// and an ed25519 signing key (base64 of its 32-byte seed).
func newKeyFiles() ([]keyFile, error) {
	wg, err := tunnel.GenerateKey()
	if err != nil {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	b64 := base64.StdEncoding.EncodeToString
	return []keyFile{
		{"wireguard.key", wg.String(), 0o600},
		{"wireguard.pub", wg.Public().String(), 0o644},
		{"signing.key", b64(priv.Seed()), 0o600},
		{"signing.pub", b64(pub), 0o644},
	}, nil
}

// writeKeyFiles refuses to overwrite keys unless forced: a lost private key
// means every peer must be reconfigured.
func writeKeyFiles(dir string, files []keyFile, force bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("key dir: %w", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	// Check every file before writing any, so a refusal leaves no half set.
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if _, err := os.Stat(p); err == nil && !force {
			return fmt.Errorf("%s exists; use --force to replace it", p)
		}
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.name), f, flags); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(p string, f keyFile, flags int) error {
	fh, err := os.OpenFile(p, flags, f.mode)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	// OpenFile's mode is masked by umask and ignored for existing files.
	err = errors.Join(fh.Chmod(f.mode), writeString(fh, f.content+"\n"), fh.Close())
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

func writeString(fh *os.File, s string) error {
	_, err := fh.WriteString(s)
	return err
}
