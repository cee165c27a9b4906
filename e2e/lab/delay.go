package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DelaySpec is what a DelayLink does to each direction of a path.
type DelaySpec struct {
	// OneWay is the propagation delay added in each direction: 75 ms makes
	// a 150 ms round trip.
	OneWay time.Duration
	// Jitter varies the one-way delay within ±Jitter (at most OneWay). It
	// drifts smoothly rather than per packet, so packets never overtake
	// each other: see jitterPath. A busy link's queue absorbs it.
	Jitter time.Duration
	// RateMbit is each direction's bandwidth in Mbit/s; 0 is unlimited.
	RateMbit int
	// QueueBytes bounds, per direction, the bytes waiting for the link
	// (queued behind the rate limit); packets that would exceed it are
	// dropped, as by a router's tail-drop queue. With no rate limit it
	// bounds all the bytes the direction holds. 0 means one
	// bandwidth-delay product (rate × round trip, at least 64 KiB) with
	// RateMbit set, else 4 MiB.
	QueueBytes int
}

// DelayStats counts a DelayLink's packets per direction.
type DelayStats struct {
	AtoB, BtoA DelayDirStats
}

// DelayDirStats is one direction's count.
type DelayDirStats struct {
	Forwarded uint64 // released back to the kernel after their delay
	Dropped   uint64 // over the queue bound (or the memory bound; or the kernel refused them)
}

// DelayLink makes the internet's path between two public addresses look
// like a cross-region link. Made by Lab.Delay.
type DelayLink struct {
	A, B netip.Addr
	Spec DelaySpec // as applied, defaults filled in

	lab      *Lab
	inet     *NS
	dirs     [2]*delayDir // a→b, b→a
	undo     []func() error
	done     chan struct{} // closed when the link shuts down
	wg       sync.WaitGroup
	once     sync.Once
	closeErr error
	holder   *Proc
}

// delayLinks numbers the links of this process, which keeps their TUN
// names, routing tables and rule priorities apart in a shared inet.
var delayLinks atomic.Int32

const (
	delayTableBase = 5000 // routing tables 5000+2k and 5001+2k
	delayPrefBase  = 1000 // rule priorities 1000+4k … 1003+4k
	delayMaxPref   = 32000
	// defaultUnlimitedQueue is the queue with no rate limit: room for 75
	// ms of ~450 Mbit/s.
	defaultUnlimitedQueue = 4 << 20
	minDefaultQueue       = 64 << 10
	// delayMaxHeld caps what a direction may hold, so a typo in a spec
	// cannot eat the machine's memory.
	delayMaxHeld = 1 << 30
)

// Delay puts a DelayLink between the public addresses a and b: from then
// on every packet the internet routes from a to b or from b to a waits
// spec.OneWay ± spec.Jitter, passes a spec.RateMbit bottleneck with a
// tail-drop queue of spec.QueueBytes, and goes on in the order it came.
//
// How: inet gets two TUN devices, one per direction (so a direction needs
// no sorting out and has a reader and a releaser of its own), and policy
// rules that send what arrives on br0 from a to b (from b to a) to the
// first (second) TUN; this process reads each packet there, holds it and
// writes it back into the same TUN, where rules of higher priority hand it
// to the main table and the kernel forwards it on. Packets are not
// changed, but inet routes them twice, so their TTL drops by two. The
// element runs in this process, in four goroutines.
//
// a and b must be IPv4 addresses in different public segments (one in
// 203.0.113.0/24, one in 198.51.100.0/24): within one segment, traffic is
// only bridged by br0 and never reaches inet's routing, so it cannot be
// delayed. Only traffic between exactly a and b is affected; ICMP errors
// from inet itself are not.
//
// Close removes the link and everything it added; the lab's Close does so
// too (unless the lab is kept: then the link works until this process
// ends, and the path is direct after that).
func (l *Lab) Delay(a, b netip.Addr, spec DelaySpec) (*DelayLink, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := delayEnds(a, b); err != nil {
		return nil, err
	}
	inet, err := l.Internet()
	if err != nil {
		return nil, err
	}
	k := int(delayLinks.Add(1))
	if delayPrefBase+4*k+3 > delayMaxPref {
		return nil, fmt.Errorf("delay: too many links in this process (%d)", k)
	}
	d := &DelayLink{A: a, B: b, Spec: spec, lab: l, inet: inet, done: make(chan struct{})}
	if d.holder, err = l.holdUntilClose(inet, fmt.Sprintf("delay%d", k), d.shutdown); err != nil {
		return nil, err
	}
	if err := d.setup(k); err != nil {
		return nil, errors.Join(fmt.Errorf("delay %s ↔ %s: %w", a, b, err), d.Close())
	}
	l.logf("lab %s: delay %s ↔ %s: %v ± %v, %d Mbit/s, queue %d bytes", l.ID, a, b,
		spec.OneWay, spec.Jitter, spec.RateMbit, spec.QueueBytes)
	return d, nil
}

// withDefaults checks a spec and fills in the queue bound.
func (s DelaySpec) withDefaults() (DelaySpec, error) {
	if s.OneWay < 0 || s.Jitter < 0 || s.Jitter > s.OneWay || s.RateMbit < 0 || s.QueueBytes < 0 {
		return s, fmt.Errorf("delay spec %+v: want OneWay ≥ Jitter ≥ 0 and RateMbit, QueueBytes ≥ 0", s)
	}
	if s.QueueBytes == 0 {
		s.QueueBytes = defaultUnlimitedQueue
		if s.RateMbit > 0 {
			s.QueueBytes = max(minDefaultQueue, int(rateBytes(s.RateMbit, 2*s.OneWay)))
		}
	}
	if s.ringSize() > delayMaxHeld {
		return s, fmt.Errorf("delay spec %+v: would hold more than %d bytes per direction", s, delayMaxHeld)
	}
	return s, nil
}

// rateBytes is how many bytes RateMbit carries in d.
func rateBytes(mbit int, d time.Duration) int64 {
	return int64(mbit) * d.Nanoseconds() / 8000
}

// ringSize is the memory a direction holds packets in: the queue, plus
// what is on the wire (rate × delay, with slack for late releases) when
// the rate is limited, plus a quarter for the per-packet headers, which
// covers any mix of packets of 48 bytes or more. Tinier floods may find it
// full first; that counts as a drop.
func (s DelaySpec) ringSize() int64 {
	n := int64(s.QueueBytes)
	if s.RateMbit > 0 {
		n += rateBytes(s.RateMbit, s.OneWay+s.Jitter+10*time.Millisecond)
	}
	return n + n/4 + 64<<10
}

// delayEnds checks that inet routes between a and b.
func delayEnds(a, b netip.Addr) error {
	sa, sb := -1, -1
	for i, p := range publicSegments {
		if p.Contains(a) {
			sa = i
		}
		if p.Contains(b) {
			sb = i
		}
	}
	switch {
	case sa < 0 || sb < 0:
		return fmt.Errorf("delay %s ↔ %s: both must be in the internet's segments %v", a, b, publicSegments)
	case sa == sb:
		return fmt.Errorf("delay %s ↔ %s: one segment is only bridged, not routed, so it cannot be delayed; put the ends in different segments %v", a, b, publicSegments)
	}
	return nil
}

// setup makes the TUNs, starts their goroutines, then steers traffic into
// them. Each step that succeeds records its undo, so a failure part way is
// undone by Close.
func (d *DelayLink) setup(k int) error {
	mtu, err := d.bridgeMTU()
	if err != nil {
		return err
	}
	if err := d.looseRPFilter(); err != nil {
		return err
	}
	base := time.Now()
	for i, ends := range [2][2]netip.Addr{{d.A, d.B}, {d.B, d.A}} {
		dir := newDelayDir(fmt.Sprintf("delay%d-%s", k, [2]string{"ab", "ba"}[i]), d.Spec, base, d.done)
		if dir.tun, err = d.openTUN(dir.name); err != nil {
			return err
		}
		d.dirs[i] = dir
		d.undo = append(d.undo, dir.tun.Close) // the TUN and its routes go with the fd
		d.wg.Add(2)
		go func() { defer d.wg.Done(); dir.readLoop(d.fail) }()
		go func() { defer d.wg.Done(); dir.releaseLoop(d.fail) }()
		if err := d.inet.ip("link", "set", dir.name, "mtu", strconv.Itoa(mtu), "up"); err != nil {
			return err
		}
		// The packets coming back out of the TUN have a's (b's) address
		// but arrive on the TUN, not on br0, where a (b) is routed: a
		// reverse-path filter would drop them. And the TUN must not
		// chatter IPv6 (router solicitations) into the delay line.
		if err := d.inet.Sysctl("net.ipv4.conf." + dir.name + ".rp_filter=0"); err != nil {
			return err
		}
		if _, err := os.Stat("/proc/sys/net/ipv6"); err == nil {
			if err := d.inet.Sysctl("net.ipv6.conf." + dir.name + ".disable_ipv6=1"); err != nil {
				return err
			}
		}
		table := strconv.Itoa(delayTableBase + 2*k + i)
		if err := d.inet.ip("route", "add", "default", "dev", dir.name, "table", table); err != nil {
			return err
		}
		d.undo = append(d.undo, func() error { return d.inet.ip("route", "del", "default", "table", table) })
		// Higher priority: what comes back out of the TUN is forwarded by
		// the main table, never looped into the TUN again.
		if err := d.rule(delayPrefBase+4*k+i, "iif", dir.name, "lookup", "main"); err != nil {
			return err
		}
		if err := d.rule(delayPrefBase+4*k+2+i, "iif", "br0", "from", ends[0].String(), "to", ends[1].String(), "lookup", table); err != nil {
			return err
		}
	}
	return nil
}

// rule adds a policy rule in inet and records its removal.
func (d *DelayLink) rule(pref int, args ...string) error {
	p := strconv.Itoa(pref)
	if err := d.inet.ip(append([]string{"rule", "add", "pref", p}, args...)...); err != nil {
		return err
	}
	d.undo = append(d.undo, func() error { return d.inet.ip("rule", "del", "pref", p) })
	return nil
}

// looseRPFilter makes sure the TUNs' rp_filter=0 is the one in effect: the
// kernel applies the larger of "all" and the device's, so a strict (1)
// "all" is relaxed to loose (2), which passes a and b as they are routed
// somewhere, and put back on Close.
func (d *DelayLink) looseRPFilter() error {
	ctx, cancel := setupCtx()
	defer cancel()
	out, err := d.inet.Exec(ctx, "sysctl", "-n", "net.ipv4.conf.all.rp_filter")
	if err != nil || strings.TrimSpace(out) != "1" {
		return err
	}
	if err := d.inet.Sysctl("net.ipv4.conf.all.rp_filter=2"); err != nil {
		return err
	}
	d.undo = append(d.undo, func() error { return d.inet.Sysctl("net.ipv4.conf.all.rp_filter=1") })
	return nil
}

// bridgeMTU is br0's MTU, which the TUNs copy so the path's MTU stays the
// same.
func (d *DelayLink) bridgeMTU() (int, error) {
	var mtu int
	err := d.inet.Do(func() error {
		br, err := netlink.LinkByName("br0")
		if err != nil {
			return fmt.Errorf("inet br0: %w", err)
		}
		mtu = br.Attrs().MTU
		return nil
	})
	return mtu, err
}

// openTUN creates a non-persistent TUN in inet: it exists as long as the
// returned file is open. Plain IFF_TUN without a vnet header, so the
// kernel segments and checksums packets before we see them and each read
// is one whole IP packet. Non-blocking, so the file uses Go's poller and
// Close wakes a blocked Read.
func (d *DelayLink) openTUN(name string) (*os.File, error) {
	var f *os.File
	err := d.inet.Do(func() error {
		// The TUN is created in the namespace of the thread that opens
		// /dev/net/tun.
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("create tun %s: %w", name, err)
		}
		f = os.NewFile(uintptr(fd), name)
		return nil
	})
	return f, err
}

// fail records that a direction stopped on an unexpected error: the path
// is then broken, which the lab's log shows.
func (d *DelayLink) fail(err error) {
	select {
	case <-d.done:
		return // shutting down: errors are expected
	default:
	}
	d.lab.logf("lab %s: delay %s ↔ %s: %v", d.lab.ID, d.A, d.B, err)
}

// Stats returns the packet counts so far.
func (d *DelayLink) Stats() DelayStats {
	var s DelayStats
	for i, p := range []*DelayDirStats{&s.AtoB, &s.BtoA} {
		if dir := d.dirs[i]; dir != nil {
			p.Forwarded, p.Dropped = dir.forwarded.Load(), dir.dropped.Load()
		}
	}
	return s
}

// Close removes the rules, routes and TUNs and stops the goroutines;
// packets still held are dropped, and the path is direct again. It is
// idempotent.
func (d *DelayLink) Close() error {
	err := d.shutdown()
	if d.holder != nil {
		err = errors.Join(err, d.holder.Kill())
	}
	return err
}

// shutdown does Close's work once; Lab.Close reaches it through holder.
func (d *DelayLink) shutdown() error {
	d.once.Do(func() {
		close(d.done)
		var errs []error
		for i := len(d.undo) - 1; i >= 0; i-- {
			if err := d.undo[i](); err != nil {
				errs = append(errs, err)
			}
		}
		d.wg.Wait()
		d.closeErr = errors.Join(errs...)
		if d.closeErr != nil {
			d.lab.logf("lab %s: delay %s ↔ %s: close: %v", d.lab.ID, d.A, d.B, d.closeErr)
		}
	})
	return d.closeErr
}

// holdUntilClose ties release to the lab's Close, which knows only
// processes: it starts a placeholder (sleep, inside n, so the lab's sweep
// and cleanup script find it too) that Close kills like any other, and
// holds back the news of its death until release has returned. Close waits
// for that, so when it goes on to delete the namespaces, release is done.
func (l *Lab) holdUntilClose(n *NS, name string, release func() error) (*Proc, error) {
	p := &Proc{Name: name, logPath: filepath.Join(l.Dir, name+".log"), done: make(chan struct{})}
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	p.cmd = exec.Command("ip", "netns", "exec", n.Name, "sleep", "infinity")
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := l.addProc(p); err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", n.Role, name, err)
	}
	go func() {
		err := p.cmd.Wait()
		release()
		p.err = err
		close(p.done)
	}()
	return p, nil
}

// delayDir is one direction: a TUN, the goroutine that reads it into the
// delay line and the one that writes packets back when they are due.
type delayDir struct {
	name  string
	tun   *os.File
	base  time.Time // the clock's zero: times below are ns since base
	wake  chan struct{}
	done  <-chan struct{}
	mu    sync.Mutex // guards what follows
	sched delaySched
	ring  delayRing

	forwarded, dropped atomic.Uint64
}

func newDelayDir(name string, s DelaySpec, base time.Time, done <-chan struct{}) *delayDir {
	return &delayDir{
		name:  name,
		base:  base,
		wake:  make(chan struct{}, 1),
		done:  done,
		sched: newDelaySched(s),
		ring:  delayRing{buf: make([]byte, s.ringSize())},
	}
}

func (d *delayDir) now() int64 { return time.Since(d.base).Nanoseconds() }

// readLoop takes packets off the TUN as they come, stamps each with its
// release time and queues it, or drops it. It stops when the TUN closes.
func (d *delayDir) readLoop(fail func(error)) {
	buf := make([]byte, 1<<16) // more than any IP packet, so none is cut
	for {
		n, err := d.tun.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				fail(fmt.Errorf("read %s: %w", d.name, err))
			}
			return
		}
		if !d.enqueue(d.now(), buf[:n]) {
			d.dropped.Add(1)
		}
	}
}

// enqueue queues pkt, arrived at now; false means it was dropped.
func (d *delayDir) enqueue(now int64, pkt []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.ring.fits(len(pkt)) {
		return false
	}
	release, ok := d.sched.admit(now, len(pkt), d.ring.held)
	if !ok {
		return false
	}
	wasEmpty := d.ring.used == 0
	d.ring.put(release, pkt)
	if wasEmpty { // the releaser may be waiting for work
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// releaseLoop writes the packet at the head of the line back to the TUN
// once it is due, in order. Go's timers wake it about a millisecond late
// at worst, and then it sends everything due, so a busy link costs about a
// wake-up per millisecond, not one per packet.
func (d *delayDir) releaseLoop(fail func(error)) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		d.mu.Lock()
		release, pkt, ok := d.ring.peek()
		d.mu.Unlock()
		if !ok {
			select {
			case <-d.wake:
				continue
			case <-d.done:
				return
			}
		}
		if wait := release - d.now(); wait > 0 {
			timer.Reset(time.Duration(wait))
			select {
			case <-timer.C:
				continue
			case <-d.done:
				timer.Stop()
				return
			}
		}
		// pkt stays in the ring, safe from the reader, until popped.
		_, err := d.tun.Write(pkt)
		d.mu.Lock()
		d.ring.pop()
		d.mu.Unlock()
		switch {
		case err == nil:
			d.forwarded.Add(1)
		case errors.Is(err, os.ErrClosed):
			return
		default: // e.g. a packet the kernel finds malformed: one loss
			d.dropped.Add(1)
		}
	}
}

// delaySched decides when each packet of one direction leaves: the link is
// a wire of OneWay ± jitter into a bottleneck at the far end, a tail-drop
// queue in front of a serialiser at the rate limit. The bottleneck comes
// last so that nothing leaves faster than the rate: jitter that bunches
// packets up on the wire is absorbed by the queue, as at a real router,
// instead of bursting out at up to twice the rate (which, for one, keeps
// BBR from ever measuring the bandwidth). Times are in ns on the
// direction's clock.
type delaySched struct {
	oneWay      int64
	rateMbit    int64
	queueBytes  int
	busyUntil   int64 // when the serialiser finishes the last packet accepted
	lastRelease int64
	jitter      jitterPath
}

func newDelaySched(s DelaySpec) delaySched {
	return delaySched{
		oneWay:     s.OneWay.Nanoseconds(),
		rateMbit:   int64(s.RateMbit),
		queueBytes: s.QueueBytes,
		jitter:     newJitterPath(s.Jitter, mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64()))),
	}
}

// admit schedules a packet of n bytes that arrived at now, held being the
// bytes the direction already holds, and returns its release time, or
// false to drop it because the queue is full. now must not go back.
//
// A packet reaches the bottleneck at a time that rises with now (see
// jitterPath), so packets reach it in the order they arrive, and deciding
// at arrival whether one fits in the queue is the same as deciding when it
// gets there.
func (s *delaySched) admit(now int64, n, held int) (int64, bool) {
	at := now + s.oneWay + s.jitter.at(now)
	var release int64
	if s.rateMbit > 0 {
		// The queue is what the serialiser has yet to send when the
		// packet gets there: the bytes ahead of it, at the link's rate.
		backlog := max(0, s.busyUntil-at) * s.rateMbit / 8000
		if backlog+int64(n) > int64(s.queueBytes) {
			return 0, false
		}
		s.busyUntil = max(at, s.busyUntil) + int64(n)*8000/s.rateMbit
		release = s.busyUntil
	} else {
		if held+n > s.queueBytes {
			return 0, false
		}
		release = at
	}
	// FIFO: never before the packet ahead. The above keeps release times
	// rising already; this makes it a guarantee.
	release = max(release, s.lastRelease)
	s.lastRelease = release
	return release, true
}

// jitterPath is the varying part of the delay: it moves in straight lines
// between random points in [-amp, +amp] taken every period, with period at
// least 4·amp (and 10 ms). Its slope is then at most 1/2, so t + jitter(t)
// still rises with t: a later packet is never due before an earlier one.
// Jitter drawn per packet would reorder packets, which TCP takes for loss
// and WireGuard's replay window may reject; or, kept in order, hold each
// packet for the largest delay drawn before it.
type jitterPath struct {
	amp, period int64
	rng         *mrand.Rand
	t0, t1      int64 // the current segment, from (t0, v0) to (t1, v1)
	v0, v1      int64
}

func newJitterPath(amp time.Duration, rng *mrand.Rand) jitterPath {
	j := jitterPath{amp: amp.Nanoseconds(), period: max(10*time.Millisecond, 4*amp).Nanoseconds(), rng: rng}
	j.v1 = j.sample()
	return j
}

func (j *jitterPath) sample() int64 {
	if j.amp == 0 {
		return 0
	}
	return j.rng.Int64N(2*j.amp+1) - j.amp
}

// at is the jitter at t; t must not go back between calls.
func (j *jitterPath) at(t int64) int64 {
	if j.amp == 0 {
		return 0
	}
	if t >= j.t1 {
		if t >= j.t1+j.period {
			j.t1 = t // idle for a while: carry on from where it was
		}
		j.t0, j.v0 = j.t1, j.v1
		j.t1, j.v1 = j.t0+j.period, j.sample()
	}
	return j.v0 + (j.v1-j.v0)*(t-j.t0)/j.period
}

// delayRing is a FIFO of packets in one fixed buffer: each record is a
// header (release time, length) and the packet; a record that would not
// fit before the end goes to the start, leaving the tail unused (marked,
// if there is room for a header). One writer and one reader, under the
// direction's mutex; the reader may use a peeked packet unlocked, since
// the writer never touches it before pop.
type delayRing struct {
	buf        []byte
	head, tail int // offsets of the oldest record and of the free space
	used       int // bytes taken, headers and wasted tails included
	held       int // bytes of packets
}

const (
	ringHdr  = 12 // release time (8), length (4)
	ringWrap = ^uint32(0)
)

// fits reports whether a packet of n bytes can be put now.
func (r *delayRing) fits(n int) bool {
	need := ringHdr + n
	if rest := len(r.buf) - r.tail; rest < need {
		need += rest // the tail is skipped
	}
	return r.used+need <= len(r.buf)
}

// put appends a packet; the caller has checked fits.
func (r *delayRing) put(release int64, pkt []byte) {
	need := ringHdr + len(pkt)
	if rest := len(r.buf) - r.tail; rest < need {
		if rest >= ringHdr {
			binary.NativeEndian.PutUint32(r.buf[r.tail+8:], ringWrap)
		}
		r.used += rest
		r.tail = 0
	}
	binary.NativeEndian.PutUint64(r.buf[r.tail:], uint64(release))
	binary.NativeEndian.PutUint32(r.buf[r.tail+8:], uint32(len(pkt)))
	copy(r.buf[r.tail+ringHdr:], pkt)
	r.tail += need
	if r.tail == len(r.buf) {
		r.tail = 0
	}
	r.used += need
	r.held += len(pkt)
}

// peek returns the oldest packet and its release time.
func (r *delayRing) peek() (int64, []byte, bool) {
	for r.used > 0 {
		rest := len(r.buf) - r.head
		if rest < ringHdr || binary.NativeEndian.Uint32(r.buf[r.head+8:]) == ringWrap {
			r.used -= rest
			r.head = 0
			continue
		}
		n := int(binary.NativeEndian.Uint32(r.buf[r.head+8:]))
		return int64(binary.NativeEndian.Uint64(r.buf[r.head:])), r.buf[r.head+ringHdr : r.head+ringHdr+n], true
	}
	return 0, nil, false
}

// pop removes the packet peek returned.
func (r *delayRing) pop() {
	n := int(binary.NativeEndian.Uint32(r.buf[r.head+8:]))
	r.head += ringHdr + n
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.used -= ringHdr + n
	r.held -= n
	if r.used == 0 { // empty: start again at the front, so nothing is skipped
		r.head, r.tail = 0, 0
	}
}
