package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A project authority signs gateways of its projects within its prefixes,
// without the root key; beyond them it signs nothing.
func TestCAAuthority(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	caDir, authDir, gwDir := filepath.Join(dir, "ca"), filepath.Join(dir, "alpha-ca"), filepath.Join(dir, "gw")
	mustRun(t, bin, "ca", "init", "--dir", caDir)
	out := mustRun(t, bin, "ca", "authority", "--root-key", filepath.Join(caDir, "root.key"), "--mesh", "acme",
		"--name", "alpha-ca", "--project", "alpha", "--prefix", "10.7.0.0/16",
		"--name-prefix", "vpc-", "--site-prefix", "vpc-", "--overlay", "100.96.0.0/28", "--dir", authDir)
	if !strings.Contains(out, `authority "alpha-ca" of mesh "acme" for projects [alpha] within [10.7.0.0/16], wire prefixes [10.7.0.0/16], gateways vpc-* on sites vpc-* in [100.96.0.0/28]`) {
		t.Errorf("ca authority output:\n%s", out)
	}
	for name, mode := range map[string]os.FileMode{"authority.key": 0o600, "authority.pub": 0o644, "authority.crt": 0o644} {
		if fi, err := os.Stat(filepath.Join(authDir, name)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, want mode %v", name, err, mode)
		}
	}

	mustRun(t, bin, "keygen", "--dir", gwDir)
	copyFile(t, filepath.Join(caDir, "root.pub"), filepath.Join(gwDir, "root.pub"))
	src, err := os.ReadFile("../../configs/examples/gossip-gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, edit func(string) string) string {
		doc := edit(strings.ReplaceAll(string(src), "/etc/vpcmesh/", gwDir+"/"))
		p := filepath.Join(gwDir, name)
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	same := func(s string) string { return s }
	config := write("gw.toml", same)

	out = mustRun(t, bin, "ca", "sign", "--authority", authDir, "-c", config)
	if !strings.Contains(out, `with authority "alpha-ca"`) {
		t.Errorf("ca sign output:\n%s", out)
	}
	show := mustRun(t, bin, "ca", "show", filepath.Join(gwDir, "gateway.crt"), "--root", filepath.Join(gwDir, "root.pub"))
	if !strings.Contains(show, "alpha-ca") || !strings.Contains(show, "vpc-c-gw") {
		t.Errorf("ca show of the chain:\n%s", show)
	}

	for _, c := range []struct {
		name, from, to, want string
	}{
		{"another project", `project = "alpha"`, `project = "beta"`, `project "beta" is not one of [alpha]`},
		{"outside its prefixes", `10.7.0.0/24`, `10.8.0.0/24`, `outside the prefixes [10.7.0.0/16]`},
		// Another gateway's identity: its name, overlay address, HA site.
		{"another name", `name = "vpc-c-gw"`, `name = "gw-1"`, `name "gw-1" does not start with any of ["vpc-"]`},
		{"another overlay address", `overlay_address = "100.96.0.7"`, `overlay_address = "100.96.0.77"`, `overlay address 100.96.0.77 is outside [100.96.0.0/28]`},
		{"another site", `name = "vpc-c"`, `name = "hq"`, `site "hq" does not start with any of ["vpc-"]`},
		{"the relay role", `overlay_address = "100.96.0.7"`, "overlay_address = \"100.96.0.7\"\nrelay = true", "the relay role is not granted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := write(strings.ReplaceAll(c.name, " ", "-")+".toml", func(s string) string { return strings.ReplaceAll(s, c.from, c.to) })
			outFile := filepath.Join(gwDir, "refused.crt")
			_, errOut, code := run(t, bin, "ca", "sign", "--authority", authDir, "-c", bad, "-o", outFile)
			if code != exitFailure || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, exitFailure, c.want, errOut)
			}
			if _, err := os.Stat(outFile); err == nil {
				t.Error("a refused certificate was written")
			}
		})
	}
	// An authority needs its share of identities.
	if _, errOut, code := run(t, bin, "ca", "authority", "--root-key", filepath.Join(caDir, "root.key"), "--mesh", "acme",
		"--name", "beta-ca", "--project", "beta", "--prefix", "10.9.0.0/16", "--dir", filepath.Join(dir, "beta-ca")); code != exitUsage || !strings.Contains(errOut, "--name-prefix") {
		t.Errorf("an authority without names, sites and overlays: exit %d, want %d\n%s", code, exitUsage, errOut)
	}
	if _, errOut, code := run(t, bin, "ca", "sign", "--authority", authDir, "--root-key", filepath.Join(caDir, "root.key"), "-c", config); code != exitUsage {
		t.Errorf("both --authority and --root-key: exit %d, want %d\n%s", code, exitUsage, errOut)
	}

	// The authority revokes the gateway it signed, without the root key;
	// a gateway the root signed is not its to revoke.
	list := filepath.Join(dir, "alpha-revoked.pem")
	out = mustRun(t, bin, "ca", "revoke", "--authority", authDir, "--mesh", "acme", "-o", list, filepath.Join(gwDir, "gateway.crt"))
	if !strings.Contains(out, `revoked gateway "vpc-c-gw"`) || !strings.Contains(out, `revocation list 1 of mesh "acme" by authority "alpha-ca", 1 certificates`) {
		t.Errorf("ca revoke --authority output:\n%s", out)
	}
	rootSigned := filepath.Join(gwDir, "root-signed.crt")
	mustRun(t, bin, "ca", "sign", "--root-key", filepath.Join(caDir, "root.key"), "-c", config, "-o", rootSigned)
	if _, errOut, code := run(t, bin, "ca", "revoke", "--authority", authDir, "--mesh", "acme", "-o", list, rootSigned); code != exitFailure ||
		!strings.Contains(errOut, `gateway "vpc-c-gw" was not signed by authority "alpha-ca": only its issuer or the mesh root can revoke it`) {
		t.Errorf("authority revoking a root-signed gateway: exit %d\n%s", code, errOut)
	}
}

// newRoot builds the binary and makes a root in a temporary directory.
func newRoot(t *testing.T) (bin, dir, caDir, rootKey string) {
	bin, dir = buildBinary(t), t.TempDir()
	caDir = filepath.Join(dir, "ca")
	mustRun(t, bin, "ca", "init", "--dir", caDir)
	return bin, dir, caDir, filepath.Join(caDir, "root.key")
}

// Two projects whose VPCs both use 10.7.0.0/16 get an authority each: their
// real prefixes overlap, their wire prefixes (--wire) are theirs alone.
// Each signs its gateway, whose export is mapped inside its own wire
// prefixes; a third authority asking for wire prefixes already given is
// refused, naming their holder, and nothing of it is written.
func TestCAAuthoritiesShareARealPrefix(t *testing.T) {
	bin, dir, caDir, rootKey := newRoot(t)
	src, err := os.ReadFile("../../configs/examples/gossip-gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range []struct{ project, wire, overlay, want string }{
		{"alpha", "100.100.0.0/20", "100.96.0.7", "100.100.0.0/24"},
		{"beta", "100.100.16.0/20", "100.96.1.7", "100.100.16.0/24"},
	} {
		authDir, gwDir := filepath.Join(dir, p.project+"-ca"), filepath.Join(dir, p.project+"-gw")
		mustRun(t, bin, "ca", "authority", "--root-key", rootKey, "--mesh", "acme", "--name", p.project+"-ca", "--project", p.project,
			"--prefix", "10.7.0.0/16", "--wire", p.wire, "--name-prefix", p.project+"-", "--site-prefix", p.project+"-",
			"--overlay", strings.TrimSuffix(p.overlay, ".7")+".0/24", "--dir", authDir)
		mustRun(t, bin, "keygen", "--dir", gwDir)
		copyFile(t, filepath.Join(caDir, "root.pub"), filepath.Join(gwDir, "root.pub"))
		doc := strings.NewReplacer("/etc/vpcmesh/", gwDir+"/", `name = "vpc-c-gw"`, `name = "`+p.project+`-gw"`,
			`name = "vpc-c"`, `name = "`+p.project+`-vpc"`, `overlay_address = "100.96.0.7"`, `overlay_address = "`+p.overlay+`"`,
			`project = "alpha"`, `project = "`+p.project+`"`, `dns_zones = ["vpc-c.alpha.internal"]`, ``).Replace(string(src))
		config := filepath.Join(gwDir, "gw.toml")
		if err := os.WriteFile(config, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		// Unmapped, the real prefix would be its wire prefix: refused.
		if _, errOut, code := run(t, bin, "ca", "sign", "--authority", authDir, "-c", config); code != exitFailure ||
			!strings.Contains(errOut, "export wire 10.7.0.0/24 is outside the wire prefixes ["+p.wire+"]") {
			t.Errorf("%s: an unmapped export of a shared real prefix: exit %d\n%s", p.project, code, errOut)
		}
		doc = strings.Replace(doc, `cidr = "10.7.0.0/24"`, "cidr = \"10.7.0.0/24\"\nmapped = \"auto\"", 1)
		if err := os.WriteFile(config, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if out := mustRun(t, bin, "ca", "sign", "--authority", authDir, "-c", config); !strings.Contains(out, "allocated wire prefix "+p.want+" to 10.7.0.0/24") {
			t.Errorf("%s's gateway (authority %d): ca sign output:\n%s", p.project, i, out)
		}
		mustRun(t, bin, "ca", "show", filepath.Join(gwDir, "gateway.crt"), "--root", filepath.Join(gwDir, "root.pub"))
	}
	ledger, err := os.ReadFile(filepath.Join(caDir, "allocations.json"))
	if err != nil {
		t.Fatal(err)
	}
	gammaDir := filepath.Join(dir, "gamma-ca")
	_, errOut, code := run(t, bin, "ca", "authority", "--root-key", rootKey, "--mesh", "acme", "--name", "gamma-ca", "--project", "gamma",
		"--prefix", "10.7.0.0/16", "--wire", "100.100.8.0/21", "--name-prefix", "gamma-", "--site-prefix", "gamma-", "--overlay", "100.96.2.0/24", "--dir", gammaDir)
	if code != exitFailure || !strings.Contains(errOut, "--wire 100.100.8.0/21 overlaps [100.100.0.0/20], given to authority alpha-ca in "+filepath.Join(caDir, "allocations.json")) {
		t.Errorf("an authority over another's wire prefixes: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(gammaDir); err == nil {
		t.Error("the refused authority's directory was written")
	}
	if after, err := os.ReadFile(filepath.Join(caDir, "allocations.json")); err != nil || string(after) != string(ledger) {
		t.Errorf("the refused authority changed the root's ledger: %v\n%s", err, after)
	}
}

// Two authorities never share gateway names, site names or overlay
// addresses: one whose share overlaps another's is refused, naming the
// holder, and nothing of it is written; a disjoint one, or the same
// authority made again, is made.
func TestCAAuthorityGrantsDoNotOverlap(t *testing.T) {
	bin, dir, caDir, rootKey := newRoot(t)
	authority := func(name, namePrefix, sitePrefix, overlay string, extra ...string) (string, int) {
		args := append([]string{"ca", "authority", "--root-key", rootKey, "--mesh", "acme", "--name", name, "--project", name,
			"--prefix", "10.7.0.0/16", "--name-prefix", namePrefix, "--site-prefix", sitePrefix, "--overlay", overlay,
			"--dir", filepath.Join(dir, name)}, extra...)
		_, errOut, code := run(t, bin, args...)
		return errOut, code
	}
	if errOut, code := authority("alpha", "alpha-", "alpha-", "100.96.8.0/24", "--wire", "100.100.0.0/20"); code != 0 {
		t.Fatalf("alpha: exit %d\n%s", code, errOut)
	}
	record := filepath.Join(caDir, "authorities", "alpha.crt")
	before, err := os.ReadFile(filepath.Join(caDir, "allocations.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ what, namePrefix, sitePrefix, overlay, want string }{
		{"a name prefix inside alpha's", "alpha-x-", "beta-", "100.96.9.0/24", `--name-prefix "alpha-x-" overlaps "alpha-"`},
		{"a name prefix around alpha's", "al", "beta-", "100.96.9.0/24", `--name-prefix "al" overlaps "alpha-"`},
		{"a site prefix inside alpha's", "beta-", "alpha-hq", "100.96.9.0/24", `--site-prefix "alpha-hq" overlaps "alpha-"`},
		{"an overlay range inside alpha's", "beta-", "beta-", "100.96.8.128/25", "--overlay 100.96.8.128/25 overlaps 100.96.8.0/24"},
	} {
		errOut, code := authority("beta", c.namePrefix, c.sitePrefix, c.overlay, "--wire", "100.100.16.0/20")
		if code != exitFailure || !strings.Contains(errOut, c.want+", which authority alpha holds ("+record+")") {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", c.what, code, exitFailure, c.want, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "beta")); err == nil {
			t.Fatalf("%s: the refused authority's directory was written", c.what)
		}
		if after, _ := os.ReadFile(filepath.Join(caDir, "allocations.json")); string(after) != string(before) {
			t.Fatalf("%s: the refused authority changed the root's ledger:\n%s", c.what, after)
		}
	}
	if errOut, code := authority("beta", "beta-", "beta-", "100.96.9.0/24", "--wire", "100.100.16.0/20"); code != 0 {
		t.Errorf("beta, disjoint from alpha: exit %d\n%s", code, errOut)
	}
	if errOut, code := authority("alpha", "alpha-", "alpha-", "100.96.8.0/24", "--wire", "100.100.0.0/20", "--force"); code != 0 {
		t.Errorf("alpha made again: exit %d\n%s", code, errOut)
	}
	// A broken record stops the check rather than letting an overlap by.
	if err := os.WriteFile(record, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if errOut, code := authority("gamma", "gamma-", "gamma-", "100.96.10.0/24", "--wire", "100.100.32.0/20"); code != exitFailure || !strings.Contains(errOut, record) {
		t.Errorf("with a broken record: exit %d\n%s", code, errOut)
	}
}

// ca revoke signs a list of certificates; --list keeps the earlier entries
// and raises the serial.
func TestCARevoke(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	caDir, gwDir := filepath.Join(dir, "ca"), filepath.Join(dir, "gw")
	for _, args := range [][]string{{"ca", "init", "--dir", caDir}, {"keygen", "--dir", gwDir}} {
		if out, errOut, code := run(t, bin, args...); code != 0 {
			t.Fatalf("%v: %s%s", args, out, errOut)
		}
	}
	certFile := filepath.Join(gwDir, "gw.crt")
	config := gatewayConfig(t, gwDir, `certificate_file = "`+certFile+`"`)
	if out, errOut, code := run(t, bin, "ca", "sign", "--root-key", filepath.Join(caDir, "root.key"), "-c", config); code != 0 {
		t.Fatalf("sign: %s%s", out, errOut)
	}
	first, second := filepath.Join(dir, "r1.pem"), filepath.Join(dir, "r2.pem")
	out, errOut, code := run(t, bin, "ca", "revoke", "--root-key", filepath.Join(caDir, "root.key"), "--mesh", "acme", "-o", first, certFile)
	if code != 0 || !strings.Contains(out, `revoked gateway "vpc-a-gw"`) || !strings.Contains(out, "revocation list 1 of mesh \"acme\" by root key") {
		t.Fatalf("revoke: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = run(t, bin, "ca", "revoke", "--root-key", filepath.Join(caDir, "root.key"), "--list", first, "-o", second, certFile)
	if code != 0 || !strings.Contains(out, "revocation list 2 of mesh \"acme\" by root key") {
		t.Errorf("revoke --list: exit %d\n%s", code, out)
	}
	if _, errOut, code := run(t, bin, "ca", "revoke", "--root-key", filepath.Join(caDir, "root.key"), "--mesh", "other", "-o", second, certFile); code != exitFailure || !strings.Contains(errOut, `of mesh "acme", not "other"`) {
		t.Errorf("revoke for another mesh: exit %d\n%s", code, errOut)
	}
}
