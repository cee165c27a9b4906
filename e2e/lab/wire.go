package lab

import "fmt"

// maxIfName is the kernel's limit on interface names (IFNAMSIZ-1).
const maxIfName = 15

// Wire links two namespaces with a veth pair: aIf in a, bIf in b. Each end
// gets its address (CIDR, e.g. "192.168.0.1/24"; "" for none) and is set up.
//
// Both ends are created directly inside their namespaces, so the names
// never appear in the machine's own namespace and cannot clash with it.
func (l *Lab) Wire(a *NS, aIf, aAddr string, b *NS, bIf, bAddr string) error {
	for _, name := range []string{aIf, bIf} {
		if name == "" || len(name) > maxIfName {
			return fmt.Errorf("interface name %q: want 1 to %d characters", name, maxIfName)
		}
	}
	if _, err := run("ip", "link", "add", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name); err != nil {
		return fmt.Errorf("wire %s:%s to %s:%s: %w", a.Role, aIf, b.Role, bIf, err)
	}
	l.logf("lab %s: wire %s:%s %s — %s:%s %s", l.ID, a.Role, aIf, aAddr, b.Role, bIf, bAddr)
	if err := a.ifUp(aIf, aAddr); err != nil {
		return err
	}
	return b.ifUp(bIf, bAddr)
}

// ifUp gives an interface its address (if any) and sets it up.
func (n *NS) ifUp(ifname, addr string) error {
	if addr != "" {
		if err := n.ip("addr", "add", addr, "dev", ifname); err != nil {
			return err
		}
	}
	return n.ip("link", "set", ifname, "up")
}

// Bridge makes a bridge in n, the shared L2 segment of a LAN or of the
// internet, with an address on it ("" for none).
func (l *Lab) Bridge(n *NS, br, addr string) error {
	if len(br) > maxIfName {
		return fmt.Errorf("bridge name %q: longer than %d", br, maxIfName)
	}
	if err := n.ip("link", "add", br, "type", "bridge"); err != nil {
		return err
	}
	l.logf("lab %s: bridge %s:%s %s", l.ID, n.Role, br, addr)
	return n.ifUp(br, addr)
}

// WireToBridge plugs a into the bridge br of brNS: a veth pair whose end in
// a is aIf (with aAddr) and whose other end is a port of br, named
// "p<n>-<role of a>" so that `ip link` in brNS shows what is plugged in.
func (l *Lab) WireToBridge(a *NS, aIf, aAddr string, brNS *NS, br string) error {
	port := l.portName(a.Role)
	if err := l.Wire(a, aIf, aAddr, brNS, port, ""); err != nil {
		return err
	}
	return brNS.ip("link", "set", port, "master", br)
}

// portName is a bridge port name unique in the lab, within IFNAMSIZ.
func (l *Lab) portName(role string) string {
	l.mu.Lock()
	l.ports++
	name := fmt.Sprintf("p%d-%s", l.ports, role)
	l.mu.Unlock()
	if len(name) > maxIfName {
		name = name[:maxIfName]
	}
	return name
}
