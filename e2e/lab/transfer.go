package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// dialTimeout bounds the TCP connect of a transfer: without it a blackholed
// SYN would wait out the kernel's two minutes of retries.
const dialTimeout = 10 * time.Second

// TransferResult is one TCPTransfer as the server saw it.
type TransferResult struct {
	Bytes      int64          // bytes the server received
	Duration   time.Duration  // from connected to the server's hash back
	RemoteAddr netip.AddrPort // the client as the server saw it (after any NAT)

	// The send MSS each end settled on at connect (the kernel's
	// tcpi_snd_mss): the smaller of its own MTU's and the MSS option the
	// other end's SYN carried, as it arrived, less TCP options in use.
	ClientMSS, ServerMSS uint32
}

// TCPTransfer sends size random bytes from n to a server in the server
// namespace, reached at addr (an IP, perhaps a NAT's public one). The server
// hashes what arrived and sends the SHA-256 back; the transfer succeeds only
// if it matches what was sent.
func (n *NS) TCPTransfer(ctx context.Context, server *NS, addr string, size int) (TransferResult, error) {
	return n.tcpTransfer(ctx, server, addr, size, 0)
}

func (n *NS) tcpTransfer(ctx context.Context, server *NS, addr string, size, rate int) (TransferResult, error) {
	var ln net.Listener
	if err := server.Do(func() (err error) {
		ln, err = net.Listen("tcp4", "0.0.0.0:0")
		return err
	}); err != nil {
		return TransferResult{}, fmt.Errorf("%s: listen: %w", server.Role, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(ctx, func() { ln.Close() })
	done := make(chan served, 1)
	go serve(ctx, ln, done)

	port := ln.Addr().(*net.TCPAddr).Port
	sum, dur, mss, err := n.send(ctx, net.JoinHostPort(addr, strconv.Itoa(port)), size, rate)
	if err != nil {
		cancel() // the server may still wait for it
	}
	s := <-done
	res := TransferResult{Bytes: s.n, Duration: dur, RemoteAddr: s.remote, ClientMSS: mss, ServerMSS: s.mss}
	switch {
	case err != nil:
		return res, fmt.Errorf("%s → %s (%s): %w", n.Role, server.Role, addr, err)
	case s.err != nil:
		return res, fmt.Errorf("%s → %s (%s): server: %w", n.Role, server.Role, addr, s.err)
	case !bytes.Equal(sum, s.sum) || s.n != int64(size):
		return res, fmt.Errorf("%s → %s (%s): server got %d bytes with another sha256 than the %d sent", n.Role, server.Role, addr, s.n, size)
	}
	return res, nil
}

type served struct {
	n      int64
	sum    []byte
	remote netip.AddrPort
	mss    uint32
	err    error
}

// serve accepts one connection, hashes it to EOF and answers with the hash.
func serve(ctx context.Context, ln net.Listener, out chan<- served) {
	var s served
	defer func() { out <- s }()
	c, err := ln.Accept()
	if err != nil {
		s.err = err
		return
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	s.remote = c.RemoteAddr().(*net.TCPAddr).AddrPort()
	s.remote = netip.AddrPortFrom(s.remote.Addr().Unmap(), s.remote.Port())
	s.mss = sendMSS(c)
	h := sha256.New()
	if s.n, s.err = io.Copy(h, c); s.err != nil {
		return
	}
	s.sum = h.Sum(nil)
	_, s.err = c.Write(s.sum)
}

// send dials from n, streams size random bytes, half-closes and reads the
// server's hash. It returns the hash of what it sent.
func (n *NS) send(ctx context.Context, target string, size, rate int) (sum []byte, d time.Duration, mss uint32, err error) {
	var c net.Conn
	err = n.Do(func() (err error) {
		// An IP literal is dialled on this goroutine, so the socket is
		// made inside the namespace.
		c, err = (&net.Dialer{Timeout: dialTimeout}).DialContext(ctx, "tcp4", target)
		return err
	})
	if err != nil {
		return nil, 0, 0, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	mss = sendMSS(c)
	start := time.Now()
	h := sha256.New()
	if err := writeRandom(c, h, size, rate); err != nil {
		return nil, 0, mss, ctxErr(ctx, fmt.Errorf("send: %w", err))
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return nil, 0, mss, err
	}
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, got); err != nil {
		return nil, 0, mss, ctxErr(ctx, fmt.Errorf("read server's hash: %w", err))
	}
	return h.Sum(nil), time.Since(start), mss, nil
}

// sendMSS reads the connection's send MSS from TCP_INFO; 0 if unknown.
func sendMSS(c net.Conn) uint32 {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return 0
	}
	var mss uint32
	raw.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			mss = info.Snd_mss
		}
	})
	return mss
}

// writeRandom writes size pseudo-random bytes to w and h. ChaCha8 seeded
// from crypto/rand is fast enough not to limit a multi-gigabit transfer.
// With rate > 0 (bytes per second) it paces the writes, so that a transfer
// spans an event instead of finishing before it.
func writeRandom(w io.Writer, h hash.Hash, size, rate int) error {
	var seed [32]byte
	rand.Read(seed[:])
	src := mrand.NewChaCha8(seed)
	buf := make([]byte, 64<<10)
	start, sent := time.Now(), 0
	for size > 0 {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(sent) / float64(rate) * float64(time.Second)))))
		}
		b := buf[:min(size, len(buf))]
		src.Read(b)
		h.Write(b)
		if _, err := w.Write(b); err != nil {
			return err
		}
		size -= len(b)
		sent += len(b)
	}
	return nil
}

// ctxErr says that ctx ended when that is why an operation failed.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), err)
	}
	return err
}

// Transfer is a TCPTransfer running in the background.
type Transfer struct{ done chan transferDone }

type transferDone struct {
	res TransferResult
	err error
}

// StartTransfer runs TCPTransfer in the background; Wait returns its end.
func (n *NS) StartTransfer(ctx context.Context, server *NS, addr string, size int) *Transfer {
	return n.StartPacedTransfer(ctx, server, addr, size, 0)
}

// StartPacedTransfer is StartTransfer sending at most rate bytes per second
// (0: as fast as it goes).
func (n *NS) StartPacedTransfer(ctx context.Context, server *NS, addr string, size, rate int) *Transfer {
	t := &Transfer{done: make(chan transferDone, 1)}
	go func() {
		res, err := n.tcpTransfer(ctx, server, addr, size, rate)
		t.done <- transferDone{res, err}
	}()
	return t
}

// Wait waits for the transfer to end.
func (t *Transfer) Wait() (TransferResult, error) {
	d := <-t.done
	return d.res, d.err
}
