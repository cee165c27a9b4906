package e2e

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// Names per project: two VPCs made from one template (overlapping CIDRs,
// the same zone corp.internal, each with its own dnsmasq answering
// db.corp.internal = 10.0.0.20). The office gateway answers its members:
// each gets its own project's answer at the address it uses, reaches the
// host by name, and gets the name back from the address; a non-member is
// refused; a large answer works over TCP and truncates over UDP.
func TestNamesPerProject(t *testing.T) {
	l, ctx := newLab(t)
	n, err := scenario.BuildNames(l, vpcmeshBin)
	must(t, err)
	// Port 53 and the site's resolver with only the unit's capabilities.
	caps := unitCapabilities(t)
	n.OfficeGW.Capabilities, n.GWA.Capabilities = caps, caps
	t.Cleanup(func() { logsOnFailure(t, n.OfficeGW, n.GWA, n.GWB) })
	must(t, n.Start(ctx))

	// Each member's own project, at the address it uses.
	for _, c := range []struct {
		who  *lab.NS
		want string
	}{{n.PCA, scenario.HostAWire}, {n.PCB, scenario.HostBWire}, {n.PCT, scenario.HostA}} {
		got := dig(ctx, t, c.who, "+short", scenario.DBName)
		if got != c.want {
			t.Errorf("%s asks %s: %q, want %s", c.who, scenario.DBName, got, c.want)
		}
	}
	// A non-member, and a name of no project (no upstream configured).
	if got := dig(ctx, t, n.PCX, scenario.DBName); !strings.Contains(got, "status: REFUSED") {
		t.Errorf("pc-x (no project) asks %s:\n%s\nwant REFUSED", scenario.DBName, got)
	}
	if got := dig(ctx, t, n.PCA, "example.com"); !strings.Contains(got, "status: REFUSED") {
		t.Errorf("pc-a asks example.com with no upstream:\n%s\nwant REFUSED", got)
	}

	// By name: pc-a opens a TCP connection to db.corp.internal and reaches
	// VPC A's host; pc-t, transparent, reaches it at its real address.
	for _, who := range []*lab.NS{n.PCA, n.PCT} {
		must(t, who.SetResolver(scenario.OfficeDNS))
		if err := connectByName(ctx, who, n.HostA, scenario.DBName); err != nil {
			t.Errorf("%s: %v", who, err)
		}
	}

	// The name back from each wire address, as asked.
	for _, c := range []struct {
		who  *lab.NS
		addr string
	}{{n.PCA, scenario.HostAWire}, {n.PCB, scenario.HostBWire}} {
		out := dig(ctx, t, c.who, "-x", c.addr)
		rev := reverseName(c.addr)
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(rev) + `\s+\d+\s+IN\s+PTR\s+` + regexp.QuoteMeta(scenario.DBName) + `\.$`).MatchString(out) {
			t.Errorf("%s asks the name of %s:\n%s\nwant %s PTR %s.", c.who, c.addr, out, rev, scenario.DBName)
		}
	}
	// Another project's wire address is no name of pc-a's.
	if got := dig(ctx, t, n.PCA, "-x", scenario.HostBWire); !strings.Contains(got, "status: REFUSED") {
		t.Errorf("pc-a asks the name of beta's %s:\n%s\nwant REFUSED", scenario.HostBWire, got)
	}

	// A large answer: whole over TCP, all rewritten; truncated over plain
	// UDP, and dig's own retry over TCP gets it whole.
	tcp := dig(ctx, t, n.PCA, "+tcp", "+short", scenario.BigName)
	addrs := strings.Fields(tcp)
	if len(addrs) != scenario.BigRecords || slices.ContainsFunc(addrs, func(a string) bool { return !strings.HasPrefix(a, "100.100.1.") }) {
		t.Errorf("pc-a asks %s over TCP: %d addresses %v, want %d in %s", scenario.BigName, len(addrs), addrs, scenario.BigRecords, scenario.VPCAWire)
	}
	udp := dig(ctx, t, n.PCA, "+notcp", "+noedns", "+ignore", scenario.BigName)
	if !regexp.MustCompile(`flags:[a-z ]*\btc\b`).MatchString(udp) || !strings.Contains(udp, "MSG SIZE  rcvd: ") {
		t.Errorf("pc-a asks %s over UDP without EDNS: not truncated:\n%s", scenario.BigName, udp)
	}
	if got := strings.Fields(dig(ctx, t, n.PCA, "+notcp", "+noedns", "+short", scenario.BigName)); len(got) != scenario.BigRecords {
		t.Errorf("pc-a asks %s over UDP, retrying over TCP: %d addresses, want %d", scenario.BigName, len(got), scenario.BigRecords)
	}

	// Malformed questions (a byte, garbage, a header claiming two
	// questions it lacks) are answered FORMERR or dropped, and counted;
	// the gateway stays up.
	for _, junk := range []string{"\x00", strings.Repeat("\xff", 40), "\x12\x34\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00"} {
		if err := sendUDP(n.PCA, scenario.OfficeDNS+":53", junk); err != nil {
			t.Fatal(err)
		}
	}
	must(t, lab.Eventually(ctx, 5*time.Second, func() error {
		st, err := n.OfficeGW.Status(ctx)
		if err != nil {
			return err
		}
		if st.DNS == nil || st.DNS.Malformed < 3 {
			return fmt.Errorf("office-gw status dns %+v: no malformed question counted", st.DNS)
		}
		return nil
	}))
	if got := dig(ctx, t, n.PCA, "+short", scenario.DBName); got != scenario.HostAWire {
		t.Errorf("after malformed questions pc-a gets %q", got)
	}

	// doctor asks the forwarder and each site's resolver.
	out, code := doctorIn(t, ctx, n.OfficeGW)
	if row := tableRow(t, out, "dns forwarder "+scenario.OfficeDNS+":53"); !strings.Contains(row, "answers") || strings.Contains(row, "FAIL") {
		t.Errorf("doctor on office-gw (exit %d): %q", code, row)
	}
	for _, g := range []*scenario.Gateway{n.GWA, n.GWB} {
		out, _ := doctorIn(t, ctx, g)
		if row := tableRow(t, out, "site "+g.SiteName+" resolver "+scenario.SiteDNS+":53"); !strings.Contains(row, "answers for corp.internal") || strings.Contains(row, "FAIL") {
			t.Errorf("doctor on %s: %q", g.Name, row)
		}
	}

	// Latency: a cold question (a name not cached: asked of the site through
	// the tunnel), a warm one, and the site's resolver asked directly
	// through the tunnel by the transparent member, for the difference.
	var cold, warm []string
	for i := range 20 {
		cold, warm = append(cold, fmt.Sprintf("h%d.corp.internal.", i)), append(warm, scenario.DBName+".")
	}
	tCold := medianQuery(t, n.PCA, scenario.OfficeDNS+":53", cold)
	tWarm := medianQuery(t, n.PCA, scenario.OfficeDNS+":53", warm)
	tDirect := medianQuery(t, n.PCT, scenario.SiteDNS+":53", cold)
	t.Logf("question latency, medians of 20: cold through the forwarder %v, warm %v; the site's resolver asked directly through the tunnel %v: a cold question adds %v",
		tCold, tWarm, tDirect, tCold-tDirect)

	st, err := n.OfficeGW.Status(ctx)
	must(t, err)
	d := st.DNS
	t.Logf("office-gw dns: %d questions, %d records rewritten, %d refused, %d malformed, %d upstream errors, %d cache hits, %d cached; zones %v; %v",
		d.Queries, d.Rewritten, d.Refused, d.Malformed, d.UpstreamErrors, d.CacheHits, d.CacheEntries, d.Zones, d.Conflicts)
	if d.Rewritten < 3 || d.Refused < 3 || d.UpstreamErrors != 0 ||
		!slices.Contains(d.Zones, "corp.internal. (alpha via gw-a)") || !slices.Contains(d.Zones, "corp.internal. (beta via gw-b)") ||
		!slices.ContainsFunc(d.Conflicts, func(c string) bool { return strings.Contains(c, "alpha") && strings.Contains(c, "beta") }) {
		t.Errorf("office-gw status dns: %+v", d)
	}
}

// dig runs dig in ns against the office gateway's forwarder.
func dig(ctx context.Context, t *testing.T, ns *lab.NS, args ...string) string {
	t.Helper()
	out, err := ns.Exec(ctx, append([]string{"dig", "@" + scenario.OfficeDNS, "+time=2", "+tries=1"}, args...)...)
	if err != nil {
		t.Fatalf("%s: dig %v: %v\n%s", ns, args, err, out)
	}
	return strings.TrimSpace(out)
}

// connectByName opens a TCP connection from ns to name, as a user's program
// does: bash resolves it through the C library and the namespace's
// resolv.conf (the office forwarder); the server end in host must see it.
func connectByName(ctx context.Context, ns, host *lab.NS, name string) error {
	var ln net.Listener
	if err := host.Do(func() (err error) {
		ln, err = net.Listen("tcp4", "0.0.0.0:0")
		return err
	}); err != nil {
		return err
	}
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	if out, err := ns.Exec(ctx, "timeout", "5", "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", name, port)); err != nil {
		return fmt.Errorf("connect to %s: %v %s", name, err, out)
	}
	select {
	case err := <-accepted:
		return err
	case <-time.After(5 * time.Second):
		return fmt.Errorf("connected to %s, but %s saw nothing", name, host)
	}
}

// medianQuery asks server each name once from ns (A, over UDP) and returns
// the median round trip; every question must be answered.
func medianQuery(t *testing.T, ns *lab.NS, server string, names []string) time.Duration {
	t.Helper()
	var times []time.Duration
	c := &dns.Client{Timeout: 2 * time.Second}
	for _, name := range names {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		err := ns.Do(func() error {
			_, rtt, err := c.Exchange(m, server) // an IP literal: dialled on this thread, in ns
			times = append(times, rtt)
			return err
		})
		if err != nil {
			t.Fatalf("%s asks %s of %s: %v", ns, name, server, err)
		}
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// reverseName is the in-addr.arpa name of an IPv4 address, fully qualified.
func reverseName(addr string) string {
	o := strings.Split(addr, ".")
	return o[3] + "." + o[2] + "." + o[1] + "." + o[0] + ".in-addr.arpa."
}

// sendUDP sends one datagram from ns to addr.
func sendUDP(ns *lab.NS, addr, payload string) error {
	return ns.Do(func() error {
		c, err := net.Dial("udp4", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte(payload))
		return err
	})
}
