package nat

import (
	"os"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/tun"
)

// The wrapper between the kernel TUN and wireguard-go:
//
//	kernel ─► inner.Read ─► Table.Outbound per packet ─► wireguard-go Read (drops: size 0)
//	kernel ◄─ inner.Write ◄─ compact ◄─ Table.Inbound per packet ◄─ wireguard-go Write
//
// Offloads stay intact. With IFF_VNET_HDR the inner device splits a GSO
// super-packet into MTU-sized segments inside its Read (tun/offload_linux.go
// gsoSplit, which also completes partial checksums), so Outbound sees plain
// packets with full checksums; on Write the inner device coalesces the
// vector again (handleGRO), which it does only for packets whose checksums
// verify, which is why every rewrite here keeps them exact.

// Wrapper is a tun.Device that translates, clamps and filters the packets of
// an inner device in place. Read and Write may run concurrently, and Write
// from several goroutines at once, as wireguard-go does; each batch uses the
// Table current when it starts. A nil Table drops everything (DropACL).
type Wrapper struct {
	inner tun.Device
	table atomic.Pointer[Table]
	out   counters
	in    counters
}

var _ tun.Device = (*Wrapper)(nil)

// Wrap returns a Wrapper around inner that applies t.
func Wrap(inner tun.Device, t *Table) *Wrapper {
	w := &Wrapper{inner: inner}
	w.table.Store(t)
	return w
}

// SetTable replaces the Table, atomically; batches under way finish with the
// old one.
func (w *Wrapper) SetTable(t *Table) { w.table.Store(t) }

// Stats returns the counters so far.
func (w *Wrapper) Stats() Stats {
	return Stats{Outbound: w.out.snapshot(), Inbound: w.in.snapshot()}
}

// Read reads a batch from the inner device and runs each packet through
// Table.Outbound. A dropped packet keeps its slot with size 0, which
// wireguard-go skips: its reader ties bufs[i] to its own element i, so the
// vector must not be reordered here.
func (w *Wrapper) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := w.inner.Read(bufs, sizes, offset)
	t := w.table.Load()
	var c tally
	for i := range n {
		if sizes[i] < 1 {
			continue
		}
		v := outbound(t, bufs[i], offset, sizes[i])
		if v != Pass {
			sizes[i] = 0
		}
		c[v]++
	}
	w.out.add(&c)
	return n, err
}

func outbound(t *Table, buf []byte, offset, size int) Verdict {
	switch {
	case offset < 0 || size > len(buf)-offset:
		return DropInvalid
	case t == nil:
		return DropACL
	}
	return t.Outbound(buf[offset : offset+size])
}

// Write runs each packet through Table.Inbound, moves the ones that pass to
// the front of bufs (swapping, so bufs stays a permutation of what the
// caller gave) and writes those to the inner device in one call. It reports
// every packet as written, dropped ones included, unless the inner Write
// fails; then it returns the inner device's count and error.
func (w *Wrapper) Write(bufs [][]byte, offset int) (int, error) {
	t := w.table.Load()
	var c tally
	kept := 0
	for i := range bufs {
		v := inbound(t, bufs[i], offset)
		c[v]++
		if v == Pass {
			bufs[kept], bufs[i] = bufs[i], bufs[kept]
			kept++
		}
	}
	w.in.add(&c)
	if kept == 0 {
		return len(bufs), nil
	}
	if n, err := w.inner.Write(bufs[:kept], offset); err != nil {
		return n, err
	}
	return len(bufs), nil
}

func inbound(t *Table, buf []byte, offset int) Verdict {
	switch {
	case offset < 0 || offset > len(buf):
		return DropInvalid
	case t == nil:
		return DropACL
	}
	return t.Inbound(buf[offset:])
}

// BatchSize is the inner device's: the wrapper never splits or merges.
func (w *Wrapper) BatchSize() int           { return w.inner.BatchSize() }
func (w *Wrapper) File() *os.File           { return w.inner.File() }
func (w *Wrapper) MTU() (int, error)        { return w.inner.MTU() }
func (w *Wrapper) Name() (string, error)    { return w.inner.Name() }
func (w *Wrapper) Events() <-chan tun.Event { return w.inner.Events() }
func (w *Wrapper) Close() error             { return w.inner.Close() }
