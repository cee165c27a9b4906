package discovery

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/procfs"
)

// The figures of a mesh of VPCMESH_SCALE gateways (1,000 for the docs) in
// one process, on memberlist's in-memory network: how long after the last
// join every gateway holds every record, the same for one late joiner and
// for record updates, steady-state bytes and CPU per gateway, and heap per
// gateway. Not for CI: N memberlists share this machine's cores, where a
// real mesh gives each its own, so the times here are an upper bound and
// the per-gateway bytes and CPU-seconds are the figures that transfer.
// Each gateway needs about 0.7 ms of CPU a second once up and several
// times that while joins settle: 1,000 starve 2 cores, and their
// memberlists then miss probe timeouts and declare each other dead.
func TestGossipFiguresAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("VPCMESH_SCALE"))
	if n < 2 || testing.Short() {
		t.Skip("set the mesh size to run: VPCMESH_SCALE=1000 go test -run TestGossipFiguresAtScale -v -timeout 120m ./discovery (or e2e/gossip-figures.sh)")
	}
	// Started together, each joining through the first, the gateways
	// learn the records of those that joined after them by gossip.
	// Seeded, every gateway holds every record (verified, its own copy)
	// before any joins, as in a mesh that has run for a while: what the
	// running mesh costs, without the mass start's storm of records.
	var seeded bool
	switch start := os.Getenv("VPCMESH_SCALE_START"); start {
	case "", "started":
	case "seeded":
		seeded = true
	default:
		t.Fatalf("VPCMESH_SCALE_START=%q: want started or seeded", start)
	}
	// N memberlists on a few cores miss their 500 ms probe timeouts and
	// declare each other dead: that measures the machine. With
	// VPCMESH_SCALE_PROBES=k the probe period and timeout are k times
	// memberlist's here (suspicion grows with them; the gossip of records
	// and members does not).
	if k, _ := strconv.Atoi(os.Getenv("VPCMESH_SCALE_PROBES")); k > 1 {
		defer func(i, o time.Duration) { probeInterval, probeTimeout = i, o }(probeInterval, probeTimeout)
		probeInterval, probeTimeout = time.Duration(k)*probeInterval, time.Duration(k)*probeTimeout
	}
	mc, err := (&Gossip{}).memberlistConfig()
	if err != nil {
		t.Fatal(err)
	}
	pushPull := pushPullEvery(mc.PushPullInterval, n)
	// Windows of steady state last two push/pull intervals: each gateway
	// starts about two, whatever the phase of its timer. The queues get
	// drainLimit to empty before the second.
	span := envDuration("VPCMESH_SCALE_WINDOW", 2*pushPull)
	drainLimit := envDuration("VPCMESH_SCALE_DRAIN", 15*time.Minute)

	m := newTestMesh(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ids := make([]*Identity, n+1)
	for i := range ids {
		ids[i] = m.issue(t, i+1, time.Now().Add(24*time.Hour))
	}
	network := &memberlist.MockNetwork{}
	// MockNetwork's maps are not safe for concurrent use: every transport
	// is made before any node runs.
	transports := make([]*countingTransport, n+1)
	for i := range transports {
		transports[i] = newCountingTransport(network, ids[i].Leaf().Body.Name)
	}
	start := func(i int) *Gossip {
		g, err := StartGossip(GossipConfig{Identity: ids[i], Root: m.root, Log: quiet, Transport: transports[i]}, Record{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Shutdown() })
		return g
	}

	heap0, rss0 := heapAfterGC(), vmRSS(t)
	goroutines0 := runtime.NumGoroutine()
	cpu0 := cpuSeconds(t)
	began := time.Now()
	nodes := make([]*Gossip, 0, n+1)
	retried := 0
	join := func(g *Gossip) {
		// A join can time out here (memberlist's TCPTimeout) when the
		// cores are starved; a gateway tries its join targets again.
		for attempt := 1; ; attempt++ {
			_, err := g.JoinAddrs(nodes[0].Addr())
			if err == nil {
				return
			}
			if attempt == 5 {
				t.Fatalf("%s join, attempt %d: %v", g.name, attempt, err)
			}
			retried++
		}
	}
	progress := func(i int) {
		if i%max(n/5, 1) == 0 && i < n {
			t.Logf("%d joined after %v (%.0f CPU-s), %d broadcasts queued", i, time.Since(began).Round(time.Second), cpuSeconds(t)-cpu0, queued(nodes))
		}
	}
	for i := range n {
		g := start(i)
		if i > 0 && !seeded {
			join(g)
		}
		nodes = append(nodes, g)
		if !seeded {
			progress(i + 1)
		}
	}
	if seeded {
		for _, g := range nodes {
			for _, o := range nodes {
				if o != g && g.accept(bytes.Clone(o.Self().Encoded)) == nil {
					t.Fatalf("%s refused %s's record", g.name, o.name)
				}
			}
		}
		t.Logf("%d gateways started, each holding all %d records, after %v (%.0f CPU-s)", n, n, time.Since(began).Round(time.Second), cpuSeconds(t)-cpu0)
		for i, g := range nodes[1:] {
			join(g)
			progress(i + 2)
		}
	}
	lastJoin := time.Now()
	joined := snap(t, nodes, transports)
	t.Logf("%d gateways started and joined through the first in %v (%.0f CPU-s; %d joins tried again after a timeout)",
		n, lastJoin.Sub(began).Round(time.Millisecond), joined.cpu-cpu0, retried)
	t.Logf("settings: probe every %v (ack within %v), gossip to %d every %v, push/pull every %v at %d gateways, UDP messages of %d bytes",
		mc.ProbeInterval, mc.ProbeTimeout, mc.GossipNodes, mc.GossipInterval, pushPull, n, mc.UDPBufferSize)

	reached, err := untilAllHold(t, nodes, n, lastJoin, 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	converged := slices.Max(reached)
	what := "every record everywhere"
	if seeded {
		what = "every member live everywhere (records seeded)"
	}
	t.Logf("%s %v after the last join (median gateway %v, goal 10s: %s); meanwhile %s", what,
		converged.Round(time.Millisecond), median(reached).Round(time.Millisecond), met(converged <= 10*time.Second),
		snap(t, nodes, transports).since(joined))

	// One more gateway joins the running mesh through one member.
	newcomer := start(n)
	late := time.Now()
	if _, err := newcomer.JoinAddrs(nodes[0].Addr()); err != nil {
		t.Fatal(err)
	}
	joinedAfter := time.Since(late)
	nodes = append(nodes, newcomer)
	reached, err = untilAllHold(t, nodes, n+1, late, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gateway %d joining the running mesh: it holds all %d records %v after its join began (the join's push/pull returned after %v); its record is everywhere after %v (goal 10s: %s)",
		n+1, n, reached[n].Round(time.Millisecond), joinedAfter.Round(time.Millisecond),
		slices.Max(reached[:n]).Round(time.Millisecond), met(slices.Max(reached) <= 10*time.Second))

	heap, rss := heapAfterGC(), vmRSS(t)
	perGW := func(b uint64) float64 { return float64(int64(b)) / float64(n+1) / 1024 } // a signed difference
	t.Logf("memory after convergence: Go heap after GC %.1f KiB per gateway (%.0f MiB for %d), RSS %.1f KiB per gateway, %.1f goroutines per gateway",
		perGW(heap-heap0), float64(heap-heap0)/(1<<20), n+1, perGW(rss-rss0),
		float64(runtime.NumGoroutine()-goroutines0)/float64(n+1))
	size := 0
	for _, r := range nodes[0].Known() {
		size += len(r.Encoded)
	}
	t.Logf("records: %d bytes each on average (one site; a real record with endpoints and members is larger); each queued broadcast sent at most %d times",
		size/n, retransmitLimit(nodes[0]))

	// Right after convergence the broadcast queues still hold the records
	// learned last, each to be sent up to the retransmit limit: the first
	// window, and when they empty. Counting them every second costs little
	// beside what is measured.
	a := snap(t, nodes, transports)
	var emptyAt counters
	checkEmpty := func() {
		if emptyAt.at.IsZero() && queued(nodes) == 0 {
			emptyAt = snap(t, nodes, transports)
		}
	}
	for left := span; left > 0; left = span - time.Since(a.at) {
		time.Sleep(min(time.Second, left))
		checkEmpty()
	}
	t.Logf("right after convergence, %s", snap(t, nodes, transports).since(a))
	for emptyAt.at.IsZero() && time.Since(a.at) < drainLimit {
		time.Sleep(time.Second)
		checkEmpty()
	}
	if emptyAt.at.IsZero() {
		emptyAt = snap(t, nodes, transports)
	}
	tail := emptyAt.since(a)
	t.Logf("broadcast queues empty %v after convergence: %s; till then per gateway %.0f KiB sent (records gossiped %.0f KiB), %.1f record requests",
		tail.d.Round(time.Second), met(tail.queuedAfter == 0), float64(tail.packetBytes+tail.streamBytes)/float64(n+1)/1024,
		float64(tail.broadcastBytes)/float64(n+1)/1024, float64(tail.repairs)/float64(n+1))
	// The late joiner took every record in its join's push/pull, and
	// passes each on as a broadcast, though the mesh has them all.
	t.Logf("the late joiner gossiped %.0f KiB of records (%d records held when it joined) by then",
		float64(newcomer.Traffic().BroadcastBytes)/1024, n)

	// Record updates (a gateway's endpoint changed), one at a time: the
	// everyday event of a running mesh. Gossip spreads each; a gateway
	// that missed every copy holds the old record until a push/pull.
	updates, _ := strconv.Atoi(os.Getenv("VPCMESH_SCALE_UPDATES"))
	if updates == 0 {
		updates = 10
	}
	u0 := snap(t, nodes, transports)
	var took []time.Duration
	slow := 0
	for u := range updates {
		g := nodes[rand.IntN(n)]
		ep := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + u%250)}), 51820)
		if err := g.Publish(Record{Endpoints: []netip.AddrPort{ep}}); err != nil {
			t.Fatal(err)
		}
		d, err := untilAllHave(nodes, g.Self(), 3*pushPull)
		if err != nil {
			t.Fatal(err)
		}
		took = append(took, d)
		if d > 10*time.Second {
			slow++
		}
	}
	uw := snap(t, nodes, transports).since(u0)
	t.Logf("%d record updates, one at a time: each everywhere after %v median, %v at most; %d took over 10s (a gateway missed every copy); per update %.1f KiB of records gossiped per gateway",
		updates, median(took).Round(time.Millisecond), slices.Max(took).Round(time.Millisecond), slow,
		float64(uw.broadcastBytes)/float64(updates)/float64(n+1)/1024)
	for queued(nodes) > 0 && time.Since(uw.at) < drainLimit {
		time.Sleep(time.Second)
	}

	heapDrained := heapAfterGC()
	// VPCMESH_SCALE_CPUPROFILE names a file for a CPU profile of this
	// window alone: where a gateway's steady-state CPU goes.
	if path := os.Getenv("VPCMESH_SCALE_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	b := snap(t, nodes, transports)
	time.Sleep(span)
	steady := snap(t, nodes, transports).since(b)
	t.Logf("steady state, %s", steady)
	t.Logf("memory in steady state: Go heap after GC %.1f KiB per gateway", perGW(heapDrained-heap0))
	if steady.streams > 0 {
		// A push/pull must be over within TCPTimeout, both states sent.
		per := float64(steady.streamBytes) / float64(steady.streams)
		t.Logf("a push/pull moves %.0f KiB (both ways, compressed): within memberlist's TCPTimeout of %v that takes %.1f Mbit/s", per/1024, mc.TCPTimeout, per*8/mc.TCPTimeout.Seconds()/1e6)
	}
	mode := "started together"
	if seeded {
		mode = "records seeded"
	}
	t.Logf("summary: %d gateways (%s); %s %v after the last join; late joiner's record everywhere after %v; record updates everywhere after %v median, %v at most; queues empty %v after convergence; steady state %.1f KiB/s and %.2f ms CPU per gateway per second; heap %.0f KiB per gateway",
		n, mode, what, converged.Round(time.Millisecond), slices.Max(reached[:n]).Round(time.Millisecond),
		median(took).Round(time.Millisecond), slices.Max(took).Round(time.Millisecond), tail.d.Round(time.Second),
		steady.bytesPerGW()/1024, steady.cpuPerGW()*1000, perGW(heapDrained-heap0))
	if steady.cpu == 0 {
		t.Error("no CPU time counted in the steady-state window: /proc/self/stat not read right")
	}
	if steady.packetBytes == 0 || steady.streamBytes == 0 {
		t.Errorf("steady state counted %d datagram bytes and %d stream bytes: probes and push/pulls must show", steady.packetBytes, steady.streamBytes)
	}
}

// pushPullEvery is memberlist's push/pull interval at n nodes (its
// pushPullScale): doubled at 33 nodes, tripled at 65, and so on.
func pushPullEvery(interval time.Duration, n int) time.Duration {
	if n <= 32 {
		return interval
	}
	return time.Duration(math.Ceil(math.Log2(float64(n))-math.Log2(32))+1) * interval
}

// retransmitLimit is how many times g's queue sends a broadcast, as
// memberlist computes it from the queue's settings.
func retransmitLimit(g *Gossip) int {
	return g.queue.RetransmitMult * int(math.Ceil(math.Log10(float64(g.queue.NumNodes()+1))))
}

// untilAllHold polls until every gateway of nodes holds a live, verified
// record of want-1 others, and returns how long after since each first
// did. Every minute it logs how far the gateways are.
func untilAllHold(t *testing.T, nodes []*Gossip, want int, since time.Time, limit time.Duration) ([]time.Duration, error) {
	reached := make([]time.Duration, len(nodes))
	done := make([]bool, len(nodes))
	lastLog := time.Now()
	for {
		left := 0
		for i, g := range nodes {
			if done[i] {
				continue
			}
			// Counting records and live members is cheap; Nodes (states,
			// expiry, sorting: a third of a millisecond at 600) only
			// confirms, once per gateway.
			g.mu.Lock()
			held := len(g.records)
			g.mu.Unlock()
			if held >= want && g.NumMembers() >= want && len(g.Nodes()) == want-1 {
				done[i], reached[i] = true, time.Since(since)
			} else {
				left++
			}
		}
		if left == 0 {
			// A gateway may have lost a member since it was counted.
			for i, g := range nodes {
				if len(g.Nodes()) != want-1 {
					done[i] = false
					left++
				}
			}
			if left == 0 {
				return reached, nil
			}
		}
		if time.Since(since) > limit {
			return nil, fmt.Errorf("%d of %d gateways still without every record %v after: %s", left, len(nodes), limit, whyBehind(nodes))
		}
		if time.Since(lastLog) > time.Minute {
			lastLog = time.Now()
			live := map[int]int{}
			for _, g := range nodes {
				live[g.NumMembers()]++
			}
			t.Logf("after %v %d gateways still behind; gateways by live members seen: %v; %d broadcasts queued",
				time.Since(since).Round(time.Second), left, live, queued(nodes))
		}
		// A tenth of a second apart: the figure's resolution, and the
		// polling stays far below the gossip it measures.
		time.Sleep(100 * time.Millisecond)
	}
}

// untilAllHave polls until every gateway holds rec's version (or a newer
// one) of its record, and returns how long that took.
func untilAllHave(nodes []*Gossip, rec *Node, limit time.Duration) (time.Duration, error) {
	began := time.Now()
	for {
		behind := 0
		for _, g := range nodes {
			g.mu.Lock()
			if r := g.records[rec.Name]; r == nil || r.Version < rec.Version {
				behind++
			}
			g.mu.Unlock()
		}
		if behind == 0 {
			return time.Since(began), nil
		}
		if time.Since(began) > limit {
			return 0, fmt.Errorf("%d of %d gateways still without %s's new record after %v", behind, len(nodes), rec.Name, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func queued(nodes []*Gossip) int {
	q := 0
	for _, g := range nodes {
		q += g.queue.NumQueued()
	}
	return q
}

// counters is what the gateways together sent, and the process's CPU
// time, up to a moment; since makes it a window.
type counters struct {
	at                        time.Time
	gateways                  int
	d                         time.Duration
	packets, packetBytes      uint64 // datagrams: probes, acks, gossip, record requests
	streams, streamBytes      uint64 // push/pulls opened, and their bytes both ways
	broadcastBytes, stateOut  uint64 // of which records gossiped, and record state in push/pulls (before compression)
	repairs                   uint64 // record requests
	queuedBefore, queuedAfter int
	cpu                       float64
}

func snap(t *testing.T, nodes []*Gossip, transports []*countingTransport) (c counters) {
	for _, tr := range transports {
		c.packets += tr.packets.Load()
		c.packetBytes += tr.packetBytes.Load()
		c.streams += tr.streams.Load()
		c.streamBytes += tr.streamBytes.Load()
	}
	for _, g := range nodes {
		tr := g.Traffic()
		c.broadcastBytes += tr.BroadcastBytes
		c.stateOut += tr.StateBytesOut
		c.repairs += tr.Repairs
	}
	c.gateways, c.queuedAfter = len(nodes), queued(nodes)
	c.at, c.cpu = time.Now(), cpuSeconds(t)
	return c
}

func (c counters) since(o counters) counters {
	return counters{gateways: c.gateways, d: c.at.Sub(o.at), at: c.at,
		packets: c.packets - o.packets, packetBytes: c.packetBytes - o.packetBytes,
		streams: c.streams - o.streams, streamBytes: c.streamBytes - o.streamBytes,
		broadcastBytes: c.broadcastBytes - o.broadcastBytes, stateOut: c.stateOut - o.stateOut,
		repairs: c.repairs - o.repairs, queuedBefore: o.queuedAfter, queuedAfter: c.queuedAfter, cpu: c.cpu - o.cpu}
}

func (c counters) perGWps(v uint64) float64 { return float64(v) / float64(c.gateways) / c.d.Seconds() }
func (c counters) bytesPerGW() float64      { return c.perGWps(c.packetBytes + c.streamBytes) }
func (c counters) cpuPerGW() float64        { return c.cpu / float64(c.gateways) / c.d.Seconds() }

func (c counters) String() string {
	return fmt.Sprintf("%v: per gateway %.1f KiB/s sent = datagrams %.1f KiB/s (%.1f/s; records gossiped %.1f KiB/s) + push/pull %.1f KiB/s (%.2f opened/min; record state %.1f KiB/s before compression); %.2f record requests/min; CPU %.2f ms per gateway per second (%.2f cores for %d); broadcasts queued %d -> %d",
		c.d.Round(time.Millisecond), c.bytesPerGW()/1024, c.perGWps(c.packetBytes)/1024, c.perGWps(c.packets), c.perGWps(c.broadcastBytes)/1024,
		c.perGWps(c.streamBytes)/1024, c.perGWps(c.streams)*60, c.perGWps(c.stateOut)/1024, c.perGWps(c.repairs)*60,
		c.cpuPerGW()*1000, c.cpu/c.d.Seconds(), c.gateways, c.queuedBefore, c.queuedAfter)
}

// countingTransport is udpLike counting what its gateway sends: datagrams,
// and the bytes it writes on streams (push/pulls) it opens or accepts.
type countingTransport struct {
	*udpLike
	accepted             chan net.Conn
	packets, packetBytes atomic.Uint64
	streams, streamBytes atomic.Uint64
}

func newCountingTransport(network *memberlist.MockNetwork, name string) *countingTransport {
	t := &countingTransport{udpLike: newUDPLike(network, name), accepted: make(chan net.Conn)}
	go func() {
		in := t.MockTransport.StreamCh()
		for {
			select {
			case c := <-in:
				select {
				case t.accepted <- countingConn{c, &t.streamBytes}:
				case <-t.done:
					c.Close()
					return
				}
			case <-t.done:
				return
			}
		}
	}()
	return t
}

func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.packets.Add(1)
	t.packetBytes.Add(uint64(len(b)))
	return t.udpLike.WriteTo(b, addr)
}

func (t *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	t.packets.Add(1)
	t.packetBytes.Add(uint64(len(b)))
	return t.udpLike.WriteToAddress(b, a)
}

func (t *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *countingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	c, err := t.udpLike.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	t.streams.Add(1)
	return countingConn{c, &t.streamBytes}, nil
}

func (t *countingTransport) StreamCh() <-chan net.Conn { return t.accepted }

type countingConn struct {
	net.Conn
	n *atomic.Uint64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(uint64(n))
	return n, err
}

// cpuSeconds is the CPU time (user and system) this process has used, from
// /proc/self/stat, in USER_HZ ticks of 1/100 s.
func cpuSeconds(t *testing.T) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after it, where the state is field 3.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		t.Fatalf("/proc/self/stat: %q", b)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/self/stat: %q", b)
	}
	return float64(utime+stime) / 100
}

// vmRSS is the process's resident set, from /proc/self/status.
func vmRSS(t testing.TB) uint64 {
	t.Helper()
	st, err := procfs.Self()
	if err == nil {
		var ps procfs.ProcStatus
		if ps, err = st.NewStatus(); err == nil {
			return ps.VmRSS
		}
	}
	t.Fatal(err)
	return 0
}

func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}
