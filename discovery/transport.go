package discovery

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
	"golang.org/x/sys/unix"
)

// tunnelTransport is memberlist's network confined to the tunnel: UDP
// packets and TCP streams, as memberlist's NetTransport, on the overlay
// address, with every socket bound to the tunnel device too.
//
// Why: gossip must come only out of the tunnel, where WireGuard has
// authenticated the sender's overlay address. Binding to the overlay
// address is not enough: Linux takes a packet for a local address on any
// interface, so a host on a site's LAN that routes the overlay range to
// its gateway reached memberlist, and its unauthenticated "dead" and
// "alive" messages removed routes and added made-up members. A socket
// bound to the device (SO_BINDTODEVICE) gets only what arrived on it, and
// sends only through it. NetTransport does not expose its sockets, hence
// this one.
type tunnelTransport struct {
	udp     *net.UDPConn
	tcp     *net.TCPListener
	local   netip.Addr
	dev     string
	logger  *log.Logger
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	closing atomic.Bool
	once    sync.Once
	wg      sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*tunnelTransport)(nil)

// newTunnelTransport listens on addr, bound to the device dev.
func newTunnelTransport(dev string, addr netip.AddrPort, logger *log.Logger) (*tunnelTransport, error) {
	if dev == "" || !addr.Addr().Is4() {
		return nil, fmt.Errorf("gossip transport: want a device and an IPv4 address, got %q and %s", dev, addr)
	}
	lc := net.ListenConfig{Control: BindToDevice(dev)}
	t := &tunnelTransport{local: addr.Addr(), dev: dev, logger: logger, packets: make(chan *memberlist.Packet),
		streams: make(chan net.Conn), done: make(chan struct{})}
	ln, err := lc.Listen(context.Background(), "tcp4", addr.String())
	if err != nil {
		return nil, err
	}
	t.tcp = ln.(*net.TCPListener)
	if addr.Port() == 0 { // the TCP listener's port for both, as NetTransport
		addr = netip.AddrPortFrom(addr.Addr(), uint16(t.tcp.Addr().(*net.TCPAddr).Port))
	}
	pc, err := lc.ListenPacket(context.Background(), "udp4", addr.String())
	if err != nil {
		t.tcp.Close()
		return nil, err
	}
	t.udp = pc.(*net.UDPConn)
	// As NetTransport: room for bursts of gossip (the kernel caps it at
	// net.core.rmem_max).
	t.udp.SetReadBuffer(2 << 20)
	t.wg.Add(2)
	go t.readPackets()
	go t.acceptStreams()
	return t, nil
}

// BindToDevice is a net.ListenConfig or net.Dialer Control function that
// binds the socket to the network device dev (SO_BINDTODEVICE): it then
// receives only packets that arrived on dev, and sends only through it.
func BindToDevice(dev string) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) { err = unix.BindToDevice(int(fd), dev) }); cerr != nil {
			return cerr
		}
		if err != nil {
			return fmt.Errorf("bind to device %s: %w", dev, err)
		}
		return nil
	}
}

func (t *tunnelTransport) readPackets() {
	defer t.wg.Done()
	for {
		buf := make([]byte, 65536)
		n, from, err := t.udp.ReadFromUDPAddrPort(buf)
		now := time.Now()
		switch {
		case t.closing.Load():
			return
		case err != nil:
			t.logger.Printf("[ERR] memberlist: reading a UDP packet: %v", err)
			continue
		case n < 1:
			continue
		}
		select {
		case t.packets <- &memberlist.Packet{Buf: buf[:n], From: net.UDPAddrFromAddrPort(from), Timestamp: now}:
		case <-t.done:
			return
		}
	}
}

func (t *tunnelTransport) acceptStreams() {
	defer t.wg.Done()
	for {
		c, err := t.tcp.Accept()
		if t.closing.Load() {
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			t.logger.Printf("[ERR] memberlist: accepting a TCP connection: %v", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case t.streams <- c:
		case <-t.done:
			c.Close()
			return
		}
	}
}

// FinalAdvertiseAddr advertises the configured address, else the bound one.
func (t *tunnelTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip == "" {
		return t.local.AsSlice(), t.tcp.Addr().(*net.TCPAddr).Port, nil
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return nil, 0, fmt.Errorf("advertise address %q: %w", ip, err)
	}
	return a.Unmap().AsSlice(), port, nil
}

func (t *tunnelTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *tunnelTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	to, err := netip.ParseAddrPort(a.Addr)
	if err != nil {
		return time.Time{}, err
	}
	_, err = t.udp.WriteToUDPAddrPort(b, netip.AddrPortFrom(to.Addr().Unmap(), to.Port()))
	return time.Now(), err
}

func (t *tunnelTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *tunnelTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout dials from the overlay address through the device:
// the stream's packets, both ways, go only through the tunnel.
func (t *tunnelTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: t.local.AsSlice()}, Control: BindToDevice(t.dev)}
	return d.Dial("tcp4", a.Addr)
}

func (t *tunnelTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown closes the sockets and waits for the readers; it may be called
// more than once.
func (t *tunnelTransport) Shutdown() error {
	var err error
	t.once.Do(func() {
		t.closing.Store(true)
		close(t.done)
		err = errors.Join(t.tcp.Close(), t.udp.Close())
		t.wg.Wait()
	})
	return err
}
