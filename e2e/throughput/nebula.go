package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
)

// The Nebula leg's overlay addresses and UDP port.
const (
	nebulaLeft  = "10.202.0.1"
	nebulaRight = "10.202.0.2"
	nebulaPort  = 4242
	// nebulaCipher is Nebula's default, written out so that the note
	// cannot drift from what ran: AES-256-GCM.
	nebulaCipher = "aes"
	// nebulaUDPBuffer is the default of -nebula-udp-buffer: the socket
	// buffers wireguard-go and tailscaled give themselves. Nebula keeps the
	// system's (208 KiB here) unless configured, and then drops packets
	// under a single TCP stream (UdpRcvbufErrors), which measures a sysctl
	// rather than Nebula.
	nebulaUDPBuffer = 7 << 20
)

// setupNebula: a Nebula node in each namespace with certificates from a
// throw-away CA, each listing the other in static_host_map so that no
// lighthouse is needed; Nebula's firewall lets everything through (it
// still tracks connections, as it always does); iperf3 between the
// overlay addresses 10.202.0.1 and .2.
func setupNebula(ctx context.Context, e *env, lg *leg) error {
	bins, err := findPeers("nebula", "nebula-cert")
	if err != nil {
		return err
	}
	nebula, cert := bins[0], bins[1]
	left, right, err := pair(e, lg)
	if err != nil {
		return err
	}
	dir := filepath.Join(e.lab.Dir, "nebula")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	certCmd := func(args ...string) error {
		out, err := exec.CommandContext(ctx, cert, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("nebula-cert %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	// The CA outlives the leaves, which nebula-cert requires.
	if err := certCmd("ca", "-name", "vpcmesh throughput lab", "-duration", "25h",
		"-out-crt", path("ca.crt"), "-out-key", path("ca.key")); err != nil {
		return err
	}
	type node struct {
		name, self, overlay, peer, peerOverlay string
		ns                                     *lab.NS
	}
	nodes := []node{
		{"left", left, nebulaLeft, right, nebulaRight, lg.client},
		{"right", right, nebulaRight, left, nebulaLeft, lg.server},
	}
	buffers, bufNote := "", "system UDP socket buffers"
	if e.nebulaBuffer > 0 {
		buffers = fmt.Sprintf("  read_buffer: %d\n  write_buffer: %d\n", e.nebulaBuffer, e.nebulaBuffer)
		bufNote = fmt.Sprintf("UDP socket buffers %s (as wireguard-go's)", formatBytes(int64(e.nebulaBuffer)))
	}
	var procs []*lab.Proc
	for _, n := range nodes {
		if err := certCmd("sign", "-ca-crt", path("ca.crt"), "-ca-key", path("ca.key"), "-name", n.name,
			"-networks", n.overlay+"/24", "-duration", "24h",
			"-out-crt", path(n.name+".crt"), "-out-key", path(n.name+".key")); err != nil {
			return err
		}
		conf := fmt.Sprintf(`pki:
  ca: %s
  cert: %s
  key: %s
static_host_map:
  %q: [%q]
lighthouse:
  am_lighthouse: false
  hosts: []
listen:
  host: %s
  port: %d
%spunchy:
  punch: false
relay:
  am_relay: false
  use_relays: false
cipher: %s
tun:
  dev: nebula0
  mtu: %d
logging:
  level: info
firewall:
  outbound_action: drop
  inbound_action: drop
  outbound:
    - port: any
      proto: any
      host: any
  inbound:
    - port: any
      proto: any
      host: any
`, path("ca.crt"), path(n.name+".crt"), path(n.name+".key"),
			n.peerOverlay, fmt.Sprintf("%s:%d", n.peer, nebulaPort), n.self, nebulaPort, buffers, nebulaCipher, tunnelMTU)
		cfg := path(n.name + ".yml")
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			return err
		}
		p, err := n.ns.Start("nebula-"+n.name, nebula, "-config", cfg)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		lg.pids = append(lg.pids, p.Pid())
	}
	lg.dst, lg.listen = nebulaRight, nebulaRight
	lg.note = fmt.Sprintf("%s %s, cipher %s (AES-256-GCM, Nebula's default), MTU %d, %s, static host map, no lighthouse, punchy off, firewall allows any",
		nebula, peerVersion(nebula, "nebula", "-version"), nebulaCipher, tunnelMTU, bufNote)
	// Nebula handshakes on the first packet for the peer, so the ping both
	// brings the tunnel up and shows that it carries traffic.
	if err := waitPing(ctx, lg.client, "", nebulaRight); err != nil {
		var logs strings.Builder
		for _, p := range procs {
			fmt.Fprintf(&logs, "\n%s log:\n%s", p.Name, p.Log())
		}
		return fmt.Errorf("%w%s", err, logs.String())
	}
	return nil
}
