package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
)

// Wire prefixes for exports with mapped = "auto" are allocated where the
// certificate is signed: the signer (the root, or a project authority)
// keeps a ledger of what it gave out in its directory, so the same export
// gets the same prefix every time it is signed again (deterministic), and
// no two exports it signed share one (no collisions). The root records
// each authority's prefixes in its ledger when it makes one, and an
// authority allocates only inside its own prefixes, so allocations of
// different signers never meet either.
const allocationsFile = "allocations.json"

// ledger is what a signer gave out: a key (gateway/site/project/cidr, or
// "authority/NAME") → the prefixes.
type ledger map[string][]netip.Prefix

func readLedger(dir string) (ledger, error) {
	b, err := os.ReadFile(filepath.Join(dir, allocationsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return ledger{}, nil
	}
	if err != nil {
		return nil, err
	}
	l := ledger{}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, allocationsFile), err)
	}
	return l, nil
}

func (l ledger) write(dir string) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, allocationsFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// holder names the key given a prefix that overlaps p, other than except.
func (l ledger) holder(p netip.Prefix, except string) (string, bool) {
	for _, k := range slices.Sorted(maps.Keys(l)) {
		if k != except && slices.ContainsFunc(l[k], p.Overlaps) {
			return k, true
		}
	}
	return "", false
}

// taken says whether p overlaps anything given to another key.
func (l ledger) taken(p netip.Prefix, except string) bool {
	_, ok := l.holder(p, except)
	return ok
}

// allocate gives every "auto" export of cfg its wire prefix, from regions
// (the pool, or an authority's prefixes inside it), and records it in the
// ledger of dir. It says what it allocated on w.
func allocate(cfg *configs.Config, dir string, regions []netip.Prefix, w io.Writer) error {
	l, err := readLedger(dir)
	if err != nil {
		return err
	}
	changed := false
	var failed []error
	// Prefixes the config maps by hand are recorded too, so that no
	// "auto" export of another gateway is given them. One inside an
	// authority's wire prefixes is refused: its gateways may announce it
	// too. (Another gateway's may be an HA partner's, and is let be.)
	for _, s := range cfg.Sites {
		for _, e := range s.Exports {
			key := fmt.Sprintf("%s/%s/%s/%s", cfg.Node.Name, s.Name, e.Project, e.CIDR)
			m := e.Mapped
			if m.Auto || !m.IsValid() {
				continue
			}
			if k, ok := l.holder(m.Prefix, key); ok && strings.HasPrefix(k, "authority/") {
				failed = append(failed, fmt.Errorf("%s: site %s: export of %s to %s: mapped = %q is inside %v, the wire prefixes of authority %s (%s)",
					cfg.Path, s.Name, e.CIDR, e.Project, m.Prefix, l[k], strings.TrimPrefix(k, "authority/"), filepath.Join(dir, allocationsFile)))
				continue
			}
			if !slices.Equal(l[key], []netip.Prefix{m.Prefix}) {
				l[key], changed = []netip.Prefix{m.Prefix}, true
			}
		}
	}
	cfg.ResolveAuto(func(site, project string, cidr netip.Prefix) (netip.Prefix, bool) {
		key := fmt.Sprintf("%s/%s/%s/%s", cfg.Node.Name, site, project, cidr)
		if ps := l[key]; len(ps) == 1 && ps[0].Bits() == cidr.Bits() {
			return ps[0], true
		}
		for _, r := range regions {
			if p, ok := firstFree(l, key, r, cidr.Bits()); ok {
				l[key] = []netip.Prefix{p}
				changed = true
				fmt.Fprintf(w, "allocated wire prefix %s to %s of site %s (project %s)\n", p, cidr, site, project)
				return p, true
			}
		}
		failed = append(failed, fmt.Errorf("%s: site %s: export of %s to %s: mapped = \"auto\", and no /%d is free in %v",
			cfg.Path, site, cidr, project, cidr.Bits(), regions))
		return netip.Prefix{}, false
	})
	if len(failed) > 0 {
		return errors.Join(failed...)
	}
	if changed {
		return l.write(dir)
	}
	return nil
}

// hasMapped says whether any export of cfg is mapped: its wire prefix is
// recorded, or allocated.
func hasMapped(cfg *configs.Config) bool {
	for _, s := range cfg.Sites {
		for _, e := range s.Exports {
			if e.Mapped.Auto || e.Mapped.IsValid() {
				return true
			}
		}
	}
	return false
}

// reservation is the root's ledger with an authority's wire prefixes
// recorded, refused when any overlaps a wire prefix the root gave to an
// export or another authority. Its real prefixes are not recorded: two
// projects' VPCs may share a CIDR.
func reservation(rootDir string, b cert.Body) (ledger, error) {
	l, err := readLedger(rootDir)
	if err != nil {
		return nil, err
	}
	key, flag, also := "authority/"+b.Name, "--wire", ""
	if len(b.Wires) == 0 {
		flag, also = "--prefix", " (a wire prefix too, as no --wire is given)"
	}
	for _, p := range b.WirePrefixes() {
		if k, ok := l.holder(p, key); ok {
			to := "the export " + k // gateway/site/project/cidr
			if name, ok := strings.CutPrefix(k, "authority/"); ok {
				to = "authority " + name
			}
			return nil, fmt.Errorf("%s %s%s overlaps %v, given to %s in %s", flag, p, also, l[k], to, filepath.Join(rootDir, allocationsFile))
		}
	}
	l[key] = b.WirePrefixes()
	return l, nil
}

// firstFree is the first prefix of length bits in r, in address order,
// that overlaps nothing given to another key.
func firstFree(l ledger, key string, r netip.Prefix, bits int) (netip.Prefix, bool) {
	if bits < r.Bits() || !r.Addr().Is4() {
		return netip.Prefix{}, false
	}
	step := uint64(1) << (32 - bits)
	start := uint64(ipv4Uint(r.Masked().Addr()))
	end := start + uint64(1)<<(32-r.Bits())
	for a := start; a < end; a += step {
		p := netip.PrefixFrom(uint32Addr(uint32(a)), bits)
		if !l.taken(p, key) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func ipv4Uint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uint32Addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// allocationRegions are where a signer allocates: the pool, or for an
// authority the parts of its prefixes inside the pool.
func allocationRegions(pool netip.Prefix, authority []netip.Prefix) []netip.Prefix {
	if authority == nil {
		return []netip.Prefix{pool}
	}
	var out []netip.Prefix
	for _, p := range authority {
		switch {
		case pool.Bits() <= p.Bits() && pool.Contains(p.Addr()):
			out = append(out, p)
		case p.Bits() <= pool.Bits() && p.Contains(pool.Addr()):
			out = append(out, pool)
		}
	}
	return out
}
