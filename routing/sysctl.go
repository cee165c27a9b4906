package routing

// The kernel settings a gateway forwards with (docs/ARCHITECTURE.md,
// Forwarding prerequisites): IPv4 forwarding on, and reverse-path filtering
// not strict on the interfaces packets cross. ApplyPrerequisites sets them at
// start and says what it changed; Forwarding and ReadRPFilter only read, for
// `vpcmesh doctor`. systemd/99-vpcmesh.conf sets the same values at boot.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ForwardingKey is the IPv4 forwarding setting, in sysctl's dotted form.
const ForwardingKey = "net.ipv4.ip_forward"

// ICMPErrorsKey makes the ICMP errors a gateway sends (time exceeded,
// unreachable) come from the interface the packet came in on: an error for
// a packet from the mesh then leaves from the overlay address, which the
// project tables route back, instead of finding the unreachable table.
const ICMPErrorsKey = "net.ipv4.icmp_errors_use_inbound_ifaddr"

// Reverse-path filter modes (net.ipv4.conf.*.rp_filter).
const (
	RPFilterOff    = 0
	RPFilterStrict = 1 // drops a reply that leaves by another interface than its request came in on
	RPFilterLoose  = 2
)

// Change is a setting ApplyPrerequisites changed, for the gateway's log.
type Change struct{ Key, Was, Now string }

func (c Change) String() string { return fmt.Sprintf("%s was %s, set %s", c.Key, c.Was, c.Now) }

// RPFilter is one interface's reverse-path filter. The kernel applies the
// larger of the interface's own value and "all".
type RPFilter struct {
	Link     string
	All, Own int
}

// Effective is the mode the kernel applies to the interface.
func (r RPFilter) Effective() int { return max(r.All, r.Own) }

// Mode names the effective mode: off, strict or loose.
func (r RPFilter) Mode() string {
	switch r.Effective() {
	case RPFilterOff:
		return "off"
	case RPFilterStrict:
		return "strict"
	}
	return "loose"
}

// RPFilterKey is the dotted sysctl name of a link's rp_filter ("all" too).
// A dot in the link name is written '/', as sysctl(8) wants.
func RPFilterKey(link string) string {
	return "net.ipv4.conf." + strings.ReplaceAll(link, ".", "/") + ".rp_filter"
}

// ApplyPrerequisites turns IPv4 forwarding on and makes reverse-path
// filtering loose where it is strict, on "all" and on each link (the tunnel
// interface and the site-facing ones): with relays and HA pairs a reply may
// leave by another interface than its request came in on. A filter that is
// off stays off. It returns what it changed, in order.
func ApplyPrerequisites(links ...string) ([]Change, error) {
	return procSys.apply(prerequisites(links))
}

// Forwarding reports whether IPv4 forwarding is on.
func Forwarding() (bool, error) {
	v, err := procSys.read(ForwardingKey)
	return v == "1", err
}

// ReadRPFilter reads a link's reverse-path filter and "all". The error
// wraps fs.ErrNotExist when the link does not exist.
func ReadRPFilter(link string) (RPFilter, error) { return procSys.rpFilter(link) }

// setting is a sysctl and the value it should have given its current one.
type setting struct {
	key  string
	want func(cur string) string
}

func prerequisites(links []string) []setting {
	s := []setting{{ForwardingKey, func(string) string { return "1" }}, {ICMPErrorsKey, func(string) string { return "1" }}, {RPFilterKey("all"), notStrict}}
	for _, l := range links {
		s = append(s, setting{RPFilterKey(l), notStrict})
	}
	return s
}

// notStrict turns a strict filter loose and leaves off and loose alone.
func notStrict(cur string) string {
	if cur == strconv.Itoa(RPFilterStrict) {
		return strconv.Itoa(RPFilterLoose)
	}
	return cur
}

// sysctls is a /proc/sys tree; tests use a directory of their own.
type sysctls struct{ root string }

var procSys = sysctls{root: "/proc/sys"}

func (s sysctls) apply(settings []setting) ([]Change, error) {
	var changes []Change
	seen := map[string]bool{}
	for _, st := range settings {
		if seen[st.key] {
			continue
		}
		seen[st.key] = true
		cur, err := s.read(st.key)
		if err != nil {
			return changes, err
		}
		if want := st.want(cur); want != cur {
			if err := s.write(st.key, want); err != nil {
				return changes, err
			}
			changes = append(changes, Change{Key: st.key, Was: cur, Now: want})
		}
	}
	return changes, nil
}

func (s sysctls) rpFilter(link string) (RPFilter, error) {
	r := RPFilter{Link: link}
	var err error
	if r.All, err = s.readInt(RPFilterKey("all")); err != nil {
		return r, err
	}
	r.Own, err = s.readInt(RPFilterKey(link))
	return r, err
}

// path maps a dotted key to its file: dots separate, a '/' is a dot.
func (s sysctls) path(key string) string {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, "/", ".")
	}
	return filepath.Join(append([]string{s.root}, parts...)...)
}

func (s sysctls) read(key string) (string, error) {
	b, err := os.ReadFile(s.path(key))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (s sysctls) readInt(key string) (int, error) {
	v, err := s.read(key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	return n, nil
}

func (s sysctls) write(key, val string) error {
	if err := os.WriteFile(s.path(key), []byte(val), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, val, err)
	}
	return nil
}
