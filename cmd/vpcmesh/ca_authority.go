package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/discovery/cert"
)

// A project authority (docs/ARCHITECTURE.md, The model: trust chain) holds a
// key the root certified for some projects and prefixes; with it, a project
// signs its own gateways, without the root key. Its directory holds
// authority.key (0600), authority.pub and authority.crt (its chain up to the
// root).
const (
	authorityKeyFile  = "authority.key"
	authorityPubFile  = "authority.pub"
	authorityCertFile = "authority.crt"
)

type authorityFlags struct {
	rootKey, mesh, name, dir   string
	projects, prefixes, wires  []string
	namePrefixes, sitePrefixes []string
	overlays                   []string
	relay                      bool
	validFor                   time.Duration
	force                      bool
}

func caAuthorityCmd() *cobra.Command {
	var f authorityFlags
	cmd := &cobra.Command{
		Use:   "authority --root-key FILE --mesh NAME --name NAME --project P --prefix CIDR --wire CIDR --name-prefix P- --site-prefix P- --overlay CIDR --dir DIR",
		Short: "Make a project authority: a key that signs gateways of its projects, within its prefixes, names, sites and overlay range, without the root key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := f.body(time.Now())
			if err != nil {
				return err
			}
			return caAuthority(cmd, f, body)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rootKey, "root-key", "", "the mesh's root private key (from ca init)")
	fl.StringVar(&f.mesh, "mesh", "", "the mesh's name (mesh.name in the gateways' configs)")
	fl.StringVar(&f.name, "name", "", "the authority's name, e.g. alpha-ca")
	fl.StringArrayVar(&f.projects, "project", nil, "a project it may sign for (repeatable)")
	fl.StringArrayVar(&f.prefixes, "prefix", nil, "a real prefix its sites may use; without --wire, a wire prefix too (repeatable)")
	fl.StringArrayVar(&f.wires, "wire", nil, "a wire prefix its gateways may announce, reserved for it alone; its --prefix may then overlap another project's (repeatable)")
	fl.StringArrayVar(&f.namePrefixes, "name-prefix", nil, "gateway names it signs start with this, e.g. alpha- (repeatable)")
	fl.StringArrayVar(&f.sitePrefixes, "site-prefix", nil, "site names (HA groups) it signs start with this (repeatable)")
	fl.StringArrayVar(&f.overlays, "overlay", nil, "an overlay sub-range its gateways' addresses come from, e.g. 100.96.8.0/24 (repeatable)")
	fl.BoolVar(&f.relay, "relay", false, "it may sign relay gateways")
	fl.StringVar(&f.dir, "dir", "", "directory for authority.key, authority.pub and authority.crt (for the project's holder)")
	fl.DurationVar(&f.validFor, "valid-for", 365*24*time.Hour, "how long the authority is valid")
	fl.BoolVar(&f.force, "force", false, "replace an existing authority key in DIR")
	return cmd
}

// body checks the flags and makes the authority's certificate body, its
// signing key left to fill.
func (f authorityFlags) body(now time.Time) (cert.Body, error) {
	switch {
	case f.rootKey == "":
		return cert.Body{}, usageError{errors.New("ca authority: give --root-key FILE")}
	case f.mesh == "" || f.name == "":
		return cert.Body{}, usageError{errors.New("ca authority: give --mesh NAME and --name NAME")}
	case len(f.projects) == 0 || len(f.prefixes) == 0:
		return cert.Body{}, usageError{errors.New("ca authority: give at least one --project and one --prefix")}
	case len(f.namePrefixes) == 0 || len(f.sitePrefixes) == 0 || len(f.overlays) == 0:
		// Without its share of names, sites and overlay addresses an
		// authority could sign another project's gateway's identity.
		return cert.Body{}, usageError{errors.New("ca authority: give at least one --name-prefix, --site-prefix and --overlay: the gateway names, site names and overlay addresses it may sign")}
	case f.dir == "":
		return cert.Body{}, usageError{errors.New("ca authority: give --dir DIR for the authority's key and certificate")}
	case f.validFor <= 0:
		return cert.Body{}, usageError{fmt.Errorf("ca authority: --valid-for %v: must be positive", f.validFor)}
	}
	b := cert.Body{Version: cert.Version, Kind: cert.KindAuthority, Mesh: f.mesh, Name: f.name,
		Projects: f.projects, NamePrefixes: f.namePrefixes, SitePrefixes: f.sitePrefixes, Relay: f.relay,
		NotBefore: now.Add(-clockSkew), NotAfter: now.Add(f.validFor)}
	var err error
	if b.Prefixes, err = parseNetworks("--prefix", "10.7.0.0/16", f.prefixes); err != nil {
		return cert.Body{}, err
	}
	if b.Wires, err = parseNetworks("--wire", "100.100.16.0/20", f.wires); err != nil {
		return cert.Body{}, err
	}
	if b.Overlays, err = parseNetworks("--overlay", "100.96.8.0/24", f.overlays); err != nil {
		return cert.Body{}, err
	}
	return b, nil
}

// parseNetworks reads the networks given to flag.
func parseNetworks(flag, example string, ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil || p != p.Masked() {
			return nil, usageError{fmt.Errorf("ca authority: %s %q: want a network like %s", flag, s, example)}
		}
		out = append(out, p)
	}
	return out, nil
}

func caAuthority(cmd *cobra.Command, f authorityFlags, body cert.Body) error {
	root, err := readRootKey(f.rootKey)
	if err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate authority key: %w", err)
	}
	body.SigningKey = pub
	c, err := cert.Sign(body, root)
	if err != nil {
		return err
	}
	chain := []*cert.Cert{c}
	if _, err := (cert.Root{Key: root.Public().(ed25519.PublicKey)}).Verify(chain, time.Now()); err != nil {
		return fmt.Errorf("signed authority does not verify: %w", err)
	}
	// The root allocates no wire prefix inside an authority's wire
	// prefixes, which the authority allocates from (mapped = "auto"), and
	// gives them to no other authority. Checked before anything is written.
	rootDir := filepath.Dir(f.rootKey)
	l, err := reservation(rootDir, body)
	if err != nil {
		return err
	}
	if err := grantOverlap(rootDir, body); err != nil {
		return err
	}
	pem := cert.EncodeChainPEM(chain)
	b64 := base64.StdEncoding.EncodeToString
	files := []keyFile{
		{authorityKeyFile, b64(priv.Seed()), 0o600},
		{authorityPubFile, b64(pub), 0o644},
		{authorityCertFile, string(pem), 0o644},
	}
	if err := writeKeyFiles(f.dir, files, f.force); err != nil {
		return err
	}
	if err := errors.Join(l.write(rootDir), recordAuthority(rootDir, body.Name, chain)); err != nil {
		return fmt.Errorf("authority written to %s, but not recorded in %s: %w; run the command again with --force", f.dir, rootDir, err)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "authority %q of mesh %q for projects %v within %v, wire prefixes %v, gateways %s on sites %s in %v, key id %s, valid until %s\n",
		c.Body.Name, c.Body.Mesh, c.Body.Projects, c.Body.Prefixes, c.Body.WirePrefixes(), prefixed(c.Body.NamePrefixes), prefixed(c.Body.SitePrefixes),
		c.Body.Overlays, cert.KeyID(pub), c.Body.NotAfter.Format(time.RFC3339))
	fmt.Fprintf(w, "%s\tgive the directory to the project: `vpcmesh ca sign --authority %s -c GATEWAY.toml`\n", f.dir, f.dir)
	return nil
}

// issuer is what signs a gateway: the root key, or an authority's key with
// the chain that certifies it.
type issuer struct {
	key   ed25519.PrivateKey
	chain []*cert.Cert // above the gateway's certificate; empty for the root
	desc  string
}

func loadIssuer(f signFlags) (issuer, error) {
	if f.authority == "" {
		root, err := readRootKey(f.rootKey)
		if err != nil {
			return issuer{}, err
		}
		return issuer{key: root, desc: "root key " + cert.KeyID(root.Public().(ed25519.PublicKey))}, nil
	}
	key, err := cert.ReadPrivateKeyFile(filepath.Join(f.authority, authorityKeyFile))
	if err != nil {
		return issuer{}, err
	}
	chain, err := cert.ReadChainFile(filepath.Join(f.authority, authorityCertFile))
	if err != nil {
		return issuer{}, err
	}
	if !chain[0].Body.SigningKey.Equal(key.Public()) {
		return issuer{}, fmt.Errorf("--authority %s: %s does not certify %s", f.authority, authorityCertFile, authorityKeyFile)
	}
	return issuer{key: key, chain: chain, desc: fmt.Sprintf("authority %q", chain[0].Body.Name)}, nil
}
