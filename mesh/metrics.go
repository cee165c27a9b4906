package mesh

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// Metrics are read from Status at scrape time, so they never drift from
// what `vpcmesh status` shows and cost nothing between scrapes.

var (
	descPeers     = prometheus.NewDesc("vpcmesh_peers", "WireGuard peers configured.", nil, nil)
	descPeerUp    = prometheus.NewDesc("vpcmesh_peer_up", "1 when the peer's last handshake is recent enough to carry traffic (under 180 s).", []string{"peer"}, nil)
	descHandshake = prometheus.NewDesc("vpcmesh_peer_last_handshake_timestamp_seconds", "Time of the peer's last completed handshake.", []string{"peer"}, nil)
	descRx        = prometheus.NewDesc("vpcmesh_peer_receive_bytes_total", "Bytes received from the peer.", []string{"peer"}, nil)
	descTx        = prometheus.NewDesc("vpcmesh_peer_transmit_bytes_total", "Bytes sent to the peer.", []string{"peer"}, nil)
	descPackets   = prometheus.NewDesc("vpcmesh_packets_total", "Packets through the packet path, by direction (outbound: site to mesh) and verdict.", []string{"direction", "verdict"}, nil)
	descRoutes    = prometheus.NewDesc("vpcmesh_routes", "vpcmesh routes in the kernel.", nil, nil)
	descMembers   = prometheus.NewDesc("vpcmesh_gossip_members", "Other live gateways with a verified record.", nil, nil)
	descRefused   = prometheus.NewDesc("vpcmesh_gossip_refused_records_total", "Records and admissions refused, by reason.", []string{"reason"}, nil)
	descDropped   = prometheus.NewDesc("vpcmesh_control_dropped_total", "Control packets dropped before any signature work, and relayed packets from no relay of ours, by reason.", []string{"reason"}, nil)
	descConflicts = prometheus.NewDesc("vpcmesh_conflicts", "Announcements refused or overruled because they overlap another site's.", nil, nil)
	descCertExp   = prometheus.NewDesc("vpcmesh_certificate_expiry_timestamp_seconds", "When this gateway's certificate expires (gossip mode).", nil, nil)
	descAuthExp   = prometheus.NewDesc("vpcmesh_authority_expiry_timestamp_seconds", "When the project authority that signed this gateway's certificate expires.", []string{"authority"}, nil)
	descUp        = prometheus.NewDesc("vpcmesh_status_up", "1 when the last scrape could read the device and the kernel.", nil, nil)
	descFailovers = prometheus.NewDesc("vpcmesh_ha_failovers_total", "Changes of the member carrying an HA site, seen from here.", []string{"site"}, nil)
	descHAActive  = prometheus.NewDesc("vpcmesh_ha_active", "1 for the member carrying each HA site.", []string{"site", "gateway"}, nil)
	descVirtual   = prometheus.NewDesc("vpcmesh_virtual_address_held", "1 while this gateway holds its site's floating address (site.virtual_address).", []string{"site", "address"}, nil)
	descProbes    = prometheus.NewDesc("vpcmesh_health_probes_total", "Health probes through the tunnels, sent and answered.", []string{"result"}, nil)
	descDNS       = prometheus.NewDesc("vpcmesh_dns_questions_total", "Members' DNS questions by outcome, and records rewritten into wire prefixes.", []string{"result"}, nil)
	descPath      = prometheus.NewDesc("vpcmesh_peer_path", "1 for the path the tunnel to the peer takes: direct, or relayed via a gateway.", []string{"peer", "path", "via"}, nil)
	descRelayed   = prometheus.NewDesc("vpcmesh_relay_packets_total", "Tunnel packets this relay was asked to forward for others, by result.", []string{"result"}, nil)
	descBuildInfo = prometheus.NewDesc("vpcmesh_build_info", "Always 1: the gateway binary's version and the Go version that built it.", []string{"version", "goversion"}, nil)
)

// MetricsHandler serves the gateway's metrics in Prometheus format, with
// the Go runtime's and the process's.
func (g *Gateway) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	// The live heap after the last GC, beside the MemStats set: what the
	// gateway holds, without the garbage a busy packet path makes.
	live := collectors.WithGoCollectorRuntimeMetrics(collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})
	reg.MustRegister((*collector)(g), collectors.NewGoCollector(live), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// ServeMetrics serves h at /metrics on ln until ln is closed. webConfig
// is a Prometheus exporter-toolkit web config file (node.metrics_web_config:
// TLS, basic auth), or "" for plain HTTP. The toolkit reads the file again
// for each connection and request, so a new certificate or password needs
// no restart. It logs where it listens and whether TLS is on.
func ServeMetrics(ln net.Listener, h http.Handler, webConfig string, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	// Failed TLS handshakes are anyone's to cause: debug level.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	err := web.Serve(ln, srv, &web.FlagConfig{WebConfigFile: &webConfig}, log)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

type collector Gateway

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeers, descPeerUp, descHandshake, descRx, descTx, descPackets,
		descRoutes, descMembers, descRefused, descDropped, descConflicts, descCertExp, descUp, descFailovers, descHAActive, descVirtual, descProbes, descDNS, descPath, descRelayed, descAuthExp, descBuildInfo} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	g := (*Gateway)(c)
	ch <- gauge(descBuildInfo, 1, g.Version, runtime.Version())
	st, err := g.Status()
	if err != nil {
		ch <- gauge(descUp, 0)
		return
	}
	ch <- gauge(descUp, 1)
	ch <- gauge(descPeers, float64(len(st.Peers)))
	for _, p := range st.Peers {
		up := 0.0
		if p.LastHandshake != nil {
			ch <- gauge(descHandshake, float64(p.LastHandshake.Unix()), p.Name)
			if time.Since(*p.LastHandshake) < staleHandshake {
				up = 1
			}
		}
		ch <- gauge(descPeerUp, up, p.Name)
		ch <- gauge(descPath, 1, p.Name, p.Path, p.Via)
		ch <- counter(descRx, float64(p.RxBytes), p.Name)
		ch <- counter(descTx, float64(p.TxBytes), p.Name)
	}
	for _, d := range []struct {
		name string
		c    PacketCounters
	}{{"outbound", st.Packets.Outbound}, {"inbound", st.Packets.Inbound}} {
		ch <- counter(descPackets, float64(d.c.Passed), d.name, "passed")
		ch <- counter(descPackets, float64(d.c.DroppedACL), d.name, "dropped_acl")
		ch <- counter(descPackets, float64(d.c.DroppedNoRoute), d.name, "dropped_no_route")
		ch <- counter(descPackets, float64(d.c.DroppedInvalid), d.name, "dropped_invalid")
	}
	if r := st.Relay; r != nil {
		ch <- counter(descRelayed, float64(r.Forwarded), "forwarded")
		ch <- counter(descRelayed, float64(r.Refused), "refused")
	}
	ch <- gauge(descRoutes, float64(len(st.Routes)))
	ch <- gauge(descConflicts, float64(len(st.Conflicts)))
	for _, h := range st.HA {
		ch <- counter(descFailovers, float64(h.Failovers), h.Site)
		if h.Active != "" {
			ch <- gauge(descHAActive, 1, h.Site, h.Active)
		}
	}
	if h := st.Health; h != nil {
		ch <- counter(descProbes, float64(h.ProbesSent), "sent")
		ch <- counter(descProbes, float64(h.Replies), "answered")
	}
	if d := st.DNS; d != nil {
		for result, n := range map[string]uint64{"asked": d.Queries, "rewritten_records": d.Rewritten, "refused": d.Refused,
			"malformed": d.Malformed, "upstream_error": d.UpstreamErrors, "cache_hit": d.CacheHits, "for_other_gateways": d.SiteQueries} {
			ch <- counter(descDNS, float64(n), result)
		}
	}
	for _, v := range st.Virtual {
		held := 0.0
		if v.Held {
			held = 1
		}
		ch <- gauge(descVirtual, held, v.Site, v.Address)
	}
	if st.Gossip != nil {
		ch <- gauge(descMembers, float64(len(st.Gossip.Members)))
		for reason, n := range st.Gossip.Refused {
			ch <- counter(descRefused, float64(n), reason)
		}
		for reason, n := range st.Gossip.Dropped {
			ch <- counter(descDropped, float64(n), reason)
		}
	}
	if m := g.members; m != nil {
		ch <- gauge(descCertExp, float64(m.id.Leaf().Body.NotAfter.Unix()))
		for _, c := range m.id.Chain[1:] {
			ch <- gauge(descAuthExp, float64(c.Body.NotAfter.Unix()), c.Body.Name)
		}
	}
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}
