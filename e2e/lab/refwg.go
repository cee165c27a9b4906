package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// uapiDir is where wireguard-go puts its control sockets. It is one
// directory for the whole machine, not per namespace, which is why a
// reference interface's name must be unique per run (include the lab ID).
const uapiDir = "/var/run/wireguard"

// FindReferenceWireGuard finds the reference wireguard-go binary:
// $VPCMESH_WIREGUARD_GO, else $(go env GOPATH)/bin/wireguard (where
// `go install golang.zx2c4.com/wireguard@<version>` puts it), else
// wireguard-go or wireguard on PATH.
func FindReferenceWireGuard() (string, error) {
	if p := os.Getenv("VPCMESH_WIREGUARD_GO"); p != "" {
		if err := isExecutable(p); err != nil {
			return "", fmt.Errorf("VPCMESH_WIREGUARD_GO: %w", err)
		}
		return p, nil
	}
	if p := filepath.Join(GoPath(), "bin", "wireguard"); isExecutable(p) == nil {
		return p, nil
	}
	for _, name := range []string{"wireguard-go", "wireguard"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("reference wireguard-go not found: run e2e/setup.sh, or " +
		"`go install golang.zx2c4.com/wireguard@$(go list -m -f '{{.Version}}' golang.zx2c4.com/wireguard)`, " +
		"or set VPCMESH_WIREGUARD_GO to the binary")
}

// GoPath is the first GOPATH entry, asking go itself when it is there:
// where `go install` puts the binaries the lab compares against.
func GoPath() string {
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		if p := strings.TrimSpace(string(out)); p != "" {
			return filepath.SplitList(p)[0]
		}
	}
	if p := os.Getenv("GOPATH"); p != "" {
		return filepath.SplitList(p)[0]
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go")
}

func isExecutable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// RefWG is a reference wireguard-go interface configured with the wg tool,
// the way a site running plain WireGuard would be.
type RefWG struct {
	Iface     string
	PublicKey string
	Proc      *Proc
	ns        *NS
}

// StartReferenceWireGuard runs bin for iface inside n, waits for its UAPI
// socket, sets the private key and listen port with wg, gives the interface
// addr (CIDR) and sets it up.
func (n *NS) StartReferenceWireGuard(bin, iface, privateKeyB64 string, listenPort int, addr string) (*RefWG, error) {
	if iface == "" || len(iface) > maxIfName {
		return nil, fmt.Errorf("wireguard interface name %q: want 1 to %d characters", iface, maxIfName)
	}
	pub, err := PublicKey(privateKeyB64)
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(uapiDir, iface+".sock")
	if _, err := os.Stat(sock); err == nil {
		// Someone else's daemon, or a crashed run's: not ours to remove.
		return nil, fmt.Errorf("%s exists: interface name %s is taken machine-wide; put the lab ID in it", sock, iface)
	}
	n.lab.addFile(sock) // a SIGKILLed daemon leaves it behind
	p, err := n.start("wireguard-"+iface, []string{"WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=verbose"}, bin, iface)
	if err != nil {
		return nil, err
	}
	r := &RefWG{Iface: iface, PublicKey: pub, Proc: p, ns: n}
	ctx, cancel := setupCtx()
	defer cancel()
	if err := r.waitUAPI(ctx); err != nil {
		return nil, err
	}
	if err := r.setKey(ctx, privateKeyB64, listenPort); err != nil {
		return nil, err
	}
	if addr != "" {
		if err := n.ip("addr", "add", addr, "dev", iface); err != nil {
			return nil, err
		}
	}
	return r, n.ip("link", "set", iface, "up")
}

// waitUAPI waits until wg can talk to the daemon.
func (r *RefWG) waitUAPI(ctx context.Context) error {
	return Eventually(ctx, 10*time.Second, func() error {
		if r.Proc.Exited() {
			return fmt.Errorf("%s exited:\n%s", r.Proc.Name, r.Proc.Log())
		}
		_, err := r.ns.Exec(ctx, "wg", "show", r.Iface)
		return err
	})
}

// setKey hands the private key to wg through a 0600 file, never argv.
func (r *RefWG) setKey(ctx context.Context, priv string, port int) error {
	f, err := os.CreateTemp(r.ns.lab.Dir, r.Iface+"-*.key")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(priv + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	_, err = r.ns.Exec(ctx, "wg", "set", r.Iface, "private-key", f.Name(), "listen-port", strconv.Itoa(port))
	return err
}

// AddPeer adds or updates a peer with wg and routes its allowed IPs through
// the interface. endpoint "" leaves it unset (the peer dials in); keepalive
// 0 means none.
func (r *RefWG) AddPeer(ctx context.Context, publicKey, endpoint string, allowedIPs []string, keepalive int) error {
	args := []string{"wg", "set", r.Iface, "peer", publicKey}
	if endpoint != "" {
		args = append(args, "endpoint", endpoint)
	}
	if len(allowedIPs) > 0 {
		args = append(args, "allowed-ips", strings.Join(allowedIPs, ","))
	}
	if keepalive > 0 {
		args = append(args, "persistent-keepalive", strconv.Itoa(keepalive))
	}
	if _, err := r.ns.Exec(ctx, args...); err != nil {
		return err
	}
	for _, p := range allowedIPs {
		if _, err := r.ns.Exec(ctx, "ip", "route", "replace", p, "dev", r.Iface); err != nil {
			return err
		}
	}
	return nil
}

// addFile records a path outside Dir for Close to remove.
func (l *Lab) addFile(path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.files = append(l.files, path)
}
