package mesh

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// dashboardFile is the Grafana dashboard docs/guides/operating.md points at.
const dashboardFile = "../docs/grafana-dashboard.json"

// exportedMetrics are the metric names the gateway's /metrics serves:
// its collector's descriptions, and what the Go and process collectors
// give, set up as MetricsHandler sets them up.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		// Describe reads no gateway state.
		(*collector)(nil).Describe(ch)
		close(ch)
	}()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no fqName in %s", d)
		}
		names[m[1]] = true
	}
	if len(names) < 10 {
		t.Fatalf("the collector describes only %d metrics: %v", len(names), names)
	}
	reg := prometheus.NewRegistry()
	live := collectors.WithGoCollectorRuntimeMetrics(collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})
	reg.MustRegister(collectors.NewGoCollector(live), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		name := mf.GetName()
		names[name] = true
		// Summaries and histograms are queried by their series.
		for _, s := range []string{"_sum", "_count", "_bucket"} {
			names[name+s] = true
		}
	}
	return names
}

// dashboardQueries are the PromQL expressions of the dashboard's panels
// (nested rows too) and its template variables' queries, each named by
// where it is.
func dashboardQueries(data []byte) (map[string]string, error) {
	type target struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	}
	type panel struct {
		Title   string   `json:"title"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out[fmt.Sprintf("panel %q target %s", p.Title, t.RefID)] = t.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		// A string, or {"query": "..."}.
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q.Query); err != nil {
			if err := json.Unmarshal(v.Query, &q); err != nil {
				return nil, fmt.Errorf("variable %s: %w", v.Name, err)
			}
		}
		// label_values(metric, label), query_result(expr), metrics(re) ...
		m := regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*$`).FindStringSubmatch(q.Query)
		if m != nil {
			out["variable "+v.Name] = m[1]
		} else if e, ok := strings.CutPrefix(strings.TrimSpace(q.Query), "query_result("); ok {
			out["variable "+v.Name] = strings.TrimSuffix(e, ")")
		}
	}
	return out, nil
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promGrafana  = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\[\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true}
)

// metricNames are the metric names a PromQL expression reads: what is
// left once strings, Grafana variables, label matchers, ranges, grouping
// clauses, function calls and keywords are taken out.
func metricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promGrafana.ReplaceAllString(e, "1")
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, m := range promIdent.FindAllStringIndex(e, -1) {
		tok := e[m[0]:m[1]]
		if strings.HasSuffix(tok, "(") || promKeywords[strings.ToLower(tok)] {
			continue // a function or an aggregation, or a keyword
		}
		// The exponent of a number such as 1e3, or a duration's unit.
		if m[0] > 0 && (e[m[0]-1] >= '0' && e[m[0]-1] <= '9' || e[m[0]-1] == '.') {
			continue
		}
		out = append(out, tok)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// unknownMetrics checks a dashboard against the exported names: the
// metrics its queries read that the gateway does not export, and the
// queries that read no metric at all.
func unknownMetrics(data []byte, exported map[string]bool) (unknown []string, empty []string, err error) {
	qs, err := dashboardQueries(data)
	if err != nil {
		return nil, nil, err
	}
	if len(qs) == 0 {
		return nil, nil, fmt.Errorf("no queries in the dashboard")
	}
	for where, q := range qs {
		names := metricNames(q)
		if len(names) == 0 {
			empty = append(empty, fmt.Sprintf("%s: %q", where, q))
		}
		for _, n := range names {
			if !exported[n] {
				unknown = append(unknown, fmt.Sprintf("%s: %s (in %q)", where, n, q))
			}
		}
	}
	slices.Sort(unknown)
	slices.Sort(empty)
	return unknown, empty, nil
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`vpcmesh_peers`, []string{"vpcmesh_peers"}},
		{`sum by (instance, reason) (rate(vpcmesh_control_dropped_total{instance=~"$instance", reason!="x y"}[$__rate_interval]))`,
			[]string{"vpcmesh_control_dropped_total"}},
		{`time() - vpcmesh_peer_last_handshake_timestamp_seconds{instance=~"${instance:regex}"}`,
			[]string{"vpcmesh_peer_last_handshake_timestamp_seconds"}},
		{`(vpcmesh_certificate_expiry_timestamp_seconds - time()) / 86400 > 1e3`,
			[]string{"vpcmesh_certificate_expiry_timestamp_seconds"}},
		{`vpcmesh_peer_up * on (instance) group_left (peer) vpcmesh_status_up offset 5m`,
			[]string{"vpcmesh_peer_up", "vpcmesh_status_up"}},
		{`histogram_quantile(0.9, sum without (le) (rate(go_gc_duration_seconds_bucket[5m])))`,
			[]string{"go_gc_duration_seconds_bucket"}},
		{`{__name__="vpcmesh_peers"}`, nil},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%s) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// Every metric the dashboard's panels query is one the gateway exports,
// and every query reads one.
func TestDashboardMetricsExported(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	exported := exportedMetrics(t)
	unknown, empty, err := unknownMetrics(data, exported)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range unknown {
		t.Errorf("the gateway does not export %s", u)
	}
	for _, e := range empty {
		t.Errorf("query reads no metric: %s", e)
	}
	// The panels cover what docs/guides/operating.md lists.
	qs, _ := dashboardQueries(data)
	used := map[string]bool{}
	for _, q := range qs {
		for _, n := range metricNames(q) {
			used[n] = true
		}
	}
	for _, want := range []string{"vpcmesh_peer_up", "vpcmesh_peer_last_handshake_timestamp_seconds", "vpcmesh_peer_receive_bytes_total",
		"vpcmesh_peer_transmit_bytes_total", "vpcmesh_packets_total", "vpcmesh_routes", "vpcmesh_gossip_members",
		"vpcmesh_gossip_refused_records_total", "vpcmesh_control_dropped_total", "vpcmesh_ha_active", "vpcmesh_ha_failovers_total",
		"vpcmesh_relay_packets_total", "vpcmesh_certificate_expiry_timestamp_seconds"} {
		if !used[want] {
			t.Errorf("no panel queries %s", want)
		}
	}

	// The check can fail: a copy with a made-up metric in one panel.
	var d map[string]any
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	target := d["panels"].([]any)[0].(map[string]any)["targets"].([]any)[0].(map[string]any)
	target["expr"] = target["expr"].(string) + " + vpcmesh_made_up_total"
	bad, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "dashboard.json")
	if err := os.WriteFile(tmp, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	bad, err = os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	unknown, _, err = unknownMetrics(bad, exported)
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) != 1 || !strings.Contains(unknown[0], "vpcmesh_made_up_total") {
		t.Errorf("a made-up metric in a copy: unknown = %q, want vpcmesh_made_up_total alone", unknown)
	}
}
