package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mapped = "auto": ca sign allocates the wire prefix from the pool, the
// same one every time the export is signed again, another for the next
// export, never inside a project authority's prefixes; the authority
// allocates inside its own.
func TestCASignAllocatesWire(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	caDir := filepath.Join(dir, "ca")
	mustRun(t, bin, "ca", "init", "--dir", caDir)
	src, err := os.ReadFile("../../configs/examples/gossip-gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	gateway := func(name string) (config, certFile string) {
		gwDir := filepath.Join(dir, name)
		mustRun(t, bin, "keygen", "--dir", gwDir)
		copyFile(t, filepath.Join(caDir, "root.pub"), filepath.Join(gwDir, "root.pub"))
		doc := strings.ReplaceAll(string(src), "/etc/vpcmesh/", gwDir+"/")
		doc = strings.Replace(doc, `name = "vpc-c-gw"`, `name = "`+name+`"`, 1)
		doc = strings.Replace(doc, `cidr = "10.7.0.0/24"`, `cidr = "10.7.0.0/24"`+"\n"+`mapped = "auto"`, 1)
		config = filepath.Join(gwDir, "gw.toml")
		if err := os.WriteFile(config, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return config, filepath.Join(gwDir, "gateway.crt")
	}
	rootKey := filepath.Join(caDir, "root.key")
	binds := func(certFile, wire string) {
		t.Helper()
		show := mustRun(t, bin, "ca", "show", certFile)
		if !strings.Contains(show, wire) {
			t.Errorf("%s does not bind %s:\n%s", certFile, wire, show)
		}
	}

	c1, cert1 := gateway("vpc-c-gw")
	if out := mustRun(t, bin, "ca", "sign", "--root-key", rootKey, "-c", c1); !strings.Contains(out, "allocated wire prefix 100.100.0.0/24 to 10.7.0.0/24 of site vpc-c (project alpha)") {
		t.Errorf("first sign:\n%s", out)
	}
	binds(cert1, "100.100.0.0/24")
	if out := mustRun(t, bin, "ca", "sign", "--root-key", rootKey, "-c", c1); strings.Contains(out, "allocated") {
		t.Errorf("signing again allocated anew:\n%s", out)
	}
	binds(cert1, "100.100.0.0/24")

	// An authority's prefixes are reserved in the root's ledger.
	authDir := filepath.Join(dir, "alpha-ca")
	mustRun(t, bin, "ca", "authority", "--root-key", rootKey, "--mesh", "acme", "--name", "alpha-ca", "--project", "alpha",
		"--prefix", "10.7.0.0/16", "--prefix", "100.100.1.0/24", "--name-prefix", "vpc-", "--site-prefix", "vpc-", "--overlay", "100.96.0.0/16", "--dir", authDir)
	c2, _ := gateway("vpc-d-gw")
	if out := mustRun(t, bin, "ca", "sign", "--root-key", rootKey, "-c", c2); !strings.Contains(out, "allocated wire prefix 100.100.2.0/24") {
		t.Errorf("the root allocated into the authority's prefixes, or reused one:\n%s", out)
	}
	// A prefix mapped by hand into the authority's, which its gateways may
	// announce too, is refused by the root; nothing is written.
	cm, certM := gateway("vpc-m-gw")
	mapped, err := os.ReadFile(cm)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cm, []byte(strings.Replace(string(mapped), `mapped = "auto"`, `mapped = "100.100.1.0/24"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ledger, err := os.ReadFile(filepath.Join(caDir, "allocations.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(t, bin, "ca", "sign", "--root-key", rootKey, "-c", cm); code != exitFailure ||
		!strings.Contains(errOut, `site vpc-c: export of 10.7.0.0/24 to alpha: mapped = "100.100.1.0/24" is inside [10.7.0.0/16 100.100.1.0/24], the wire prefixes of authority alpha-ca`) {
		t.Errorf("the root mapping by hand into an authority's prefixes: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(certM); err == nil {
		t.Error("a refused certificate was written")
	}
	if after, _ := os.ReadFile(filepath.Join(caDir, "allocations.json")); string(after) != string(ledger) {
		t.Errorf("the refused signing changed the root's ledger:\n%s", after)
	}
	c3, cert3 := gateway("vpc-e-gw")
	if out := mustRun(t, bin, "ca", "sign", "--authority", authDir, "-c", c3); !strings.Contains(out, "allocated wire prefix 100.100.1.0/24") {
		t.Errorf("the authority did not allocate inside its prefixes:\n%s", out)
	}
	binds(cert3, "100.100.1.0/24")
	c4, _ := gateway("vpc-f-gw")
	if _, errOut, code := run(t, bin, "ca", "sign", "--authority", authDir, "-c", c4); code == 0 || !strings.Contains(errOut, `mapped = "auto", and no /24 is free in [100.100.1.0/24]`) {
		t.Errorf("an authority out of prefixes: exit %d\n%s", code, errOut)
	}
	// The root cannot give an authority what it already allocated.
	if _, errOut, code := run(t, bin, "ca", "authority", "--root-key", rootKey, "--mesh", "acme", "--name", "beta-ca", "--project", "beta",
		"--prefix", "100.100.0.0/23", "--name-prefix", "beta-", "--site-prefix", "beta-", "--overlay", "100.96.9.0/24", "--dir", filepath.Join(dir, "beta-ca")); code == 0 || !strings.Contains(errOut, "--prefix 100.100.0.0/23 (a wire prefix too, as no --wire is given) overlaps") {
		t.Errorf("authority over allocated prefixes: exit %d\n%s", code, errOut)
	}
}
