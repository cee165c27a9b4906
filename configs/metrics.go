package configs

import (
	"net"
	"net/netip"
	"os"
	"path"
	"strings"

	"github.com/prometheus/exporter-toolkit/web"
)

// webConfig checks the metrics listener's web config file as the listener
// will read it, with the Prometheus exporter toolkit: the YAML, the TLS
// certificate and key it names, the bcrypt hashes of its users.
func (c *checker) webConfig(field, p string) {
	if p == "" || !path.IsAbs(p) { // a relative path is reported already
		return
	}
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		c.add(field, "%v", err)
	case !fi.Mode().IsRegular():
		c.add(field, "%s is not a regular file", p)
	default:
		if err := web.Validate(p); err != nil {
			// YAML errors come on several lines.
			c.add(field, "%s: %s", p, strings.Join(strings.Fields(err.Error()), " "))
		}
	}
}

// warnings are what a valid config allows but should not.
func warnings(cfg *Config) []problem {
	var w []problem
	if n := cfg.Node; n.MetricsListen != "" && n.MetricsWebConfig == "" && !loopback(n.MetricsListen) {
		w = append(w, fieldProblem("node.metrics_listen",
			"warning: %s is not a loopback address and node.metrics_web_config is not set: whoever reaches it reads the metrics over plain HTTP, without a password; listen on 127.0.0.1 or set node.metrics_web_config (TLS, basic auth)",
			n.MetricsListen))
	}
	return append(w, memberWarnings(cfg)...)
}

// loopback says whether a valid host:port listens on loopback only. A DNS
// name other than localhost may resolve to anything.
func loopback(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
