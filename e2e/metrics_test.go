package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// The Prometheus endpoint reports what happened: a non-member's pings are
// refused by the kernel (no route of any project) and never reach the
// packet path, whose counters do not move; a member's pings pass it, out
// and back, exactly as many as were sent; the peer it used is up.
func TestMetricsMatchWhatHappened(t *testing.T) {
	l, ctx := newLab(t)
	o, err := scenario.BuildOverlap(l, vpcmeshBin)
	must(t, err)
	const addr = "127.0.0.1:9586"
	o.OfficeGW.MetricsListen = addr
	must(t, o.OfficeGW.WriteConfig())
	must(t, o.StartAll(ctx))
	gw := o.Office.Gateway
	must(t, lab.Eventually(ctx, 10*time.Second, func() error { return o.PCA.Ping(ctx, scenario.HostAWire) }))

	const sent = 5
	ping := func(pc *lab.NS) (string, error) {
		return pc.Exec(ctx, "ping", "-n", "-c", strconv.Itoa(sent), "-i", "0.2", "-W", "1", scenario.HostAWire)
	}
	before, err := scrape(gw, addr)
	must(t, err)
	out, err := ping(o.PCX)
	if err == nil {
		t.Fatal("pc-x, in no project, was answered")
	}
	if !strings.Contains(out, "From "+o.Office.GatewayIP+" icmp_seq=1 Destination Host Unreachable") {
		t.Errorf("pc-x got no unreachable from the gateway:\n%s", out)
	}
	between, err := scrape(gw, addr)
	must(t, err)
	if _, err := ping(o.PCA); err != nil {
		t.Fatalf("pc-a (alpha) → host-a: %v", err)
	}
	after, err := scrape(gw, addr)
	must(t, err)

	for _, dir := range []string{"outbound", "inbound"} {
		passed := fmt.Sprintf(`vpcmesh_packets_total{direction=%q,verdict="passed"}`, dir)
		acl := fmt.Sprintf(`vpcmesh_packets_total{direction=%q,verdict="dropped_acl"}`, dir)
		if between[passed] != before[passed] || between[acl] != before[acl] {
			t.Errorf("pc-x's pings reached the packet path: %s %v → %v, %s %v → %v", passed, before[passed], between[passed], acl, before[acl], between[acl])
		}
		if got := after[passed] - between[passed]; got != sent {
			t.Errorf("%s rose by %v while pc-a pinged, want %d", passed, got, sent)
		}
		t.Logf("%s: %v before, %v after pc-x's pings, %v after pc-a's", passed, before[passed], between[passed], after[passed])
	}
	for _, m := range []string{`vpcmesh_peer_up{peer="gw-a"}`, `vpcmesh_status_up`} {
		if after[m] != 1 {
			t.Errorf("%s = %v, want 1", m, after[m])
		}
	}
	if after[`vpcmesh_peers`] != 2 || after[`vpcmesh_routes`] == 0 {
		t.Errorf("peers %v, routes %v; want 2 peers and some routes", after[`vpcmesh_peers`], after[`vpcmesh_routes`])
	}
	// The binary's version, as `vpcmesh version` prints it, in status and
	// in vpcmesh_build_info.
	vout, err := exec.CommandContext(ctx, vpcmeshBin, "version").Output()
	must(t, err)
	version := strings.TrimSpace(strings.TrimPrefix(string(vout), "vpcmesh version "))
	st, err := o.OfficeGW.Status(ctx)
	must(t, err)
	if version == "" || st.Version != version {
		t.Errorf("status version %q, vpcmesh version says %q", st.Version, version)
	}
	if m := fmt.Sprintf(`vpcmesh_build_info{goversion=%q,version=%q}`, runtime.Version(), version); after[m] != 1 {
		t.Errorf("%s = %v, want 1", m, after[m])
	}
}

// scrape fetches /metrics from inside ns and returns every sample by its
// name and labels as written.
func scrape(ns *lab.NS, addr string) (map[string]float64, error) {
	samples := map[string]float64{}
	err := ns.Do(func() error {
		// Dialled here, on the thread inside ns; net/http would dial from
		// another goroutine, outside it.
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /metrics: %s", resp.Status)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err != nil {
				return fmt.Errorf("metrics line %q: %w", line, err)
			}
			samples[line[:i]] = v
		}
		return sc.Err()
	})
	return samples, err
}
