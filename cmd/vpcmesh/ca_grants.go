package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vpcmesh/vpcmesh/discovery/cert"
)

// The root keeps a copy of every authority certificate it makes, in
// ROOT/authorities/NAME.crt, to check each new authority's share of the
// identities against the others': two authorities whose gateway names,
// site names or overlay ranges overlap could both sign one gateway's name,
// HA site or address, and gateways would resolve the clash by grant only
// as far as the grants differ.
const authoritiesDir = "authorities"

// grantOverlap says which part of b's share of the identities an authority
// recorded under rootDir already holds. b's own earlier record (the same
// name, made again) is no conflict.
func grantOverlap(rootDir string, b cert.Body) error {
	dir := filepath.Join(rootDir, authoritiesDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".crt") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		chain, err := cert.ReadChainFile(path)
		if err != nil {
			// A record that cannot be read would let an overlap through.
			return fmt.Errorf("the root's record of an authority: %w", err)
		}
		o := chain[0].Body
		if o.Name == b.Name {
			continue
		}
		if err := overlapsGrant(b, o); err != nil {
			return fmt.Errorf("%w, which authority %s holds (%s)", err, o.Name, path)
		}
	}
	return nil
}

// overlapsGrant names the first of b's name prefixes, site prefixes or
// overlay ranges that overlaps one of o's: a name prefix overlaps another
// when either starts with the other.
func overlapsGrant(b, o cert.Body) error {
	nested := func(p, q string) bool { return strings.HasPrefix(p, q) || strings.HasPrefix(q, p) }
	for _, f := range []struct {
		flag     string
		own, its []string
	}{{"--name-prefix", b.NamePrefixes, o.NamePrefixes}, {"--site-prefix", b.SitePrefixes, o.SitePrefixes}} {
		for _, p := range f.own {
			for _, q := range f.its {
				if nested(p, q) {
					return fmt.Errorf("%s %q overlaps %q", f.flag, p, q)
				}
			}
		}
	}
	for _, p := range b.Overlays {
		for _, q := range o.Overlays {
			if p.Overlaps(q) {
				return fmt.Errorf("--overlay %s overlaps %s", p, q)
			}
		}
	}
	return nil
}

// recordAuthority keeps the root's copy of an authority's certificate.
func recordAuthority(rootDir, name string, chain []*cert.Cert) error {
	dir := filepath.Join(rootDir, authoritiesDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return cert.WriteChainFile(filepath.Join(dir, name+".crt"), chain)
}
