package scenario

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
)

// Trust is a mesh root made by `vpcmesh ca init`, as an operator makes it.
type Trust struct {
	Key, Pub  string // root.key, root.pub
	bin       string
	authority string // set: gateways are signed by this project authority's directory, not the root
}

// Grant is what the root gives a project authority: projects, real
// prefixes and wire prefixes (none: its prefixes are both), and its share of gateway names, site names and overlay
// addresses (name and site prefixes, overlay ranges).
type Grant struct {
	Projects, Prefixes, Wires, Names, Sites, Overlays []string
	Relay                                             bool
}

// Authority makes a project authority under the root (`vpcmesh ca
// authority`) and returns a Trust that signs gateways with it, as the
// project's holder does without the root key.
func (t *Trust) Authority(l *lab.Lab, mesh, name string, g Grant) (*Trust, error) {
	dir := filepath.Join(l.Dir, "authority-"+name)
	args := []string{"ca", "authority", "--root-key", t.Key, "--mesh", mesh, "--name", name, "--dir", dir}
	for _, f := range []struct {
		flag   string
		values []string
	}{{"--project", g.Projects}, {"--prefix", g.Prefixes}, {"--wire", g.Wires}, {"--name-prefix", g.Names}, {"--site-prefix", g.Sites}, {"--overlay", g.Overlays}} {
		for _, v := range f.values {
			args = append(args, f.flag, v)
		}
	}
	if g.Relay {
		args = append(args, "--relay")
	}
	if err := vpcmesh(t.bin, args...); err != nil {
		return nil, err
	}
	return &Trust{Pub: t.Pub, bin: t.bin, authority: dir}, nil
}

// NewTrust makes a root in the lab directory under name.
func NewTrust(l *lab.Lab, bin, name string) (*Trust, error) {
	dir := filepath.Join(l.Dir, "ca-"+name)
	if err := vpcmesh(bin, "ca", "init", "--dir", dir); err != nil {
		return nil, err
	}
	return &Trust{Key: filepath.Join(dir, "root.key"), Pub: filepath.Join(dir, "root.pub"), bin: bin}, nil
}

// keygenAndSign makes the gateway's key pairs with `vpcmesh keygen`, writes
// its config and has the trust sign its certificate from that config.
func (g *Gateway) keygenAndSign() error {
	if err := vpcmesh(g.Bin, "keygen", "--dir", g.Dir); err != nil {
		return err
	}
	for _, k := range []struct {
		file string
		dst  *string
	}{{"wireguard.key", &g.PrivateKey}, {"wireguard.pub", &g.PublicKey}} {
		b, err := os.ReadFile(filepath.Join(g.Dir, k.file))
		if err != nil {
			return err
		}
		*k.dst = strings.TrimSpace(string(b))
	}
	if err := g.WriteConfig(); err != nil {
		return err
	}
	validFor := g.ValidFor
	if validFor == 0 {
		validFor = 24 * time.Hour
	}
	signer := []string{"--root-key", g.Trust.Key}
	if g.Trust.authority != "" {
		signer = []string{"--authority", g.Trust.authority}
	}
	return vpcmesh(g.Bin, append(append([]string{"ca", "sign"}, signer...), "-c", g.ConfigPath, "--valid-for", validFor.String())...)
}

func vpcmesh(bin string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("vpcmesh %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Revoke signs a revocation list of the given gateways' certificates with
// the root (`vpcmesh ca revoke`) and returns its path.
func (t *Trust) Revoke(l *lab.Lab, mesh string, gws ...*Gateway) (string, error) {
	out := filepath.Join(l.Dir, "revocations.pem")
	args := []string{"ca", "revoke", "--root-key", t.Key, "--mesh", mesh, "-o", out}
	if t.authority != "" {
		out = filepath.Join(t.authority, "revocations.pem")
		args = []string{"ca", "revoke", "--authority", t.authority, "--mesh", mesh, "-o", out}
	}
	var files []string
	for _, g := range gws {
		files = append(files, filepath.Join(g.Dir, "gateway.crt"))
	}
	return out, vpcmesh(t.bin, append(args, files...)...)
}

// RevokeFiles is Revoke of the certificate chains in files.
func (t *Trust) RevokeFiles(l *lab.Lab, mesh string, files ...string) (string, error) {
	out := filepath.Join(l.Dir, "revocations.pem")
	args := []string{"ca", "revoke", "--root-key", t.Key, "--mesh", mesh, "-o", out}
	if t.authority != "" {
		out = filepath.Join(t.authority, "revocations.pem")
		args = []string{"ca", "revoke", "--authority", t.authority, "--mesh", mesh, "-o", out}
	}
	return out, vpcmesh(t.bin, append(args, files...)...)
}

// AuthorityDir is the directory of the project authority this Trust signs
// with ("" for the root): authority.key, authority.pub, authority.crt.
func (t *Trust) AuthorityDir() string { return t.authority }
