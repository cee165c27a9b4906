package lab

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sink counts what a UDP socket receives, by the tag byte that starts each
// payload (see tagged), so that the floods of one test stay apart.
type sink struct {
	mu   sync.Mutex
	tags map[byte]*sinkCount
}

type sinkCount struct {
	n     int
	ports map[uint16]bool
	srcs  map[netip.Addr]bool
}

// listenSink opens a UDP socket on [::]:port in n, which takes IPv4 too, and
// counts what arrives until the test ends.
func listenSink(t *testing.T, n *NS, port int) *sink {
	t.Helper()
	var c *net.UDPConn
	must(t, n.Do(func() (err error) {
		c, err = net.ListenUDP("udp", &net.UDPAddr{Port: port})
		return err
	}))
	t.Cleanup(func() { c.Close() })
	if got := c.LocalAddr().String(); got != fmt.Sprintf("[::]:%d", port) {
		t.Fatalf("sink listens on %s, want both families", got)
	}
	// A deep buffer, so that a reader behind on a busy machine does not
	// count as the flood's loss.
	raw, err := c.SyscallConn()
	must(t, err)
	must(t, raw.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
	}))
	must(t, err)
	s := &sink{tags: map[byte]*sinkCount{}}
	go s.read(c)
	return s
}

func (s *sink) read(c *net.UDPConn) {
	buf := make([]byte, 1<<16)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed at the test's end
		}
		if n == 0 {
			continue
		}
		s.mu.Lock()
		sc := s.tags[buf[0]]
		if sc == nil {
			sc = &sinkCount{ports: map[uint16]bool{}, srcs: map[netip.Addr]bool{}}
			s.tags[buf[0]] = sc
		}
		sc.n++
		sc.ports[from.Port()] = true
		sc.srcs[from.Addr().Unmap()] = true
		s.mu.Unlock()
	}
}

// count returns what arrived with tag: datagrams, distinct source ports and
// source addresses.
func (s *sink) count(tag byte) (n, ports int, srcs []netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.tags[tag]
	if sc == nil {
		return 0, 0, nil
	}
	for a := range sc.srcs {
		srcs = append(srcs, a)
	}
	return sc.n, len(sc.ports), srcs
}

// tagged makes 100-byte payloads: the tag, the datagram's number, padding.
func tagged(tag byte) func(int, []byte) []byte {
	return func(i int, buf []byte) []byte {
		buf = append(buf, tag)
		buf = binary.BigEndian.AppendUint32(buf, uint32(i))
		for len(buf) < 100 {
			buf = append(buf, 'x')
		}
		return buf
	}
}

// An attacker on the internet floods a sink on the same segment over IPv4
// and IPv6, from one port and from many; nearly all of it arrives, from the
// right address, and the flood keeps to its rate. Targets outside the lab
// are refused.
func TestFlood(t *testing.T) {
	l, ctx := newTestLab(t)
	a4, a6 := netip.MustParseAddr("203.0.113.250"), netip.MustParseAddr("2001:db8:1::250")
	s4, s6 := netip.MustParseAddr("203.0.113.251"), netip.MustParseAddr("2001:db8:1::251")
	attacker, err := l.Attacker(a4.String(), a6)
	must(t, err)
	sinkNS, err := l.internetHost("sink", s4.String(), s6)
	must(t, err)
	sink := listenSink(t, sinkNS, 40000)

	const count, rate = 2000, 20000
	modes := []struct {
		name     string
		src, dst netip.Addr
		vary     bool
	}{
		{"v4", a4, s4, false},
		{"v4 ports", a4, s4, true},
		{"v6 ports", a6, s6, true},
	}
	for i, m := range modes {
		tag := byte(1 + i)
		res, err := attacker.Flood(ctx, FloodSpec{Src: m.src, Target: netip.AddrPortFrom(m.dst, 40000),
			Payload: tagged(tag), VaryPorts: m.vary, Rate: rate, Count: count, For: 10 * time.Second})
		must(t, err)
		t.Logf("%s at %d/s: %+v", m.name, rate, res)
		if res.Sent != count || res.Errors != 0 {
			t.Errorf("%s: sent %d with %d errors, want %d without", m.name, res.Sent, res.Errors, count)
		}
		// Datagram count-1 is due (count-1)/rate after the first.
		if least := time.Duration(count-1) * time.Second / rate; res.Elapsed < least*9/10 {
			t.Errorf("%s: %d datagrams in %v, faster than %d/s", m.name, count, res.Elapsed, rate)
		}
		must(t, Eventually(ctx, 10*time.Second, func() error {
			if n, _, _ := sink.count(tag); n < count*95/100 {
				return fmt.Errorf("%s: sink has %d of %d", m.name, n, count)
			}
			return nil
		}))
		n, ports, srcs := sink.count(tag)
		t.Logf("%s: sink got %d from %d ports of %v", m.name, n, ports, srcs)
		if len(srcs) != 1 || srcs[0] != m.src {
			t.Errorf("%s: arrived from %v, want %v only", m.name, srcs, m.src)
		}
		if m.vary && ports < 1500 || !m.vary && ports != 1 {
			t.Errorf("%s: %d distinct source ports", m.name, ports)
		}
	}

	// As fast as it goes, for the record: the sink may drop some.
	for i, m := range modes {
		res, err := attacker.Flood(ctx, FloodSpec{Src: m.src, Target: netip.AddrPortFrom(m.dst, 40000),
			Payload: tagged(byte(10 + i)), VaryPorts: m.vary, Count: 1 << 30, For: time.Second})
		must(t, err)
		perSec := float64(res.Sent) / res.Elapsed.Seconds()
		n, _, _ := sink.count(byte(10 + i))
		t.Logf("%s flat out: %.0f datagrams/s (%+v); sink got %d so far", m.name, perSec, res, n)
		if perSec < 20000 {
			t.Errorf("%s: %.0f datagrams/s flat out, want ≥ 20000", m.name, perSec)
		}
	}

	// Outside the lab's ranges, and specs that are not bounded: refused
	// before the first payload is made.
	made := false
	payload := func(i int, buf []byte) []byte { made = true; return append(buf, 'x') }
	good := FloodSpec{Src: a4, Target: netip.AddrPortFrom(s4, 40000), Payload: payload, Count: 1, For: time.Second}
	bad := map[string]func(*FloodSpec){
		"8.8.8.8:53":             func(s *FloodSpec) { s.Target = netip.MustParseAddrPort("8.8.8.8:53") },
		"10.0.0.1:1":             func(s *FloodSpec) { s.Target = netip.MustParseAddrPort("10.0.0.1:1") },
		"[::ffff:8.8.8.8]:53":    func(s *FloodSpec) { s.Target = netip.MustParseAddrPort("[::ffff:8.8.8.8]:53") },
		"[2001:4860::8888]:53":   func(s *FloodSpec) { s.Src, s.Target = a6, netip.MustParseAddrPort("[2001:4860::8888]:53") },
		"port 0":                 func(s *FloodSpec) { s.Target = netip.AddrPortFrom(s4, 0) },
		"v6 source to v4 target": func(s *FloodSpec) { s.Src = a6 },
		"no payload":             func(s *FloodSpec) { s.Payload = nil },
		"no count":               func(s *FloodSpec) { s.Count = 0 },
		"no duration":            func(s *FloodSpec) { s.For = 0 },
		"over a minute":          func(s *FloodSpec) { s.For = time.Minute + time.Second },
	}
	for name, change := range bad {
		spec := good
		change(&spec)
		for _, vary := range []bool{false, true} {
			spec.VaryPorts = vary
			res, err := attacker.Flood(ctx, spec)
			if err == nil || res != (FloodResult{}) || made {
				t.Errorf("%s (VaryPorts %v): %+v, %v, payload made: %v; want refused", name, vary, res, err, made)
			}
			if strings.Contains(name, ":") && (err == nil || !strings.Contains(err.Error(), "not in the lab's ranges")) {
				t.Errorf("%s: %v, want refused as outside the lab", name, err)
			}
		}
	}
	// The good spec itself is accepted, so the refusals were the changes'.
	if res, err := attacker.Flood(ctx, good); err != nil || res.Sent != 1 || !made {
		t.Errorf("good spec: %+v, %v", res, err)
	}
}

// A flood ends when its context does, well before Count and For.
func TestFloodStopsWithContext(t *testing.T) {
	l, _ := newTestLab(t)
	attacker, err := l.Attacker("203.0.113.250", netip.Addr{})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err := attacker.Flood(ctx, FloodSpec{Src: netip.MustParseAddr("203.0.113.250"),
		Target: netip.MustParseAddrPort("203.0.113.251:9"), Payload: tagged(0),
		Rate: 1000, Count: 1 << 30, For: 30 * time.Second})
	must(t, err)
	if res.Elapsed > 5*time.Second || res.Sent == 0 || res.Sent > 1000 {
		t.Errorf("cancelled after 200ms at 1000/s: %+v", res)
	}
}

func TestReadProcStat(t *testing.T) {
	before, err := ReadProcStat(os.Getpid())
	must(t, err)
	if before.RSS <= 0 {
		t.Errorf("RSS %d", before.RSS)
	}
	// Burn CPU until it shows, at 10 ms a tick.
	sum := sha256.Sum256(nil)
	must(t, Eventually(context.Background(), 10*time.Second, func() error {
		for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
			sum = sha256.Sum256(sum[:])
		}
		after, err := ReadProcStat(os.Getpid())
		if err != nil {
			return err
		}
		if after.CPU-before.CPU < 50*time.Millisecond {
			return fmt.Errorf("CPU %v, %v before", after.CPU, before.CPU)
		}
		return nil
	}))
	if _, err := ReadProcStat(1 << 30); err == nil {
		t.Error("a pid that cannot exist has figures")
	}
}

// AddAddr6 works also where IPv6 starts disabled, as in a namespace that
// inherits disable_ipv6=1 from the machine: UDP then flows both ways.
func TestAddAddr6EnablesIPv6(t *testing.T) {
	l, ctx := newTestLab(t)
	a, err := l.NS("a")
	must(t, err)
	b, err := l.NS("b")
	must(t, err)
	for _, n := range []*NS{a, b} {
		must(t, n.Sysctl("net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"))
	}
	must(t, l.Wire(a, "eth0", "", b, "eth0", ""))
	a6, b6 := netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:1::2")
	must(t, a.AddAddr6("eth0", a6))
	must(t, b.AddAddr6("eth0", b6))
	must(t, a.AddAddr6("eth0", a6)) // again: no error
	for _, dir := range []struct {
		from, to *NS
		src, dst netip.Addr
		tag      byte
	}{{a, b, a6, b6, 1}, {b, a, b6, a6, 2}} {
		s := listenSink(t, dir.to, 9000)
		must(t, Eventually(ctx, 5*time.Second, func() error {
			if _, err := dir.from.Flood(ctx, FloodSpec{Src: dir.src, Target: netip.AddrPortFrom(dir.dst, 9000),
				Payload: tagged(dir.tag), Count: 1, For: time.Second}); err != nil {
				return err
			}
			if n, _, srcs := s.count(dir.tag); n == 0 || srcs[0] != dir.src {
				return fmt.Errorf("%s → %s: %d datagrams from %v", dir.from, dir.to, n, srcs)
			}
			return nil
		}))
	}
}
