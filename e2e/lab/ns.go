package lab

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NS is one network namespace of a lab: a host, router, gateway or the
// internet.
type NS struct {
	Name string // "vm<ID>-<role>", as `ip netns` knows it
	Role string // the lab-local name, e.g. "office-gw"
	lab  *Lab
}

var roleRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// baseSysctls make every namespace the same whatever the machine's own
// settings are (IPv4 sysctls of a new namespace are copied from the
// machine's): no forwarding until a role asks for it, and no ICMP redirects,
// which would teach hosts to bypass a site router's route to its gateway and
// make the path change during a test, as a VPC route table never does.
var baseSysctls = []string{
	"net.ipv4.ip_forward=0",
	"net.ipv4.conf.all.send_redirects=0",
	"net.ipv4.conf.default.send_redirects=0",
}

// NS creates the namespace "vm<ID>-<role>" with lo up and forwarding off.
func (l *Lab) NS(role string) (*NS, error) {
	if !roleRE.MatchString(role) {
		return nil, fmt.Errorf("namespace role %q: want lowercase letters, digits and dashes", role)
	}
	n := &NS{Name: l.prefix() + role, Role: role, lab: l}
	if err := l.addNS(n); err != nil {
		return nil, err
	}
	if err := addNetns(n.Name); err != nil {
		return nil, err
	}
	l.logf("lab %s: namespace %s", l.ID, n.Name)
	if err := n.ip("link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	if err := n.Sysctl(baseSysctls...); err != nil {
		return nil, err
	}
	return n, nil
}

// addNS records n, refusing a role the lab already has and a lab that is
// closed.
func (l *Lab) addNS(n *NS) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("lab %s is closed", l.ID)
	}
	for _, o := range l.namespaces {
		if o.Role == n.Role {
			return fmt.Errorf("lab %s already has a namespace %q", l.ID, n.Role)
		}
	}
	l.namespaces = append(l.namespaces, n)
	return nil
}

// netnsAddMu serialises `ip netns add` in this process: the first one on a
// machine makes /run/netns a shared mount, and two first ones at once can
// stack two mounts and hide the namespaces made under the lower one.
var netnsAddMu sync.Mutex

func addNetns(name string) error {
	netnsAddMu.Lock()
	defer netnsAddMu.Unlock()
	_, err := run("ip", "netns", "add", name)
	return err
}

// Exec runs a command inside the namespace and returns its combined output;
// the error carries the output too.
func (n *NS) Exec(ctx context.Context, args ...string) (string, error) {
	out, err := command(ctx, "", append([]string{"ip", "netns", "exec", n.Name}, args...)...)
	if err != nil {
		return out, fmt.Errorf("%s: %w", n.Role, err)
	}
	return out, nil
}

// ip runs `ip -n <ns> args`: a setup step, bounded by setupTimeout.
func (n *NS) ip(args ...string) error {
	_, err := run(append([]string{"ip", "-n", n.Name}, args...)...)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Role, err)
	}
	return nil
}

// Do runs f on an OS thread switched into the namespace and switches back.
// Sockets f opens stay in the namespace after Do returns; goroutines f starts
// do not run inside it.
func (n *NS) Do(f func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(n.Name)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open netns %s: %w", n.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns %s: %w", n.Name, err)
	}
	defer func() {
		// A thread that cannot go back stays locked, so the runtime
		// discards it instead of reusing it in the wrong namespace.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return f()
}

// Sysctl sets "key=value" settings inside the namespace.
func (n *NS) Sysctl(settings ...string) error {
	ctx, cancel := setupCtx()
	defer cancel()
	_, err := n.Exec(ctx, append([]string{"sysctl", "-q", "-w"}, settings...)...)
	return err
}

// Forwarding turns IPv4 forwarding on or off.
func (n *NS) Forwarding(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	return n.Sysctl("net.ipv4.ip_forward=" + v)
}

// Route sets a route for dst ("default" or a CIDR) via a gateway address,
// or through a device when via is not an address (e.g. a tunnel interface).
func (n *NS) Route(dst, via string) error {
	if _, err := netip.ParseAddr(via); err == nil {
		return n.ip("route", "replace", dst, "via", via)
	}
	return n.ip("route", "replace", dst, "dev", via)
}

// Ping sends one ICMP echo to dst and waits a second for the reply.
func (n *NS) Ping(ctx context.Context, dst string) error { return n.PingWithin(ctx, dst, time.Second) }

// PingWithin is Ping waiting at most wait for the answer: for polls that
// time how soon a path comes up.
func (n *NS) PingWithin(ctx context.Context, dst string, wait time.Duration) error {
	_, err := n.Exec(ctx, "ping", "-n", "-q", "-c", "1", "-W", strconv.FormatFloat(wait.Seconds(), 'f', 3, 64), dst)
	return err
}

// Addr returns the first IPv4 address of an interface in the namespace.
func (n *NS) Addr(ifname string) (netip.Prefix, error) {
	var p netip.Prefix
	err := n.Do(func() error {
		link, err := netlink.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", n.Role, ifname, err)
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil || len(addrs) == 0 {
			return fmt.Errorf("%s: no IPv4 address on %s %v", n.Role, ifname, err)
		}
		a, _ := netip.AddrFromSlice(addrs[0].IP.To4())
		bits, _ := addrs[0].Mask.Size()
		p = netip.PrefixFrom(a, bits)
		return nil
	})
	return p, err
}

// String is the role, for messages.
func (n *NS) String() string { return n.Role }

// hasAddr reports whether an interface already holds addr (no prefix).
func (n *NS) hasAddr(ifname, addr string) bool {
	out, err := run("ip", "-n", n.Name, "-4", "-o", "addr", "show", "dev", ifname)
	return err == nil && strings.Contains(out, " "+addr+"/")
}
