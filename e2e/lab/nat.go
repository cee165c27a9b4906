package lab

import (
	"fmt"
	"strings"
)

// All of the lab's NAT lives in one nftables table per namespace. Each
// function owns its own chains and rewrites them whole, so calling it again
// replaces rather than duplicates.
//
// Order matters: for a new connection the kernel consults the nat chains of
// a hook in priority order and stops at the first that sets a mapping. The
// 1:1 chains therefore run before masquerade (priority srcnat - 10), so a
// 1:1 gateway keeps its own public address while the other hosts behind the
// same router are masqueraded.
const natTable = "lab"

// Masquerade rewrites the source of everything leaving wanIf to wanIf's
// address, like an office router. Linux keeps the inner source port where
// it is free: an endpoint-independent mapping. randomPorts ("masquerade
// random") draws a new port for every conntrack entry, that is for every
// destination, so one inner socket shows different ports to different
// peers: an endpoint-dependent ("symmetric") mapping, like many cloud NAT
// gateways.
func (n *NS) Masquerade(wanIf string, randomPorts bool) error {
	rule := fmt.Sprintf("oifname %q masquerade", wanIf)
	if randomPorts {
		rule += " random"
	}
	chain := "masq_" + nftName(wanIf)
	return n.nft(chainScript(chain, "postrouting", "srcnat", rule))
}

// OneToOne maps the public address to a private one and back, like a cloud
// public IP on an instance: everything arriving on wanIf for public goes to
// private (any port, any protocol), and everything private sends out wanIf
// leaves from public. The router gets public on wanIf if it has not got it,
// so that it answers ARP for it on the public segment.
func (n *NS) OneToOne(wanIf, public, private string) error {
	if !n.hasAddr(wanIf, public) {
		if err := n.ip("addr", "add", public+"/32", "dev", wanIf); err != nil {
			return err
		}
	}
	id := nftName(wanIf + "_" + public)
	// From any side: an instance reaches another's elastic IP from inside
	// the VPC too (hairpin), as on EC2.
	in := fmt.Sprintf("ip daddr %s dnat to %s", public, private)
	out := fmt.Sprintf("oifname %q ip saddr %s snat to %s", wanIf, private, public)
	// A hairpinned packet leaves by the interface it came in on: its
	// source is rewritten too, so that the reply comes back this way.
	hairpin := fmt.Sprintf("ct status dnat iifname != %q oifname != %q masquerade", wanIf, wanIf)
	return n.nft(chainScript("o2o_in_"+id, "prerouting", "dstnat - 10", in) +
		chainScript("o2o_out_"+id, "postrouting", "srcnat - 10", out) +
		chainScript("hairpin", "postrouting", "srcnat - 5", hairpin))
}

// RouterFirewall is the stateful firewall real NAT routers have for
// traffic addressed to themselves on wanIf: replies to what they sent and
// pings get in, every new inbound connection is dropped. Forwarded traffic,
// 1:1 traffic DNATed to a LAN host included, is not touched.
//
// Without it Linux breaks hole punching between two masquerading routers:
// a peer's first packet, arriving before the gateway behind has sent one to
// that peer, is delivered to the router itself (nothing listens, ICMP port
// unreachable) and its conntrack entry is confirmed; the gateway's own
// packet to that peer then clashes with that entry and is masqueraded to
// another source port, so neither side's probes ever match a mapping.
// Dropped in the input hook, the entry is never confirmed.
func (n *NS) RouterFirewall(wanIf string) error {
	chain := "fw_in_" + nftName(wanIf)
	return n.nft(fmt.Sprintf(`add table ip %[1]s
add chain ip %[1]s %[2]s { type filter hook input priority filter; policy accept; }
flush chain ip %[1]s %[2]s
add rule ip %[1]s %[2]s iifname %[3]q ct state established,related accept
add rule ip %[1]s %[2]s iifname %[3]q icmp type echo-request accept
add rule ip %[1]s %[2]s iifname %[3]q counter drop
`, natTable, chain, wanIf))
}

// chainScript (re)creates a nat base chain holding one rule.
func chainScript(chain, hook, priority, rule string) string {
	return fmt.Sprintf(`add table ip %[1]s
add chain ip %[1]s %[2]s { type nat hook %[3]s priority %[4]s; policy accept; }
flush chain ip %[1]s %[2]s
add rule ip %[1]s %[2]s %[5]s
`, natTable, chain, hook, priority, rule)
}

// nft applies a script in one transaction.
func (n *NS) nft(script string) error {
	ctx, cancel := setupCtx()
	defer cancel()
	if _, err := command(ctx, script, "ip", "netns", "exec", n.Name, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("%s: nft: %w\n%s", n.Role, err, script)
	}
	n.lab.logf("lab %s: nft in %s:\n%s", n.lab.ID, n.Role, script)
	return nil
}

// nftName makes s usable as a chain name.
func nftName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}
