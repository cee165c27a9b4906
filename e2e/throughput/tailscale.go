package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
)

// The Tailscale leg's ports: tailscaled's WireGuard/disco UDP port, and
// headscale's HTTP (control and the embedded DERP relay) and STUN ports on
// the right end of the underlay.
const (
	tsPort        = 41641
	headscalePort = 8080
	headscaleSTUN = 3478
)

// tsUpTimeout bounds each step of bringing Tailscale up: tailscaled's
// socket, `tailscale up`, the direct path.
const tsUpTimeout = 30 * time.Second

// tsNode is one tailscaled of the leg.
type tsNode struct {
	name     string
	ns       *lab.NS
	dir      string // state, logs config and the socket
	socket   string
	proc     *lab.Proc
	ip       string // its Tailscale IPv4
	underlay string // its end of the veth
}

// setupTailscale: tailscaled in each namespace, kernel TUN ts0, registered
// with headscale, which runs as the lab's control server in the right
// namespace on the underlay address. headscale's embedded DERP relay is
// the only one in the DERP map, so that nothing points at the internet
// and the check that the path is direct means something: a relay was
// there to fall back on. iperf3 runs between the two Tailscale addresses;
// the leg's CPU is the two tailscaled, not headscale.
func setupTailscale(ctx context.Context, e *env, lg *leg) error {
	bins, err := findPeers("tailscaled", "tailscale", "headscale")
	if err != nil {
		return err
	}
	tailscaled, cli, headscale := bins[0], bins[1], bins[2]
	left, right, err := pair(e, lg)
	if err != nil {
		return err
	}
	// Each namespace gets its own resolv.conf naming a server that is not
	// there: tailscaled's DNS manager then has only that file to look at,
	// never the machine's, and no name is ever resolved off the machine.
	for _, ns := range []*lab.NS{lg.client, lg.server} {
		if err := ns.SetResolver("127.0.0.1"); err != nil {
			return err
		}
	}
	dir := filepath.Join(e.lab.Dir, "tailscale")
	hs, hsConf, err := startHeadscale(ctx, headscale, dir, lg.server, right)
	if err != nil {
		return err
	}
	hsCmd := func(args ...string) (string, error) {
		return lg.server.Exec(ctx, append([]string{headscale, "-c", hsConf}, args...)...)
	}
	out, err := hsCmd("users", "create", "lab", "-o", "json")
	if err != nil {
		return err
	}
	var user struct{ ID uint64 }
	if err := decodeJSON(out, &user); err != nil {
		return fmt.Errorf("headscale users create: %w", err)
	}
	if out, err = hsCmd("preauthkeys", "create", "-u", strconv.FormatUint(user.ID, 10),
		"--reusable", "-e", "2h", "-o", "json"); err != nil {
		return err
	}
	var authKey struct{ Key string }
	if err := decodeJSON(out, &authKey); err != nil || authKey.Key == "" {
		return fmt.Errorf("headscale preauthkeys create: no key (%v): %s", err, out)
	}

	nodes := []*tsNode{{name: "left", ns: lg.client}, {name: "right", ns: lg.server}}
	for _, n := range nodes {
		if err := n.start(ctx, tailscaled, cli, dir, e.tailscaleMTU); err != nil {
			return err
		}
		lg.pids = append(lg.pids, n.proc.Pid())
	}
	login := fmt.Sprintf("http://%s:%d", right, headscalePort)
	for _, n := range nodes {
		if err := n.up(ctx, cli, login, authKey.Key); err != nil {
			return fmt.Errorf("%w\nheadscale log:\n%s", err, tail(hs.Log()))
		}
	}
	l, r := nodes[0], nodes[1]
	l.underlay, r.underlay = left, right
	if err := waitDirect(ctx, cli, l, r); err != nil {
		return err
	}
	lg.dst, lg.listen = r.ip, r.ip
	// The MTU as the interface has it, not as asked for.
	out, err = lg.client.Exec(ctx, "ip", "-o", "link", "show", "dev", "ts0")
	if err != nil {
		return err
	}
	mtu := "MTU ?"
	if m := mtuRE.FindStringSubmatch(out); m != nil {
		mtu = "MTU " + m[1]
	}
	if e.tailscaleMTU > 0 {
		mtu += " (TS_DEBUG_MTU)"
	} else {
		mtu += " (Tailscale's default)"
	}
	lg.note = fmt.Sprintf("%s %s, kernel TUN ts0, %s, WireGuard (ChaCha20-Poly1305), netfilter on, control headscale %s in %s, path direct (DERP relay unused)",
		tailscaled, peerVersion(tailscaled, "tailscale", "--version"), mtu, peerVersion(headscale, "headscale", "version"), lg.server)
	for _, ends := range [][2]*tsNode{{l, r}, {r, l}} {
		st, err := ends[0].peerStatus(ctx, cli, ends[1].ip)
		if err != nil {
			return err
		}
		lg.details = append(lg.details, fmt.Sprintf("%s (%s) sees %s: direct %s (tailscale status; relay %q unused)",
			ends[0].name, ends[0].ip, ends[1].ip, st.CurAddr, st.Relay))
	}
	if err := waitPing(ctx, lg.client, "", r.ip); err != nil {
		return err
	}
	hsCPU0, _ := cpuOf([]int{hs.Pid()})
	lg.after = func(ctx context.Context, w io.Writer) {
		// Still direct after the rounds, and headscale (which would have
		// relayed) was idle meanwhile.
		for _, ends := range [][2]*tsNode{{l, r}, {r, l}} {
			st, err := ends[0].peerStatus(ctx, cli, ends[1].ip)
			if err != nil {
				fmt.Fprintf(w, "Tailscale %s after the rounds: %v\n", ends[0].name, err)
				continue
			}
			fmt.Fprintf(w, "Tailscale %s after the rounds: %s direct via %s, rx %d B tx %d B\n",
				ends[0].name, ends[1].ip, st.CurAddr, st.RxBytes, st.TxBytes)
		}
		if hsCPU1, err := cpuOf([]int{hs.Pid()}); err == nil {
			fmt.Fprintf(w, "headscale (control and DERP relay) CPU from setup to the end: %.2f s\n", (hsCPU1 - hsCPU0).Seconds())
		}
	}
	return nil
}

var mtuRE = regexp.MustCompile(`\bmtu (\d+)`)

// startHeadscale writes headscale's config, starts it in ns on addr and
// waits until its CLI can talk to it. Every path is under dir, nothing it
// fetches is on the internet (no DERP map URL, no update check).
func startHeadscale(ctx context.Context, bin, dir string, ns *lab.NS, addr string) (*lab.Proc, string, error) {
	hsDir := filepath.Join(dir, "headscale")
	if err := os.MkdirAll(hsDir, 0o700); err != nil {
		return nil, "", err
	}
	p := func(name string) string { return filepath.Join(hsDir, name) }
	conf := fmt.Sprintf(`server_url: http://%[1]s:%[2]d
listen_addr: %[1]s:%[2]d
metrics_listen_addr: 127.0.0.1:9090
grpc_listen_addr: 127.0.0.1:50443
noise:
  private_key_path: %[3]s
prefixes:
  v4: 100.64.0.0/10
  v6: fd7a:115c:a1e0::/48
  allocation: sequential
derp:
  server:
    enabled: true
    region_id: 999
    region_code: lab
    region_name: lab embedded DERP
    verify_clients: true
    stun_listen_addr: %[1]s:%[4]d
    private_key_path: %[5]s
    automatically_add_embedded_derp_region: true
    ipv4: %[1]s
  urls: []
  paths: []
  auto_update_enabled: false
disable_check_updates: true
database:
  type: sqlite
  sqlite:
    path: %[6]s
log:
  level: info
dns:
  magic_dns: false
  override_local_dns: false
  nameservers:
    global: []
unix_socket: %[7]s
unix_socket_permission: "0700"
logtail:
  enabled: false
`, addr, headscalePort, p("noise.key"), headscaleSTUN, p("derp.key"), p("db.sqlite"), p("headscale.sock"))
	cfg := p("config.yaml")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, "", err
	}
	proc, err := ns.Start("headscale", bin, "-c", cfg, "serve")
	if err != nil {
		return nil, "", err
	}
	err = lab.Eventually(ctx, tsUpTimeout, func() error {
		if proc.Exited() {
			return fmt.Errorf("headscale exited:\n%s", proc.Log())
		}
		_, err := ns.Exec(ctx, bin, "-c", cfg, "health")
		return err
	})
	return proc, cfg, err
}

// start runs tailscaled in the node's namespace with its own state dir and
// socket, and waits until the CLI reaches it.
func (n *tsNode) start(ctx context.Context, tailscaled, cli, dir string, mtu int) error {
	n.dir = filepath.Join(dir, n.name)
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return err
	}
	n.socket = filepath.Join(n.dir, "tailscaled.sock")
	env := []string{
		// No log upload (the flag says the same), and the log config in the
		// state dir, not /var/lib/tailscale.
		"TS_NO_LOGS_NO_SUPPORT=true", "TS_LOGS_DIR=" + n.dir,
		// headscale's embedded DERP serves plain HTTP here (no TLS
		// certificate in the lab); this lets tailscaled speak it.
		"TS_DEBUG_USE_DERP_HTTP=true",
	}
	if mtu > 0 {
		env = append(env, "TS_DEBUG_MTU="+strconv.Itoa(mtu))
	}
	var err error
	n.proc, err = n.ns.StartEnv("tailscaled-"+n.name, env, tailscaled, "--no-logs-no-support",
		"--statedir="+n.dir, "--socket="+n.socket, "--tun=ts0", "--port="+strconv.Itoa(tsPort))
	if err != nil {
		return err
	}
	return lab.Eventually(ctx, tsUpTimeout, func() error {
		if n.proc.Exited() {
			return fmt.Errorf("tailscaled %s exited:\n%s", n.name, n.proc.Log())
		}
		_, err := n.status(ctx, cli)
		return err
	})
}

// up logs the node in to headscale with the pre-auth key and reads its
// Tailscale address.
func (n *tsNode) up(ctx context.Context, cli, login, authKey string) error {
	if _, err := n.ns.Exec(ctx, cli, "--socket="+n.socket, "up", "--login-server="+login, "--authkey="+authKey,
		"--hostname=lab-"+n.name, "--accept-dns=false", "--timeout="+tsUpTimeout.String()); err != nil {
		return fmt.Errorf("tailscale up (%s): %w\ntailscaled log:\n%s", n.name, err, tail(n.proc.Log()))
	}
	st, err := n.status(ctx, cli)
	if err != nil {
		return err
	}
	for _, a := range st.Self.TailscaleIPs {
		if a.Is4() {
			n.ip = a.String()
			return nil
		}
	}
	return fmt.Errorf("tailscale %s: running but no IPv4 address: %v", n.name, st.Self.TailscaleIPs)
}

// tsStatus is the part of `tailscale status --json` that is used.
type tsStatus struct {
	BackendState string
	Self         tsPeer
	Peer         map[string]tsPeer
}

type tsPeer struct {
	HostName         string
	TailscaleIPs     []netip.Addr
	Relay            string // the peer's home DERP region
	CurAddr          string // the direct path in use; "" when relayed
	RxBytes, TxBytes int64
}

func (n *tsNode) status(ctx context.Context, cli string) (*tsStatus, error) {
	out, err := n.ns.Exec(ctx, cli, "--socket="+n.socket, "status", "--json")
	if err != nil {
		return nil, err
	}
	var st tsStatus
	if err := decodeJSON(out, &st); err != nil {
		return nil, fmt.Errorf("tailscale status %s: %w", n.name, err)
	}
	return &st, nil
}

// peerStatus is what n knows of the peer at ip; an error unless the path to
// it is direct.
func (n *tsNode) peerStatus(ctx context.Context, cli, ip string) (*tsPeer, error) {
	st, err := n.status(ctx, cli)
	if err != nil {
		return nil, err
	}
	for _, p := range st.Peer {
		for _, a := range p.TailscaleIPs {
			if a.String() != ip {
				continue
			}
			if p.CurAddr == "" {
				return nil, fmt.Errorf("tailscale %s: path to %s is not direct (relay %q)", n.name, ip, p.Relay)
			}
			return &p, nil
		}
	}
	return nil, fmt.Errorf("tailscale %s: no peer %s (state %s)", n.name, ip, st.BackendState)
}

// waitDirect pings each way with `tailscale ping` until the pong comes
// straight over the underlay, not through the DERP relay, and both ends
// show the other's direct address. Each end finds its own path to the
// other only when it sends, hence both ways.
func waitDirect(ctx context.Context, cli string, l, r *tsNode) error {
	err := lab.Eventually(ctx, tsUpTimeout, func() error {
		for _, ends := range [][2]*tsNode{{l, r}, {r, l}} {
			from, to := ends[0], ends[1]
			// -c 1: a pong through DERP is a failure, "direct connection
			// not established", so it is asked again.
			out, err := from.ns.Exec(ctx, cli, "--socket="+from.socket, "ping", "-c", "1", "--timeout=2s", to.ip)
			if err != nil {
				return err
			}
			if via := fmt.Sprintf("via %s:%d", to.underlay, tsPort); !strings.Contains(out, via) {
				return fmt.Errorf("tailscale ping %s → %s: want a pong %s: %s", from.name, to.ip, via, strings.TrimSpace(out))
			}
			if _, err := from.peerStatus(ctx, cli, to.ip); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w\ntailscaled left log:\n%s\ntailscaled right log:\n%s", err, tail(l.proc.Log()), tail(r.proc.Log()))
	}
	return nil
}

// tail is the end of a daemon's log, enough for an error message.
func tail(log string) string {
	const max = 3000
	if len(log) > max {
		return "…" + log[len(log)-max:]
	}
	return log
}

// decodeJSON decodes the first JSON value in out, skipping anything a CLI
// printed before it (warnings share its output).
func decodeJSON(out string, v any) error {
	i := strings.IndexAny(out, "{[")
	if i < 0 {
		return errors.New("no JSON in " + strconv.Quote(firstLine(out)))
	}
	return json.NewDecoder(strings.NewReader(out[i:])).Decode(v)
}
