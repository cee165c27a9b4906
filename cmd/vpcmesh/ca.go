package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

// clockSkew backdates a new certificate, so that a gateway whose clock is a
// little behind the signer's accepts it at once.
const clockSkew = 5 * time.Minute

// expiryWarning is how long before expiry `ca show` warns: time to re-sign
// every gateway before the mesh breaks.
const expiryWarning = 30 * 24 * time.Hour

func caCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca init|authority|sign|revoke|show",
		Short: "Mesh trust: make the root key, sign gateway certificates, show them",
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("ca: unknown command %q: use init, authority, sign, revoke or show", args[0])}
			}
			return usageError{errors.New("ca: give a command: init, authority, sign, revoke or show")}
		},
	}
	cmd.AddCommand(caInitCmd(), caAuthorityCmd(), caSignCmd(), caRevokeCmd(), caShowCmd())
	return cmd
}

func caInitCmd() *cobra.Command {
	var dir string
	var force bool
	cmd := &cobra.Command{
		Use:   "init --dir DIR [--force]",
		Short: "Make the mesh's root key: DIR/root.key (0600, keep it offline) and DIR/root.pub",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageError{errors.New("ca init: give --dir DIR, where the root key will live (not on a gateway)")}
			}
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return fmt.Errorf("generate root key: %w", err)
			}
			b64 := base64.StdEncoding.EncodeToString
			files := []keyFile{
				{"root.key", b64(priv.Seed()), 0o600},
				{"root.pub", b64(pub), 0o644},
			}
			if err := writeKeyFiles(dir, files, force); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "root key id %s\n", cert.KeyID(pub))
			fmt.Fprintf(out, "%s\tprivate (0600): keep it offline; it signs every gateway's certificate\n", filepath.Join(dir, "root.key"))
			fmt.Fprintf(out, "%s\tcopy to every gateway and set mesh.root_file to its path\n", filepath.Join(dir, "root.pub"))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for root.key and root.pub (required)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing root key (every gateway must then be signed again)")
	return cmd
}

type signFlags struct {
	rootKey, authority, config, wgPub, signingPub, out string
	validFor                                           time.Duration
}

func caSignCmd() *cobra.Command {
	var f signFlags
	cmd := &cobra.Command{
		Use:   "sign --root-key FILE | --authority DIR  -c GATEWAY.toml [-o FILE]",
		Short: "Sign a gateway's certificate from its config: name, keys, overlay address, sites and exports",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case (f.rootKey == "") == (f.authority == ""):
				return usageError{errors.New("ca sign: give --root-key FILE, or --authority DIR of a project authority")}
			case f.config == "":
				return usageError{errors.New("ca sign: give -c GATEWAY.toml, the gateway's config")}
			case f.validFor <= 0:
				return usageError{fmt.Errorf("ca sign: --valid-for %v: must be positive", f.validFor)}
			}
			return caSign(cmd, f, time.Now())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rootKey, "root-key", "", "the mesh's root private key (from ca init)")
	fl.StringVar(&f.authority, "authority", "", "sign as this project authority (a directory from ca authority) instead of the root")
	fl.StringVarP(&f.config, "config", "c", "", "the gateway's config file")
	fl.StringVar(&f.wgPub, "wireguard-pub", "", "WireGuard public key file (default: node.private_key_file with .key replaced by .pub)")
	fl.StringVar(&f.signingPub, "signing-pub", "", "signing public key file (default: node.signing_key_file with .key replaced by .pub)")
	fl.DurationVar(&f.validFor, "valid-for", 365*24*time.Hour, "how long the certificate is valid")
	fl.StringVarP(&f.out, "output", "o", "", "chain file to write (default: node.certificate_file)")
	return cmd
}

func caSign(cmd *cobra.Command, f signFlags, now time.Time) error {
	cfg, err := configs.Load(f.config)
	if err != nil {
		return err
	}
	out := f.out
	if out == "" {
		out = cfg.Node.CertificateFile
	}
	if out == "" {
		return fmt.Errorf("%s: node.certificate_file is not set: set it, or give -o FILE", f.config)
	}
	wgPath, err := pubKeyPath(f.config, f.wgPub, "node.private_key_file", cfg.Node.PrivateKeyFile, "--wireguard-pub")
	if err != nil {
		return err
	}
	wg, err := readWireGuardPub(wgPath)
	if err != nil {
		return err
	}
	sigPath, err := pubKeyPath(f.config, f.signingPub, "node.signing_key_file", cfg.Node.SigningKeyFile, "--signing-pub")
	if err != nil {
		return err
	}
	signing, err := cert.ReadPublicKeyFile(sigPath)
	if err != nil {
		return err
	}
	iss, err := loadIssuer(f)
	if err != nil {
		return err
	}
	if hasMapped(cfg) {
		dir, authority := filepath.Dir(f.rootKey), []netip.Prefix(nil)
		if iss.chain != nil {
			dir, authority = f.authority, iss.chain[0].Body.WirePrefixes()
		}
		if err := allocate(cfg, dir, allocationRegions(cfg.Mesh.MappedPool, authority), cmd.OutOrStdout()); err != nil {
			return err
		}
	}
	body := gatewayBody(cfg, wg, signing)
	body.NotBefore, body.NotAfter = now.Add(-clockSkew), now.Add(f.validFor)
	c, err := cert.Sign(body, iss.key)
	if err != nil {
		return err
	}
	chain := append([]*cert.Cert{c}, iss.chain...)
	// What is written must verify where it is used: against the root, and
	// within an authority's projects and prefixes.
	if err := verifyIssued(f, cfg, iss, chain, now); err != nil {
		return err
	}
	if err := cert.WriteChainFile(out, chain); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "signed gateway %q of mesh %q with %s, valid until %s\n", c.Body.Name, c.Body.Mesh, iss.desc, c.Body.NotAfter.Format(time.RFC3339))
	fmt.Fprintf(w, "wrote %s\n", out)
	if !cfg.Gossip() {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: %s has no mesh.root_file: the gateway uses its certificate only in gossip mode\n", f.config)
	}
	return nil
}

// verifyIssued checks a new chain against the mesh root: the root's own
// key, or for an authority the config's mesh.root_file.
func verifyIssued(f signFlags, cfg *configs.Config, iss issuer, chain []*cert.Cert, now time.Time) error {
	var root ed25519.PublicKey
	if iss.chain == nil {
		root = iss.key.Public().(ed25519.PublicKey)
	} else {
		if cfg.Mesh.RootFile == "" {
			return fmt.Errorf("%s: mesh.root_file is not set: signing as an authority needs the root public key to check the chain", f.config)
		}
		var err error
		if root, err = cert.ReadPublicKeyFile(cfg.Mesh.RootFile); err != nil {
			return fmt.Errorf("%s: mesh.root_file: %w", f.config, err)
		}
	}
	if _, err := (cert.Root{Key: root}).Verify(chain, now); err != nil {
		return fmt.Errorf("the signed certificate does not verify: %w", err)
	}
	return nil
}

// readRootKey reads the root's private key. A public key file has the same
// format (base64 of 32 bytes) and would sign with an unrelated key, so a
// .pub name is refused and the root.pub beside root.key, if any, must match.
func readRootKey(path string) (ed25519.PrivateKey, error) {
	if strings.HasSuffix(path, ".pub") {
		return nil, fmt.Errorf("--root-key %s: a public key file; give the private key (root.key)", path)
	}
	priv, err := cert.ReadPrivateKeyFile(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".key") {
		return priv, nil
	}
	pubPath := strings.TrimSuffix(path, ".key") + ".pub"
	pub, err := cert.ReadPublicKeyFile(pubPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return priv, nil
	case err != nil:
		return nil, err
	case !pub.Equal(priv.Public()):
		return nil, fmt.Errorf("--root-key %s does not match %s beside it (key %s, not %s)", path, pubPath, cert.KeyID(priv.Public().(ed25519.PublicKey)), cert.KeyID(pub))
	}
	return priv, nil
}

// gatewayBody is what a gateway's certificate binds, from its config.
func gatewayBody(cfg *configs.Config, wg tunnel.Key, signing ed25519.PublicKey) cert.Body {
	b := cert.Body{
		Version:      cert.Version,
		Kind:         cert.KindGateway,
		Mesh:         cfg.Mesh.Name,
		Name:         cfg.Node.Name,
		WireGuardKey: wg.String(),
		SigningKey:   signing,
		Overlay:      cfg.Node.OverlayAddress,
		Relay:        cfg.Node.Relay,
	}
	for _, s := range cfg.Sites {
		site := cert.Site{Name: s.Name, CIDRs: s.CIDRs, Priority: s.Priority}
		for _, e := range s.Exports {
			site.Exports = append(site.Exports, cert.Export{Project: e.Project, CIDR: e.CIDR, Wire: e.Wire()})
		}
		for _, m := range s.Members {
			if !slices.Contains(site.Members, m.Project) {
				site.Members = append(site.Members, m.Project)
			}
		}
		b.Sites = append(b.Sites, site)
	}
	return b
}

// pubKeyPath is the public key file to read: the flag's, or the one keygen
// writes beside the private key the config names.
func pubKeyPath(config, flagValue, field, private, flag string) (string, error) {
	switch {
	case flagValue != "":
		return flagValue, nil
	case private == "":
		return "", fmt.Errorf("%s: %s is not set: set it, or give %s FILE", config, field, flag)
	case !strings.HasSuffix(private, ".key"):
		return "", fmt.Errorf("%s: %s %q does not end in .key, so its public key cannot be guessed: give %s FILE", config, field, private, flag)
	}
	return strings.TrimSuffix(private, ".key") + ".pub", nil
}

func readWireGuardPub(path string) (tunnel.Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return tunnel.Key{}, fmt.Errorf("WireGuard public key: %w", err)
	}
	k, err := tunnel.ParseKey(string(data))
	if err != nil {
		return tunnel.Key{}, fmt.Errorf("%s: %w (as `wg pubkey` prints)", path, err)
	}
	return k, nil
}

func caShowCmd() *cobra.Command {
	var rootFile string
	cmd := &cobra.Command{
		Use:   "show FILE [--root ROOT.pub]",
		Short: "Print a certificate chain; with --root, verify it too (exit 1 when it does not verify)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("ca show: give one certificate chain FILE")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return caShow(cmd.OutOrStdout(), args[0], rootFile, time.Now())
		},
	}
	cmd.Flags().StringVar(&rootFile, "root", "", "the mesh's root public key (root.pub) to verify the chain against")
	return cmd
}

func caShow(w io.Writer, path, rootFile string, now time.Time) error {
	chain, err := cert.ReadChainFile(path)
	if err != nil {
		return err
	}
	var root cert.Root
	if rootFile != "" {
		if root.Key, err = cert.ReadPublicKeyFile(rootFile); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "%s: %d certificate(s), leaf first\n", path, len(chain))
	for _, c := range chain {
		printCert(w, c, root, now)
	}
	if rootFile == "" {
		return nil
	}
	if _, err := root.Verify(chain, now); err != nil {
		fmt.Fprintf(w, "verify against root key %s: FAILED\n", cert.KeyID(root.Key))
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(w, "verify against root key %s: OK\n", cert.KeyID(root.Key))
	return nil
}

func printCert(w io.Writer, c *cert.Cert, root cert.Root, now time.Time) {
	b := c.Body
	fmt.Fprintf(w, "\n%s %q\n", b.Kind, b.Name)
	line := func(key, format string, args ...any) {
		fmt.Fprintf(w, "  %-10s %s\n", key, fmt.Sprintf(format, args...))
	}
	line("mesh", "%s", b.Mesh)
	if b.Kind == cert.KindGateway {
		line("overlay", "%s", b.Overlay)
		line("wireguard", "%s", b.WireGuardKey)
	}
	line("signing", "key %s", cert.KeyID(b.SigningKey))
	for _, s := range b.Sites {
		line("site", "%s  %s  priority %d", s.Name, joinAny(s.CIDRs), s.Priority)
		if len(s.Members) > 0 {
			line("  members", "of project %s", strings.Join(s.Members, ", "))
		}
		for _, e := range s.Exports {
			wire := ""
			if e.Wire != e.CIDR {
				wire = " as " + e.Wire.String()
			}
			line("  export", "%s to project %s", e.CIDR.String()+wire, e.Project)
		}
	}
	if b.Kind == cert.KindAuthority {
		line("projects", "%s", joinAny(b.Projects))
		line("prefixes", "%s", joinAny(b.Prefixes))
		if len(b.Wires) > 0 {
			line("wires", "%s", joinAny(b.Wires))
		}
		line("names", "%s", orNone(prefixed(b.NamePrefixes)))
		line("sites", "%s", orNone(prefixed(b.SitePrefixes)))
		line("overlays", "%s", orNone(joinAny(b.Overlays)))
	}
	if b.Relay {
		line("relay", "yes")
	}
	line("valid", "%s to %s (%s)", b.NotBefore.Format(time.RFC3339), b.NotAfter.Format(time.RFC3339), validity(c, now))
	issuer := "key " + b.Issuer
	if root.Key != nil && b.Issuer == cert.KeyID(root.Key) {
		issuer += " (the root)"
	}
	line("issuer", "%s", issuer)
}

// validity says where now is in the certificate's window: in days, or in
// hours and minutes when under a day.
func validity(c *cert.Cert, now time.Time) string {
	b := c.Body
	switch {
	case now.Before(b.NotBefore):
		return "NOT YET VALID: starts in " + span(b.NotBefore.Sub(now))
	case now.After(b.NotAfter):
		return "EXPIRED " + span(now.Sub(b.NotAfter)) + " ago"
	case cert.ExpiresSoon(c, now, expiryWarning):
		return "EXPIRES SOON: in " + span(b.NotAfter.Sub(now)) + "; sign it again"
	}
	return "expires in " + span(b.NotAfter.Sub(now))
}

// span writes d in days, rounded up, or under a day in hours and minutes.
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 24*time.Hour:
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%d days", int(math.Ceil(d.Hours()/24)))
}

func joinAny[T any](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// prefixed writes name prefixes as patterns: "alpha-*".
func prefixed(ps []string) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p + "*"
	}
	return strings.Join(out, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none (signs no gateway)"
	}
	return s
}
