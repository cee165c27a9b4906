package mesh

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/discovery"
	"github.com/vpcmesh/vpcmesh/discovery/cert"
	"github.com/vpcmesh/vpcmesh/tunnel"
)

func newSigningKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issueGateway signs gateway i of mesh "lab" with issuer.
func issueGateway(t *testing.T, issuer ed25519.PrivateKey, i int) *discovery.Identity {
	t.Helper()
	wg, err := tunnel.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key := newSigningKey(t)
	cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 0}), 24)
	c, err := cert.Sign(cert.Body{Version: cert.Version, Kind: cert.KindGateway, Mesh: "lab", Name: fmt.Sprintf("gw-%d", i),
		WireGuardKey: wg.Public().String(), SigningKey: key.Public().(ed25519.PublicKey),
		Overlay: netip.AddrFrom4([4]byte{100, 96, 0, byte(i)}),
		Sites: []cert.Site{{Name: fmt.Sprintf("site-%d", i), CIDRs: []netip.Prefix{cidr}, Priority: 100,
			Exports: []cert.Export{{Project: "lab", CIDR: cidr, Wire: cidr}}}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, issuer)
	if err != nil {
		t.Fatal(err)
	}
	return &discovery.Identity{Chain: []*cert.Cert{c}, Key: key}
}

func revocationsPEM(lists ...*cert.Revocations) []byte {
	var b []byte
	for _, r := range lists {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: cert.RevocationsPEMType, Bytes: r.Marshal()})...)
	}
	return b
}

// A state_dir/revocations.pem that is blank, truncated, or holds a list
// that no longer verifies does not stop the config's revocation list: the
// gateway it names is refused. The saved file is set aside (one log line
// says so), and the lists held are saved anew.
func TestLoadRevocationsStateFileBroken(t *testing.T) {
	rootKey := newSigningKey(t)
	root := cert.Root{Key: rootKey.Public().(ed25519.PublicKey)}
	self, revoked := issueGateway(t, rootKey, 1), issueGateway(t, rootKey, 2)
	list, err := cert.SignRevocations(cert.RevocationBody{Mesh: "lab", Serial: 1, Issued: time.Now(),
		Revoked: []string{cert.Fingerprint(revoked.Leaf())}}, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(t.TempDir(), "revocations.pem")
	if err := os.WriteFile(configFile, revocationsPEM(list), 0o644); err != nil {
		t.Fatal(err)
	}

	// A later list of the root that revokes nothing, its signature
	// spoilt on disk.
	later, err := cert.SignRevocations(cert.RevocationBody{Mesh: "lab", Serial: 2, Issued: time.Now()}, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	forged := *later
	forged.Signature = slices.Clone(later.Signature)
	forged.Signature[0] ^= 1
	// An authority's list whose authority has expired since it was saved.
	authKey := newSigningKey(t)
	auth, err := cert.Sign(cert.Body{Version: cert.Version, Kind: cert.KindAuthority, Mesh: "lab", Name: "alpha-ca",
		SigningKey: authKey.Public().(ed25519.PublicKey), Projects: []string{"alpha"},
		Prefixes:  []netip.Prefix{netip.MustParsePrefix("10.7.0.0/16")},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := cert.SignAuthorityRevocations(cert.RevocationBody{Mesh: "lab", Serial: 1, Issued: time.Now().Add(-90 * time.Minute)}, auth, authKey)
	if err != nil {
		t.Fatal(err)
	}
	good := revocationsPEM(list)
	// The root's next list, revoking gw-3 as well, saved beside the
	// expired authority's: it is kept.
	third := issueGateway(t, rootKey, 3)
	next, err := cert.SignRevocations(cert.RevocationBody{Mesh: "lab", Serial: 2, Issued: time.Now(),
		Revoked: []string{cert.Fingerprint(revoked.Leaf()), cert.Fingerprint(third.Leaf())}}, rootKey)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		saved   []byte
		serial  uint64              // of the root's list held after
		revoked *discovery.Identity // another gateway revoked after
	}{
		{"blank", nil, 1, nil},
		{"truncated", good[:len(good)/2], 1, nil},
		{"bad signature", revocationsPEM(&forged), 1, nil},
		{"expired authority", revocationsPEM(expired), 1, nil},
		{"expired authority beside a good list", revocationsPEM(next, expired), 2, third},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stateDir := t.TempDir()
			saved := filepath.Join(stateDir, revocationsFile)
			if err := os.WriteFile(saved, tc.saved, 0o600); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			g := gossipGateway(t, root, self, &logs)
			cfg := &configs.Config{}
			cfg.Mesh.Name = "lab"
			cfg.Mesh.RevocationsFile = configFile
			cfg.Node.StateDir = stateDir
			g.cfg = cfg

			if err := g.loadRevocations(cfg); err != nil {
				t.Errorf("loadRevocations: %v", err)
			}
			for _, id := range []*discovery.Identity{revoked, tc.revoked} {
				if id == nil {
					continue
				}
				rec, err := id.Sign(discovery.Record{Name: id.Leaf().Body.Name, Version: 1})
				if err != nil {
					t.Fatal(err)
				}
				var re *discovery.RefusedError
				if _, err := g.members.gossip.Verify(rec); !errors.As(err, &re) || re.Reason != discovery.RefusedRevoked {
					t.Errorf("%s: %v, want refused as revoked", id.Leaf().Body.Name, err)
				}
			}

			aside, _ := filepath.Glob(saved + ".broken-*")
			if len(aside) != 1 {
				t.Fatalf("set aside: %v, want one %s.broken-*", aside, saved)
			}
			if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, tc.saved) {
				t.Errorf("the set-aside file holds %q, want what was saved", b)
			}
			var lines []string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, saved) {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(lines[0], "set aside") || !strings.Contains(lines[0], aside[0]) {
				t.Errorf("log lines naming %s: %q, want one saying it was set aside", saved, lines)
			}
			// What gossip holds now is saved again, whole, for this
			// gateway alone to read.
			if lists, err := cert.ReadRevocationsFiles(saved); err != nil || len(lists) != 1 || lists[0].Body.Serial != tc.serial {
				t.Errorf("saved anew: %v, %v; want the root's list %d alone", lists, err, tc.serial)
			}
			if fi, err := os.Stat(saved); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("saved anew with mode %v (%v), want 0600", fi.Mode().Perm(), err)
			}
		})
	}
}

// gossipGateway is a Gateway with just enough to take revocation lists:
// gossip on memberlist's in-memory transport, logging to logs.
func gossipGateway(t *testing.T, root cert.Root, id *discovery.Identity, logs io.Writer) *Gateway {
	t.Helper()
	network := &memberlist.MockNetwork{}
	g := &Gateway{log: slog.New(slog.NewTextHandler(logs, nil))}
	gs, err := discovery.StartGossip(discovery.GossipConfig{Identity: id, Root: root,
		Transport: network.NewTransport(id.Leaf().Body.Name), OnRevocations: g.keepRevocations,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, discovery.Record{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gs.Shutdown() })
	g.members = &membership{id: id, root: root, gossip: gs}
	return g
}

// The config's revocation file is the operator's: one that is broken
// still stops a start or reload (checkRevocationsFile) and is an error at
// load, and it stays where it is.
func TestRevocationsConfigFileBrokenIsAnError(t *testing.T) {
	rootKey := newSigningKey(t)
	root := cert.Root{Key: rootKey.Public().(ed25519.PublicKey)}
	configFile := filepath.Join(t.TempDir(), "revocations.pem")
	if err := os.WriteFile(configFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &configs.Config{}
	cfg.Mesh.Name = "lab"
	cfg.Mesh.RevocationsFile = configFile
	cfg.Node.StateDir = t.TempDir()
	if err := checkRevocationsFile(cfg, root); err == nil {
		t.Error("checkRevocationsFile took a blank file")
	}
	g := gossipGateway(t, root, issueGateway(t, rootKey, 1), io.Discard)
	g.cfg = cfg
	if err := g.loadRevocations(cfg); err == nil || !strings.Contains(err.Error(), configFile) {
		t.Errorf("loadRevocations: %v, want an error naming %s", err, configFile)
	}
	if aside, _ := filepath.Glob(configFile + ".broken-*"); len(aside) > 0 {
		t.Errorf("the config's file was set aside: %v", aside)
	}
	if _, err := os.Stat(configFile); err != nil {
		t.Error(err)
	}
}

// A known-peers.json that is not a list of peers is set aside once, with a
// log line, and a save starts it afresh.
func TestKnownPeersFileBroken(t *testing.T) {
	var logs bytes.Buffer
	g := &Gateway{log: slog.New(slog.NewTextHandler(&logs, nil)), cfg: &configs.Config{}}
	g.cfg.Node.StateDir = t.TempDir()
	path := knownPeersPath(g.cfg)
	if err := os.WriteFile(path, []byte(`[{"name":"gw-2","endp`), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if ks := g.readKnownPeers(g.cfg); ks != nil {
			t.Errorf("read %v from a broken file", ks)
		}
	}
	if aside, _ := filepath.Glob(path + ".broken-*"); len(aside) != 1 {
		t.Errorf("set aside: %v", aside)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), path) {
		t.Errorf("want one log line naming %s:\n%s", path, logs.String())
	}
	ep := netip.MustParseAddrPort("203.0.113.20:51820")
	if err := g.saveKnownPeers([]*discovery.Node{{Record: discovery.Record{Name: "gw-2", Endpoints: []netip.AddrPort{ep}}}}); err != nil {
		t.Fatal(err)
	}
	if ks := g.readKnownPeers(g.cfg); len(ks) != 1 || ks[0].Name != "gw-2" {
		t.Errorf("after a save: %v", ks)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v", fi.Mode().Perm(), err)
	}
}
