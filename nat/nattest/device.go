// Package nattest has test doubles for the nat package and its users.
package nattest

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/tun"
)

// Device is an in-memory tun.Device. Read serves the batches given to Feed,
// one batch per call, copying each packet to the caller's buffers at the
// offset; it blocks until a batch comes or the Device is closed. Write hands
// every call to Sink, if set, and counts calls. Neither allocates.
type Device struct {
	// Sink, if set, sees every Write call's vector; it must not keep it.
	Sink func(bufs [][]byte, offset int)

	batch     int
	feed      chan [][]byte
	closed    chan struct{}
	closeOnce sync.Once
	events    chan tun.Event
	writes    atomic.Int64
}

var _ tun.Device = (*Device)(nil)

// ErrClosed is returned by Read on a closed Device.
var ErrClosed = errors.New("nattest: device closed")

// New returns a Device with the given batch size.
func New(batch int) *Device {
	return &Device{
		batch:  batch,
		feed:   make(chan [][]byte, 16),
		closed: make(chan struct{}),
		events: make(chan tun.Event, 1),
	}
}

// Feed queues a batch for Read. The packets must stay untouched until Read
// has copied them; at most BatchSize are served, the rest are lost.
func (d *Device) Feed(pkts [][]byte) { d.feed <- pkts }

// Read implements tun.Device.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case pkts := <-d.feed:
		n := min(len(pkts), len(bufs))
		for i := range n {
			sizes[i] = copy(bufs[i][offset:], pkts[i])
		}
		return n, nil
	case <-d.closed:
		return 0, ErrClosed
	}
}

// Write implements tun.Device.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	d.writes.Add(1)
	if d.Sink != nil {
		d.Sink(bufs, offset)
	}
	return len(bufs), nil
}

// Writes returns how many times Write was called.
func (d *Device) Writes() int { return int(d.writes.Load()) }

func (d *Device) BatchSize() int           { return d.batch }
func (d *Device) File() *os.File           { return nil }
func (d *Device) MTU() (int, error)        { return 1420, nil }
func (d *Device) Name() (string, error)    { return "nattest", nil }
func (d *Device) Events() <-chan tun.Event { return d.events }

// Close unblocks Read and closes the event channel; it may be called more
// than once.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		close(d.closed)
		close(d.events)
	})
	return nil
}
