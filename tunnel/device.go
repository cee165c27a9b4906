// Package tunnel runs the embedded wireguard-go device: a kernel TUN with
// offloads, the UDP bind, and peers applied as per-peer UAPI diffs. It knows
// nothing about projects; mesh tells it which peers carry which prefixes.
package tunnel

import (
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// Config is what the device needs to come up.
type Config struct {
	Interface  string
	MTU        int
	PrivateKey Key
	ListenPort int
	// Wrap, when set, sits between the TUN and WireGuard (the nat stage).
	Wrap   func(tun.Device) tun.Device
	Logger *slog.Logger
}

// Device is a running WireGuard interface. Its methods are safe for
// concurrent use.
type Device struct {
	name string
	port int
	pub  Key
	// Offloads reports whether the TUN does segmentation offload (GSO/GRO
	// batches); without it throughput falls by more than half.
	Offloads bool
	wg       *device.Device
	bind     *controlBind
	log      *slog.Logger

	mu    sync.Mutex
	peers map[Key]Peer      // as last applied
	made  map[Key]time.Time // when each peer's copy in the device was made
}

// Open creates the TUN device and brings WireGuard up on it. On error nothing
// is left behind: the TUN is non-persistent and closes with its descriptor.
func Open(cfg Config) (*Device, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	t, err := tun.CreateTUN(cfg.Interface, cfg.MTU)
	if err != nil {
		return nil, fmt.Errorf("create tun %s: %w", cfg.Interface, err)
	}
	name, err := t.Name()
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("tun name: %w", err)
	}
	// wireguard-go turns on TSO/USO on the TUN when the kernel supports it
	// and then reads and writes batches of coalesced segments.
	offload := t.BatchSize() > 1
	log.Info("tun up", "interface", name, "mtu", cfg.MTU, "offloads", offload)
	if cfg.Wrap != nil {
		t = cfg.Wrap(t)
	}
	bind := &controlBind{Bind: conn.NewDefaultBind()}
	wg := device.NewDevice(t, bind, wgLogger(log))
	d := &Device{name: name, port: cfg.ListenPort, pub: cfg.PrivateKey.Public(), Offloads: offload, wg: wg, bind: bind, log: log, peers: map[Key]Peer{}, made: map[Key]time.Time{}}
	set := fmt.Sprintf("private_key=%s\nlisten_port=%d\n", cfg.PrivateKey.hex(), cfg.ListenPort)
	if err := wg.IpcSet(set); err != nil {
		wg.Close()
		return nil, fmt.Errorf("configure %s (udp port %d): %w", name, cfg.ListenPort, err)
	}
	if err := wg.Up(); err != nil {
		wg.Close()
		return nil, fmt.Errorf("bring up %s: %w", name, err)
	}
	return d, nil
}

// wgLogger routes wireguard-go's printf logging into slog; its verbose level
// is per packet-event chatty, so it goes to Debug.
func wgLogger(log *slog.Logger) *device.Logger {
	return &device.Logger{
		Verbosef: func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) },
		Errorf:   func(f string, a ...any) { log.Error(fmt.Sprintf(f, a...)) },
	}
}

// Name is the kernel interface name.
func (d *Device) Name() string { return d.name }

// PublicKey is the device's public key, what peers configure for it.
func (d *Device) PublicKey() Key { return d.pub }

// ListenPort is the UDP port WireGuard listens on.
func (d *Device) ListenPort() int { return d.port }

// SetPeers makes the device's peers equal to peers, touching only the peers
// that differ from the last call.
func (d *Device) SetPeers(peers []Peer) error {
	want := make(map[Key]Peer, len(peers))
	for _, p := range peers {
		want[p.PublicKey] = p
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	body := peerDiff(d.peers, want)
	if body == "" {
		return nil
	}
	if err := d.wg.IpcSet(body); err != nil {
		// The device may be half-updated; forget what we believe so that the
		// next call re-sends every peer in full.
		d.peers = map[Key]Peer{}
		return fmt.Errorf("set peers on %s: %w", d.name, err)
	}
	now := time.Now()
	for k := range d.made {
		if _, ok := want[k]; !ok {
			delete(d.made, k)
		}
	}
	for k := range want {
		if _, ok := d.peers[k]; !ok {
			d.made[k] = now
		}
	}
	d.peers = maps.Clone(want)
	return nil
}

// Rehandshake replaces a peer by a fresh copy of itself, so that its next
// packet (or its keepalive, at once) starts a new handshake. WireGuard
// waits 5 s before it retries an initiation that went unanswered; when the
// other end has only just learned of us, that wait is pure loss.
//
// Only a copy made before since is replaced (since: when the other end
// can first have known us, our Join's sending). A younger copy's
// initiation went to an end that knew us and may be on its way: replacing
// it would drop the answer, and the other end refuses an initiation that
// comes within 20 ms of the last as a flood, which leaves the tunnel to
// WireGuard's retry 5 s later. So two Welcomes to one Join (one from each
// endpoint a gateway lists) replace the peer once.
func (d *Device) Rehandshake(key Key, since time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[key]
	if !ok {
		return fmt.Errorf("no peer %s on %s", key, d.name)
	}
	if !d.made[key].Before(since) {
		return nil
	}
	body := fmt.Sprintf("public_key=%s\nremove=true\n", key.hex()) + peerDiff(nil, map[Key]Peer{key: p})
	if err := d.wg.IpcSet(body); err != nil {
		d.peers = map[Key]Peer{}
		return fmt.Errorf("re-add peer on %s: %w", d.name, err)
	}
	d.made[key] = time.Now()
	return nil
}

// SetEndpoint points a peer's tunnel at ep now, whatever WireGuard learned
// by roaming since: a packet still in flight on the old path would
// otherwise pull it back there.
func (d *Device) SetEndpoint(key Key, ep netip.AddrPort) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.peers[key]
	if !ok {
		return fmt.Errorf("no peer %s on %s", key, d.name)
	}
	if err := d.wg.IpcSet(fmt.Sprintf("public_key=%s\nupdate_only=true\nendpoint=%s\n", key.hex(), ep)); err != nil {
		return fmt.Errorf("set endpoint on %s: %w", d.name, err)
	}
	p.Endpoint = ep
	d.peers[key] = p
	return nil
}

// Status reads the live per-peer state from the device.
func (d *Device) Status() ([]PeerStatus, error) {
	s, err := d.wg.IpcGet()
	if err != nil {
		return nil, fmt.Errorf("read %s state: %w", d.name, err)
	}
	return parseStatus(s)
}

// Close stops WireGuard and removes the TUN interface.
func (d *Device) Close() {
	d.wg.Close()
}
