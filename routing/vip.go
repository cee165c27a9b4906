package routing

// Kernel primitives for a floating LAN address shared by an HA pair of
// gateways, the way VRRP does it: the active gateway holds the address on
// its LAN interface and announces it by gratuitous ARP, so the LAN router's
// neighbour entry moves to its MAC. Who is active is decided elsewhere;
// these only make the kernel match and are idempotent, so a decider can
// call them again after a crash or on every tick.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

var errVIPNotIPv4 = errors.New("virtual addresses are IPv4 only")

// HoldAddress puts addr on the interface ifname unless it is there already
// (the same address with the same prefix length); added says whether this
// call added it. With a lifetime the kernel removes the address by itself
// once it passes unless a later call renews it: a holder that dies without
// releasing it (kill -9) leaves it behind for that long only.
//
// The prefix is taken as given, and its length decides how the kernel
// treats the address:
//
//   - /32, the caller's default: a primary address alone in its own
//     subnet, so the kernel adds no connected route, cannot delete any other
//     address along with it, and, being listed after the interface's LAN
//     address, is not chosen as the source of the gateway's own traffic.
//     The interface then needs its own address in the LAN for replies sent
//     from the virtual address to find their way back.
//   - the LAN's length (say /24) while the interface has an address in that
//     LAN: a secondary address, never chosen as a source either, and
//     deleting a secondary deletes nothing else.
//   - the LAN's length with no other address in that LAN: it becomes the
//     primary with the connected route, is the source of the gateway's
//     traffic into the LAN, and releasing it deletes any secondaries added
//     after it (unless promote_secondaries is set). Avoid.
func HoldAddress(ifname string, addr netip.Prefix, lifetime time.Duration) (added bool, err error) {
	if err := vipValid(addr); err != nil {
		return false, err
	}
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return false, fmt.Errorf("find %s: %w", ifname, err)
	}
	held, err := holds(link, addr)
	if err != nil || (held && lifetime == 0) {
		return false, err
	}
	a := vipAddr(addr)
	if lifetime > 0 {
		secs := int((lifetime + time.Second - 1) / time.Second)
		a.ValidLft, a.PreferedLft = secs, secs
	}
	// Replace sets the lifetime of an address held already: the refresh.
	if err := netlink.AddrReplace(link, a); err != nil {
		return false, fmt.Errorf("add %s to %s: %w", addr, ifname, err)
	}
	return !held, nil
}

// ReleaseAddress takes addr, with exactly that prefix length, off the
// interface ifname; removed says whether this call removed it. A missing
// interface or address is what releasing wants, so neither is an error.
func ReleaseAddress(ifname string, addr netip.Prefix) (removed bool, err error) {
	if err := vipValid(addr); err != nil {
		return false, err
	}
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		if errors.As(err, &netlink.LinkNotFoundError{}) {
			return false, nil
		}
		return false, fmt.Errorf("find %s: %w", ifname, err)
	}
	held, err := holds(link, addr)
	if err != nil || !held {
		return false, err
	}
	// The kernel matches the prefix length too, so this never takes the
	// same address with another length, say the interface's own.
	if err := netlink.AddrDel(link, vipAddr(addr)); err != nil {
		if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENODEV) {
			return false, nil // gone between the listing and now
		}
		return false, fmt.Errorf("remove %s from %s: %w", addr, ifname, err)
	}
	return true, nil
}

// HasAddress says whether addr is on the interface ifname with any prefix
// length: whether the kernel answers for it there, which is what a decider
// checking for drift needs. HoldAddress and ReleaseAddress, by contrast,
// match the exact prefix, so as not to claim or delete an address that was
// configured by hand with another length.
func HasAddress(ifname string, addr netip.Addr) (bool, error) {
	addr = addr.Unmap()
	if !addr.Is4() {
		return false, errVIPNotIPv4
	}
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return false, fmt.Errorf("find %s: %w", ifname, err)
	}
	as, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return false, fmt.Errorf("addresses of %s: %w", ifname, err)
	}
	for _, a := range as {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
			return true, nil
		}
	}
	return false, nil
}

// AnnounceAddress sends one gratuitous ARP for addr from the interface's
// MAC: a request with sender and target IP both addr and a zero target MAC,
// to the Ethernet broadcast address. Linux updates a neighbour entry that
// exists from such a request even with arp_accept=0, and overrides the
// entry's locktime for it; it is also what keepalived sends. Routers that
// missed it learn the MAC when their entry goes stale and they ask again,
// so callers may send a few, spaced apart.
//
// It needs CAP_NET_RAW for the packet socket, and the interface must have
// an IPv4 address (github.com/mdlayher/arp refuses one without); after
// HoldAddress it has addr. It does not check that addr is held here:
// announcing an address not held pulls the LAN's traffic for it into a
// black hole, which the caller, holding first, avoids.
func AnnounceAddress(ifname string, addr netip.Addr) error {
	addr = addr.Unmap()
	if !addr.Is4() {
		return errVIPNotIPv4
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return fmt.Errorf("find %s: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return fmt.Errorf("%s has no Ethernet address to announce %s from", ifname, addr)
	}
	c, err := arp.Dial(ifi)
	if err != nil {
		return fmt.Errorf("ARP socket on %s: %w", ifname, err)
	}
	defer c.Close()
	p, err := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, addr, make(net.HardwareAddr, 6), addr)
	if err != nil {
		return fmt.Errorf("gratuitous ARP for %s: %w", addr, err)
	}
	// A send on a packet socket does not normally block; the deadline only
	// keeps a wedged driver from stalling a failover.
	if err := c.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		return fmt.Errorf("ARP socket on %s: %w", ifname, err)
	}
	if err := c.WriteTo(p, ethernet.Broadcast); err != nil {
		return fmt.Errorf("announce %s on %s: %w", addr, ifname, err)
	}
	return nil
}

// InterfaceFor names the interface whose connected IPv4 network contains
// addr: the default LAN interface for a virtual address when the
// configuration names none. Host (/32) addresses are no network, so a
// virtual address held as /32 does not count. It is an error when no
// interface, or more than one, has such a network, since guessing would put
// the address on the wrong LAN.
func InterfaceFor(addr netip.Addr) (string, error) {
	addr = addr.Unmap()
	if !addr.Is4() {
		return "", errVIPNotIPv4
	}
	as, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", fmt.Errorf("list addresses: %w", err)
	}
	var names []string
	for _, a := range as {
		if !network(a).Contains(addr) {
			continue
		}
		link, err := netlink.LinkByIndex(a.LinkIndex)
		if err != nil {
			return "", fmt.Errorf("link of %s: %w", a.IPNet, err)
		}
		if name := link.Attrs().Name; !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	switch len(names) {
	case 0:
		return "", fmt.Errorf("no interface has a connected IPv4 network containing %s; name the interface", addr)
	case 1:
		return names[0], nil
	default:
		return "", fmt.Errorf("several interfaces have a connected IPv4 network containing %s (%s); name the interface", addr, strings.Join(names, ", "))
	}
}

// network is the connected network an address gives its interface, or the
// invalid prefix (containing nothing) for a host address. A point-to-point
// address's network is its peer's.
func network(a netlink.Addr) netip.Prefix {
	n := a.IPNet
	if a.Peer != nil {
		n = a.Peer
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	ones, bits := n.Mask.Size()
	if !ok || bits != 32 || ones >= 32 {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(ip.Unmap(), ones).Masked()
}

func vipValid(addr netip.Prefix) error {
	if !addr.IsValid() {
		return fmt.Errorf("invalid virtual address %s", addr)
	}
	if !addr.Addr().Is4() {
		return errVIPNotIPv4
	}
	return nil
}

// holds says whether link has addr with exactly its prefix length.
func holds(link netlink.Link, addr netip.Prefix) (bool, error) {
	as, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return false, fmt.Errorf("addresses of %s: %w", link.Attrs().Name, err)
	}
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		if ok && ip.Unmap() == addr.Addr() && ones == addr.Bits() {
			return true, nil
		}
	}
	return false, nil
}

func vipAddr(addr netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}}
}
