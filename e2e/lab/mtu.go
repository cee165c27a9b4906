package lab

import (
	"fmt"
	"strconv"
)

// SetMTU sets an interface's MTU.
func (n *NS) SetMTU(ifname string, mtu int) error {
	return n.ip("link", "set", "dev", ifname, "mtu", strconv.Itoa(mtu))
}

// BlackholePMTUD drops the ICMP "fragmentation needed" messages that reach
// the namespace, as cloud security groups and many firewalls do by default:
// path MTU discovery then fails silently, and only an MSS clamp on the way
// keeps TCP from stalling on full-size segments.
func (n *NS) BlackholePMTUD() error {
	return n.nft(fmt.Sprintf(`add table ip %[1]s
add chain ip %[1]s pmtud_blackhole { type filter hook input priority 0; policy accept; }
flush chain ip %[1]s pmtud_blackhole
add rule ip %[1]s pmtud_blackhole icmp type destination-unreachable icmp code frag-needed drop
`, natTable))
}
