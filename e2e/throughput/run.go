package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
)

// options are the flags of one run.
type options struct {
	Rounds, Seconds int
	// Bytes, when > 0, makes every run send this many bytes instead of
	// lasting Seconds, so that CPU per GiB is over the same count for all.
	Bytes        int64
	VPCMesh      string   // the vpcmesh binary
	VPCMeshVs    string   // a second vpcmesh build, for the vpcmesh-vs leg
	WireGuard    string   // the reference wireguard-go; "" finds it
	Cipher       string   // OpenVPN's data channel cipher
	TailscaleMTU int      // 0: Tailscale's own default
	NebulaBuffer int      // Nebula's UDP socket buffers, bytes; 0: the system's
	Legs         []string // leg keys, in the order they are built; nil for defaultLegs
	Keep         bool
	Out          io.Writer                     // the report
	Logf         func(format string, a ...any) // setup steps; nil for none
}

// perRun is what one run is: a time or a byte count.
func (o options) perRun() string {
	if o.Bytes > 0 {
		return formatBytes(o.Bytes)
	}
	return fmt.Sprintf("%d s", o.Seconds)
}

// The legs' names, as reported.
const (
	legRaw          = "raw veth"
	legRefWG        = "reference wireguard-go"
	legVPCMesh      = "vpcmesh (translation + ACL)"
	legVPCMeshPlain = "vpcmesh (no translation)"
	legVPCMeshVs    = "vpcmesh -vs build"
	legOpenVPN      = "OpenVPN"
	legNebula       = "Nebula"
	legTailscale    = "Tailscale"
)

// legDefs are the legs -legs can choose, by key.
var legDefs = []leg{
	{name: legRaw, key: "raw", setup: setupRaw},
	{name: legRefWG, key: "wg", setup: setupRefWG},
	{name: legVPCMesh, key: "vpcmesh", setup: setupVPCMesh},
	{name: legVPCMeshPlain, key: "vpcmesh-plain", setup: setupVPCMeshPlain},
	{name: legVPCMeshVs, key: "vpcmesh-vs", setup: setupVPCMeshVs},
	{name: legOpenVPN, key: "ovpn", setup: setupOpenVPN},
	{name: legNebula, key: "nebula", setup: setupNebula},
	{name: legTailscale, key: "tailscale", setup: setupTailscale},
}

// defaultLegs are the four of issue 4 and the two other overlays users
// would pick instead; those two are skipped where e2e/setup-peers.sh has
// not built them.
var defaultLegs = []string{"raw", "wg", "vpcmesh", "ovpn", "nebula", "tailscale"}

// newLeg is a fresh leg for key; nil when there is none.
func newLeg(key string) *leg {
	for _, d := range legDefs {
		if d.key == key {
			lg := d
			return &lg
		}
	}
	return nil
}

func legKeys() []string {
	var keys []string
	for _, d := range legDefs {
		keys = append(keys, d.key)
	}
	return keys
}

// The verdict on vpcmesh / reference wireguard-go (issue 4).
const (
	ratioTarget = 1.0
	ratioFloor  = 0.95
)

// leg is one path under test: an iperf3 client in client, the server in
// server, nothing else sharing their namespaces.
type leg struct {
	name  string
	key   string // short, for namespace roles and process names
	setup func(ctx context.Context, e *env, lg *leg) error

	client, server *lab.NS
	dst            string   // what the client connects to
	bind           string   // the client's source address; "" lets the kernel pick
	listen         string   // the server's address
	note           string   // shown under the table (cipher, MTU)
	details        []string // shown after the setup line

	// after, when set, prints what the leg's daemons counted.
	after func(ctx context.Context, w io.Writer)
	// pids are the leg's tunnel processes, both ends: their CPU time over
	// a run, per GiB carried, is the leg's cost. None for raw veth, whose
	// cost is the kernel's alone.
	pids []int

	err     error     // the leg could not be set up: not measured
	skipped bool      // err is errNotInstalled: not a failure
	runs    []*sample // one per round, in round order
}

// env is what the legs' setup shares.
type env struct {
	lab          *lab.Lab
	wireguard    string
	vpcmesh      string
	vpcmeshVs    string // "" without -vs
	cipher       string
	tailscaleMTU int
	nebulaBuffer int
	out          io.Writer
	underlayNo   int // numbers the legs' underlay subnets
}

// result is what a run measured, for the caller and the smoke test.
type result struct {
	legs []*leg
}

// failed names the legs that were not set up or had a run without traffic;
// a leg skipped for want of its binaries is not among them.
func (r *result) failed() []string {
	var names []string
	for _, lg := range r.legs {
		if lg.skipped {
			continue
		}
		bad := lg.err != nil || len(lg.runs) == 0
		for _, rn := range lg.runs {
			bad = bad || rn.err != nil || rn.bps <= 0
		}
		if bad {
			names = append(names, lg.name)
		}
	}
	return names
}

// median of the leg's successful runs, in bits/s; 0 when there is none.
func (lg *leg) median() float64 { return median(lg.values()) }

func (lg *leg) values() []float64 {
	var v []float64
	for _, rn := range lg.runs {
		if rn.err == nil && rn.bps > 0 {
			v = append(v, rn.bps)
		}
	}
	return v
}

func run(ctx context.Context, o options) (res *result, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root: the lab creates network namespaces")
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	for _, tool := range []string{"ip", "ss", "ping", "iperf3", "openvpn", "wg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found: run e2e/setup.sh", tool)
		}
	}
	e := &env{vpcmesh: o.VPCMesh, vpcmeshVs: o.VPCMeshVs, wireguard: o.WireGuard, cipher: o.Cipher, tailscaleMTU: o.TailscaleMTU,
		nebulaBuffer: o.NebulaBuffer, out: o.Out}
	if e.vpcmesh, err = filepath.Abs(e.vpcmesh); err != nil {
		return nil, err
	}
	if st, err := os.Stat(e.vpcmesh); err != nil || st.IsDir() {
		return nil, fmt.Errorf("vpcmesh binary %s: build it first (go build -o bin/vpcmesh ./cmd/vpcmesh) %v", o.VPCMesh, err)
	}
	if e.vpcmeshVs != "" {
		if e.vpcmeshVs, err = filepath.Abs(e.vpcmeshVs); err != nil {
			return nil, err
		}
		if st, err := os.Stat(e.vpcmeshVs); err != nil || st.IsDir() {
			return nil, fmt.Errorf("-vs binary %s: %v", o.VPCMeshVs, err)
		}
	}
	if e.wireguard == "" {
		if e.wireguard, err = lab.FindReferenceWireGuard(); err != nil {
			return nil, err
		}
	}
	if _, err := lab.SweepStale(o.Logf); err != nil {
		fmt.Fprintln(os.Stderr, "throughput: sweeping stale labs:", err)
	}
	l, err := lab.New(o.Logf)
	if err != nil {
		return nil, err
	}
	e.lab = l
	defer func() {
		if o.Keep {
			l.Keep()
		}
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("lab cleanup: %w", cerr))
		}
	}()

	res = &result{}
	keys := o.Legs
	if len(keys) == 0 {
		keys = defaultLegs
	}
	for _, k := range keys {
		lg := newLeg(k)
		if lg == nil {
			return nil, fmt.Errorf("unknown leg %q (legs: %s)", k, strings.Join(legKeys(), ","))
		}
		res.legs = append(res.legs, lg)
	}
	w := o.Out
	fmt.Fprintf(w, "throughput: one TCP stream (iperf3), %d rounds × %s per leg, lab %s\n", o.Rounds, o.perRun(), l.ID)
	fmt.Fprintf(w, "machine: %s\n", machine(ctx, e))
	busy, err := cpuBusy(ctx, time.Second)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(w, "CPUs busy before the run: %.0f%%\n", 100*busy)
	if busy > busyShare {
		fmt.Fprintf(w, "WARNING: the machine is not idle: other processes compete for the CPUs, figures will be low and noisy\n")
	}
	cpu0 := readCPU()
	for _, lg := range res.legs {
		t0 := time.Now()
		lg.err = lg.setup(ctx, e, lg)
		if lg.err == nil {
			lg.err = startServer(ctx, lg)
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if errors.Is(lg.err, errNotInstalled) {
			lg.skipped = true
			fmt.Fprintf(w, "setup %-28s skipped: %v\n", lg.name, lg.err)
			continue
		}
		if lg.err != nil {
			fmt.Fprintf(w, "setup %-28s FAILED: %v\n", lg.name, lg.err)
			continue
		}
		fmt.Fprintf(w, "setup %-28s ok (%v)\n", lg.name, time.Since(t0).Round(time.Millisecond))
		for _, d := range lg.details {
			fmt.Fprintf(w, "      %s\n", d)
		}
	}

	for r := range o.Rounds {
		// Each round starts one leg further on, so that no leg always runs
		// first in a round, right after the setup or another round.
		for i := range res.legs {
			lg := res.legs[(r+i)%len(res.legs)]
			if lg.err != nil {
				continue
			}
			rn := measure(ctx, lg, o.Seconds, o.Bytes)
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			lg.runs = append(lg.runs, rn)
			fmt.Fprintf(w, "round %d/%d  %-28s %s\n", r+1, o.Rounds, lg.name, rn)
		}
	}
	report(w, res, o)
	if cpu1 := readCPU(); cpu1.total > cpu0.total {
		// Time the hypervisor gave to someone else: a share of it makes
		// the figures of this run lower and noisier than the machine's.
		fmt.Fprintf(w, "CPU steal during the run: %.1f%%\n", 100*float64(cpu1.steal-cpu0.steal)/float64(cpu1.total-cpu0.total))
	}
	for _, lg := range res.legs {
		if lg.after != nil && lg.err == nil {
			lg.after(ctx, w)
		}
	}
	return res, nil
}

// machine describes what the figures depend on.
func machine(ctx context.Context, e *env) string {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	first := func(args ...string) string {
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return args[0] + " ?"
		}
		line, _, _ := strings.Cut(string(out), "\n")
		return strings.TrimSpace(line)
	}
	ovpn := strings.Fields(first("openvpn", "--version"))
	ovpn = ovpn[:min(2, len(ovpn))]
	wgver, _ := os.ReadFile(filepath.Join(filepath.Dir(e.wireguard), ".wireguard-version"))
	ref := "wireguard-go " + strings.TrimSpace(string(wgver))
	return fmt.Sprintf("%d CPUs, Linux %s, %s, %s, %s", runtime.NumCPU(), strings.TrimSpace(string(kernel)),
		first("iperf3", "--version"), strings.Join(ovpn, " "), ref)
}

// busyShare is the share of the CPUs busy before the run above which the
// machine is not idle: someone else is using them.
const busyShare = 0.2

// cpuBusy is the share of the machine's CPU time that was not idle over
// the next d.
func cpuBusy(ctx context.Context, d time.Duration) (float64, error) {
	a := readCPU()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-t.C:
	}
	b := readCPU()
	if b.total <= a.total {
		return 0, nil
	}
	return 1 - float64(b.idle-a.idle)/float64(b.total-a.total), nil
}

// cpuTimes are the machine's CPU times from /proc/stat, in ticks.
type cpuTimes struct{ total, idle, steal uint64 }

func readCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}
	}
	var t cpuTimes
	// user nice system idle iowait irq softirq steal [guest guest_nice,
	// which user and nice already count]
	for i, x := range f[1:9] {
		n, _ := strconv.ParseUint(x, 10, 64)
		t.total += n
		switch i {
		case 3, 4: // idle, iowait
			t.idle += n
		case 7:
			t.steal = n
		}
	}
	return t
}
