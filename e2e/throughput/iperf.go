package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
)

// iperfPort is iperf3's default; every leg has its own namespaces, so one
// port serves all.
const iperfPort = "5201"

// sample is one iperf3 run of one leg.
type sample struct {
	bps         float64       // received by the server, bits/s
	bytes       float64       // received by the server
	cpu         time.Duration // of the leg's tunnel processes over the run; 0: none
	retransmits int           // by the client's TCP
	local       string        // the client's address and the server's, as the client saw them
	remote      string
	err         error
}

func (r *sample) String() string {
	if r.err != nil {
		return "FAILED: " + r.err.Error()
	}
	cost := "     -      "
	if c := r.cpuPerGiB(); c > 0 {
		cost = fmt.Sprintf("%5.2f CPU-s/GiB", c)
	}
	return fmt.Sprintf("%6.3f Gbit/s  %s  retransmits %-5d %s → %s", r.bps/1e9, cost, r.retransmits, r.local, r.remote)
}

// cpuPerGiB is the tunnel processes' CPU seconds per GiB received; 0 when
// not measured.
func (r *sample) cpuPerGiB() float64 {
	if r.err != nil || r.cpu <= 0 || r.bytes <= 0 {
		return 0
	}
	return r.cpu.Seconds() / (r.bytes / (1 << 30))
}

// startServer runs `iperf3 -s` in the leg's server namespace, once for all
// rounds, and waits until it listens.
func startServer(ctx context.Context, lg *leg) error {
	p, err := lg.server.Start("iperf3-"+lg.key, "iperf3", "-s", "-B", lg.listen, "-p", iperfPort)
	if err != nil {
		return err
	}
	return lab.Eventually(ctx, 10*time.Second, func() error {
		if p.Exited() {
			return fmt.Errorf("iperf3 server exited:\n%s", p.Log())
		}
		out, err := lg.server.Exec(ctx, "ss", "-Hltn", "sport = :"+iperfPort)
		if err != nil {
			return err
		}
		if !strings.Contains(out, lg.listen+":"+iperfPort) {
			return fmt.Errorf("iperf3 server not listening on %s:%s yet", lg.listen, iperfPort)
		}
		return nil
	})
}

// iperfReport is the part of `iperf3 -J` that is used.
type iperfReport struct {
	Error string `json:"error"`
	Start struct {
		Connected []struct {
			LocalHost  string `json:"local_host"`
			LocalPort  int    `json:"local_port"`
			RemoteHost string `json:"remote_host"`
			RemotePort int    `json:"remote_port"`
		} `json:"connected"`
	} `json:"start"`
	End struct {
		SumSent struct {
			BitsPerSecond float64 `json:"bits_per_second"`
			Retransmits   int     `json:"retransmits"`
		} `json:"sum_sent"`
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
			Bytes         float64 `json:"bytes"`
		} `json:"sum_received"`
	} `json:"end"`
}

// minRate is the slowest a leg may carry a fixed byte count (-bytes)
// before the run is given up on: far below any tunnel on a veth, so that
// only a hung path hits it.
const minRate = 100e6 // bits/s

// measure runs one single-stream iperf3 client for seconds, or, when n > 0,
// until it has sent n bytes; bounded in time even when the path hangs.
func measure(ctx context.Context, lg *leg, seconds int, n int64) *sample {
	limit := time.Duration(seconds) * time.Second
	length := []string{"-t", strconv.Itoa(seconds)}
	if n > 0 {
		limit = time.Duration(float64(n) * 8 / minRate * float64(time.Second))
		length = []string{"-n", strconv.FormatInt(n, 10)}
	}
	ctx, cancel := context.WithTimeout(ctx, limit+20*time.Second)
	defer cancel()
	args := append([]string{"iperf3", "-c", lg.dst, "-p", iperfPort, "-J", "--connect-timeout", "5000"}, length...)
	if lg.bind != "" {
		args = append(args, "-B", lg.bind)
	}
	before, cerr := cpuOf(lg.pids)
	out, err := lg.client.Exec(ctx, args...)
	after, cerr2 := cpuOf(lg.pids)
	rep, perr := parseIperf(out)
	switch {
	case perr == nil && rep.Error != "":
		return &sample{err: errors.New("iperf3: " + rep.Error)}
	case err != nil:
		return &sample{err: err}
	case perr != nil:
		return &sample{err: perr}
	}
	r := &sample{bps: rep.End.SumReceived.BitsPerSecond, bytes: rep.End.SumReceived.Bytes, retransmits: rep.End.SumSent.Retransmits}
	if cerr == nil && cerr2 == nil {
		r.cpu = after - before
	}
	if c := rep.Start.Connected; len(c) > 0 {
		r.local, r.remote = c[0].LocalHost, c[0].RemoteHost
	}
	if r.bps <= 0 {
		r.err = errors.New("no traffic received")
	}
	return r
}

// cpuOf is the CPU time of the processes so far, user and system, all
// threads.
func cpuOf(pids []int) (time.Duration, error) {
	var sum time.Duration
	for _, pid := range pids {
		st, err := lab.ReadProcStat(pid)
		if err != nil {
			return 0, err
		}
		sum += st.CPU
	}
	return sum, nil
}

// parseIperf reads iperf3's JSON, skipping anything printed before it.
func parseIperf(out string) (*iperfReport, error) {
	i := strings.IndexByte(out, '{')
	if i < 0 {
		return nil, fmt.Errorf("iperf3 printed no JSON: %q", out)
	}
	var rep iperfReport
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&rep); err != nil {
		return nil, fmt.Errorf("iperf3 JSON: %w", err)
	}
	return &rep, nil
}

// byteUnits are the suffixes of -bytes, as iperf3 reads -n: powers of 1024.
var byteUnits = []struct {
	suffix string
	shift  uint
}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}}

// parseBytes reads a byte count such as 4G, 512M or 1073741824: a whole
// number with an optional K, M, G or T (KiB … TiB).
func parseBytes(s string) (int64, error) {
	num, shift := strings.ToUpper(strings.TrimSpace(s)), uint(0)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, shift = rest, u.shift
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || v > math.MaxInt64>>shift {
		return 0, fmt.Errorf("byte count %q: want a positive whole number with an optional K, M, G or T", s)
	}
	return v << shift, nil
}

// formatBytes is n in the largest unit that divides it, as parseBytes
// reads it back: 4 GiB, 1536 MiB, 1000 B.
func formatBytes(n int64) string {
	for _, u := range byteUnits {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %siB", n>>u.shift, u.suffix)
		}
	}
	return fmt.Sprintf("%d B", n)
}
