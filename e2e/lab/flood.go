package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// floodTargets are the only destinations Flood sends to: the lab internet's
// documentation ranges, so that even a flood that escaped its namespaces
// could not hit a real host.
var floodTargets = []netip.Prefix{
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// maxFloodFor bounds a flood, so that a mistaken spec cannot keep a machine
// busy for long.
const maxFloodFor = 60 * time.Second

// FloodSpec describes a bounded UDP flood (see Flood).
type FloodSpec struct {
	Src    netip.Addr     // the sender's own address in the namespace (IPv4 or IPv6)
	Target netip.AddrPort // must lie in 203.0.113.0/24, 198.51.100.0/24 or 2001:db8::/32
	// Payload returns the i-th datagram's payload, appended to buf[:0].
	Payload func(i int, buf []byte) []byte
	// VaryPorts sends datagram i from source port 1024 + i%64000, through
	// a raw socket; without it, all come from one UDP socket bound to
	// Src:0.
	VaryPorts bool
	// SrcPort, without VaryPorts, is the one socket's port: a test that
	// got a cookie for that address and port floods with it. 0: any.
	SrcPort uint16
	Rate    int           // datagrams per second; 0 is as fast as possible
	Count   int           // at most this many datagrams (> 0)
	For     time.Duration // and for at most this long (> 0, ≤ 60 s)
}

// FloodResult is what a flood did: Sent datagrams the kernel took, Errors
// sends it refused (ENOBUFS, EPERM, …), over Elapsed.
type FloodResult struct {
	Sent    int
	Elapsed time.Duration
	Errors  int
}

// Flood sends UDP datagrams from n to spec.Target until Count of them are
// out, For has passed or ctx ends, whichever comes first. Send errors are
// counted, not returned; the error is for a spec it refuses, before
// anything is sent, and for sockets it cannot open.
//
// The socket is opened inside the namespace and keeps it, so the sending
// itself runs on the calling goroutine like any other.
func (n *NS) Flood(ctx context.Context, spec FloodSpec) (FloodResult, error) {
	if err := spec.check(); err != nil {
		return FloodResult{}, fmt.Errorf("%s: flood: %w", n.Role, err)
	}
	src, dst := spec.Src.Unmap(), netip.AddrPortFrom(spec.Target.Addr().Unmap(), spec.Target.Port())
	var s sender
	err := n.Do(func() (err error) {
		if spec.VaryPorts {
			s, err = newRawSender(src, dst, spec.Payload)
		} else {
			s, err = newUDPSender(netip.AddrPortFrom(src, spec.SrcPort), dst, spec.Payload)
		}
		return err
	})
	if err != nil {
		return FloodResult{}, fmt.Errorf("%s: flood: %w", n.Role, err)
	}
	defer s.Close()
	return pace(ctx, spec, s.send), nil
}

// check refuses a spec that is unbounded, incomplete or aimed outside the
// lab.
func (s FloodSpec) check() error {
	src, dst := s.Src.Unmap(), s.Target.Addr().Unmap()
	switch {
	case !dst.IsValid() || s.Target.Port() == 0:
		return fmt.Errorf("target %v: want an address and a port", s.Target)
	case !inFloodTargets(dst):
		return fmt.Errorf("target %v is not in the lab's ranges %v", s.Target, floodTargets)
	case !src.IsValid() || src.Is4() != dst.Is4():
		return fmt.Errorf("source %v: want an address of the target's family", s.Src)
	case s.Payload == nil:
		return errors.New("no Payload")
	case s.Count <= 0:
		return fmt.Errorf("count %d: want > 0", s.Count)
	case s.For <= 0 || s.For > maxFloodFor:
		return fmt.Errorf("duration %v: want > 0 and ≤ %v", s.For, maxFloodFor)
	case s.Rate < 0:
		return fmt.Errorf("rate %d: want ≥ 0", s.Rate)
	}
	return nil
}

func inFloodTargets(a netip.Addr) bool {
	for _, p := range floodTargets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Pacing: datagrams go out in bursts of whatever fell due since the last
// burst, then the sender sleeps until the next is due (about a millisecond
// at the least, as timers are not finer). A sender that fell behind, on a
// busy machine, catches up, but by at most maxLag worth, so the rate holds
// without unbounded bursts. A burst is at most maxBurst, so that For and
// ctx are checked often also without a rate.
const (
	maxLag   = 20 * time.Millisecond
	maxBurst = 256
)

// pace calls send(0), send(1), … as spec's Rate, Count, For and ctx allow.
func pace(ctx context.Context, spec FloodSpec, send func(i int) error) FloodResult {
	var interval time.Duration
	if spec.Rate > 0 {
		interval = max(time.Second/time.Duration(spec.Rate), 1)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	end := start.Add(spec.For)
	next := start // when datagram i is due
	var res FloodResult
	for i := 0; i < spec.Count; {
		now := time.Now()
		if !now.Before(end) || ctx.Err() != nil {
			break
		}
		burst := min(spec.Count-i, maxBurst)
		if interval > 0 {
			if wait := next.Sub(now); wait > 0 {
				timer.Reset(min(wait, end.Sub(now)))
				select {
				case <-ctx.Done():
				case <-timer.C:
				}
				continue
			}
			if now.Sub(next) > maxLag {
				next = now.Add(-maxLag)
			}
			burst = min(burst, int(now.Sub(next)/interval)+1)
			next = next.Add(time.Duration(burst) * interval)
		}
		for range burst {
			if send(i) == nil {
				res.Sent++
			} else {
				res.Errors++
			}
			i++
		}
	}
	res.Elapsed = time.Since(start)
	return res
}

// sender sends the i-th datagram of a flood.
type sender interface {
	send(i int) error
	Close() error
}

// udpSender sends through one ordinary, unconnected UDP socket: unconnected
// so that ICMP errors from the target do not fail later sends.
type udpSender struct {
	*net.UDPConn
	dst     netip.AddrPort
	payload func(int, []byte) []byte
	buf     []byte
}

func newUDPSender(src netip.AddrPort, dst netip.AddrPort, payload func(int, []byte) []byte) (*udpSender, error) {
	network := "udp4"
	if src.Addr().Is6() {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(src))
	if err != nil {
		return nil, err
	}
	// Room for any datagram, so that Payload's append never reallocates.
	return &udpSender{UDPConn: c, dst: dst, payload: payload, buf: make([]byte, 0, 1<<16)}, nil
}

func (s *udpSender) send(i int) error {
	_, err := s.WriteToUDPAddrPort(s.payload(i, s.buf[:0]), s.dst)
	return err
}

// udpHeaderLen is the size of the UDP header a raw sender writes itself.
const udpHeaderLen = 8

// rawSender writes the UDP header itself, through a raw IPPROTO_UDP socket
// on which the kernel adds only the IP header, so that every datagram can
// have its own source port. It computes the checksum itself too: IPv6
// requires one.
type rawSender struct {
	*net.IPConn
	dst     *net.IPAddr
	port    uint16
	pseudo  uint32 // the checksum's sum over the pseudo-header's addresses and protocol
	payload func(int, []byte) []byte
	pkt     []byte
}

func newRawSender(src netip.Addr, dst netip.AddrPort, payload func(int, []byte) []byte) (*rawSender, error) {
	network := "ip4:udp"
	if src.Is6() {
		network = "ip6:udp"
	}
	c, err := net.ListenIP(network, &net.IPAddr{IP: src.AsSlice()})
	if err != nil {
		return nil, err
	}
	// The kernel hands a raw UDP socket a copy of every UDP datagram the
	// namespace receives. Nobody reads them: keep as few as possible.
	if err := c.SetReadBuffer(1); err != nil {
		c.Close()
		return nil, err
	}
	s := &rawSender{IPConn: c, dst: &net.IPAddr{IP: dst.Addr().AsSlice()}, port: dst.Port(),
		payload: payload, pkt: make([]byte, udpHeaderLen, udpHeaderLen+1<<16)}
	s.pseudo = sum16(sum16(17, src.AsSlice()), dst.Addr().AsSlice())
	return s, nil
}

// errTooLong is a payload that does not fit the UDP length field.
var errTooLong = errors.New("payload too long for UDP")

func (s *rawSender) send(i int) error {
	p := s.payload(i, s.pkt[udpHeaderLen:udpHeaderLen])
	if len(p) > 0xffff-udpHeaderLen {
		return errTooLong
	}
	pkt := append(s.pkt[:udpHeaderLen], p...) // a no-op copy when p is in pkt already
	binary.BigEndian.PutUint16(pkt[0:], uint16(1024+i%64000))
	binary.BigEndian.PutUint16(pkt[2:], s.port)
	binary.BigEndian.PutUint16(pkt[4:], uint16(len(pkt)))
	binary.BigEndian.PutUint16(pkt[6:], 0)
	binary.BigEndian.PutUint16(pkt[6:], checksum(sum16(s.pseudo+uint32(len(pkt)), pkt)))
	_, err := s.WriteToIP(pkt, s.dst)
	return err
}

// sum16 adds b to the ones' complement sum, as big-endian 16-bit words.
// The uint32 cannot overflow for anything up to an IP packet's size.
func sum16(sum uint32, b []byte) uint32 {
	for ; len(b) >= 2; b = b[2:] {
		sum += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// checksum folds a sum into the UDP checksum; 0 means "none" on the wire,
// so a computed 0 goes out as 0xffff.
func checksum(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	if c := ^uint16(sum); c != 0 {
		return c
	}
	return 0xffff
}
