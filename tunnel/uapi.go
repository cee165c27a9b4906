package tunnel

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Peer is the desired state of one WireGuard peer.
type Peer struct {
	PublicKey  Key
	Endpoint   netip.AddrPort // zero: none known; the peer dials us (it is behind NAT)
	AllowedIPs []netip.Prefix
	Keepalive  int // seconds, 0 = off
}

func (p Peer) equal(q Peer) bool {
	return p.PublicKey == q.PublicKey && p.Endpoint == q.Endpoint &&
		p.Keepalive == q.Keepalive && slices.Equal(p.AllowedIPs, q.AllowedIPs)
}

// PeerStatus is what the device reports about a peer.
type PeerStatus struct {
	PublicKey     Key
	Endpoint      netip.AddrPort // the endpoint in use (configured or learned by roaming)
	LastHandshake time.Time      // zero: never
	RxBytes       uint64
	TxBytes       uint64
	AllowedIPs    []netip.Prefix
	Keepalive     int
}

// peerDiff writes the UAPI "set" body that turns the peers in old into the
// peers in new. Unchanged peers are not mentioned at all, so their sessions
// and learned endpoints survive; changed peers are edited in place with
// update_only; replace_peers is never used because it drops every session.
func peerDiff(old, new map[Key]Peer) string {
	var b strings.Builder
	for _, k := range sortedKeys(old) {
		if _, ok := new[k]; !ok {
			fmt.Fprintf(&b, "public_key=%s\nremove=true\n", k.hex())
		}
	}
	for _, k := range sortedKeys(new) {
		p := new[k]
		o, ok := old[k]
		if ok && o.equal(p) {
			continue
		}
		fmt.Fprintf(&b, "public_key=%s\n", k.hex())
		if ok {
			b.WriteString("update_only=true\n")
		}
		writePeerFields(&b, o, p, ok)
	}
	return b.String()
}

func writePeerFields(b *strings.Builder, o, p Peer, existed bool) {
	// An unchanged endpoint is not re-sent: that would undo roaming.
	if p.Endpoint.IsValid() && (!existed || o.Endpoint != p.Endpoint) {
		fmt.Fprintf(b, "endpoint=%s\n", p.Endpoint)
	}
	if !existed || o.Keepalive != p.Keepalive {
		fmt.Fprintf(b, "persistent_keepalive_interval=%d\n", p.Keepalive)
	}
	for _, pfx := range p.AllowedIPs {
		if !existed || !slices.Contains(o.AllowedIPs, pfx) {
			fmt.Fprintf(b, "allowed_ip=%s\n", pfx)
		}
	}
	if existed {
		for _, pfx := range o.AllowedIPs {
			if !slices.Contains(p.AllowedIPs, pfx) {
				fmt.Fprintf(b, "allowed_ip=-%s\n", pfx)
			}
		}
	}
}

func sortedKeys(m map[Key]Peer) []Key {
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Key) int { return strings.Compare(string(a[:]), string(b[:])) })
	return keys
}

// parseStatus reads the UAPI "get" output into per-peer status.
func parseStatus(s string) ([]PeerStatus, error) {
	var peers []PeerStatus
	var sec, nsec int64
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if key == "public_key" {
			peers = append(peers, PeerStatus{})
			sec, nsec = 0, 0
		}
		if len(peers) == 0 {
			continue // interface-level lines
		}
		p := &peers[len(peers)-1]
		if err := setStatusField(p, key, val, &sec, &nsec); err != nil {
			return nil, fmt.Errorf("uapi %s=%q: %w", key, val, err)
		}
	}
	return peers, sc.Err()
}

func setStatusField(p *PeerStatus, key, val string, sec, nsec *int64) error {
	var err error
	switch key {
	case "public_key":
		err = decodeHexKey(&p.PublicKey, val)
	case "endpoint":
		p.Endpoint, err = netip.ParseAddrPort(val)
	case "last_handshake_time_sec":
		*sec, err = strconv.ParseInt(val, 10, 64)
		p.LastHandshake = handshakeTime(*sec, *nsec)
	case "last_handshake_time_nsec":
		*nsec, err = strconv.ParseInt(val, 10, 64)
		p.LastHandshake = handshakeTime(*sec, *nsec)
	case "rx_bytes":
		p.RxBytes, err = strconv.ParseUint(val, 10, 64)
	case "tx_bytes":
		p.TxBytes, err = strconv.ParseUint(val, 10, 64)
	case "persistent_keepalive_interval":
		p.Keepalive, err = strconv.Atoi(val)
	case "allowed_ip":
		var pfx netip.Prefix
		pfx, err = netip.ParsePrefix(val)
		p.AllowedIPs = append(p.AllowedIPs, pfx)
	}
	return err
}

func handshakeTime(sec, nsec int64) time.Time {
	if sec == 0 && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, nsec)
}

func decodeHexKey(k *Key, s string) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return fmt.Errorf("want 64 hex digits")
	}
	copy(k[:], b)
	return nil
}
