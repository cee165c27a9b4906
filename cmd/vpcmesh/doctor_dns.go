package main

// The names: `doctor` asks the forwarder and each site's resolver one
// question, as a member and as the gateway would.

import (
	"context"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/routing/doctor"
)

// dnsChecks are one check per dns.listen address and per site resolver
// that answers exported zones.
func dnsChecks(cfg *configs.Config) []doctor.Check {
	var checks []doctor.Check
	for _, l := range cfg.DNS.Listen {
		checks = append(checks, func(ctx context.Context) doctor.Finding {
			f := doctor.Finding{Name: "dns forwarder " + l}
			r, err := askOnce(ctx, l, ".", dns.TypeSOA)
			if err != nil {
				f.State = "no answer: " + err.Error()
				f.Fix = "is the gateway running (systemctl status vpcmesh)? its log says why dns.listen could not be opened"
				return f
			}
			// From this machine, which is no member, REFUSED is the right answer.
			f.OK, f.State = true, "answers ("+dns.RcodeToString[r.Rcode]+" to this machine)"
			return f
		})
	}
	for _, s := range cfg.Sites {
		zone := ""
		for _, e := range s.Exports {
			if len(e.DNSZones) > 0 && zone == "" {
				zone = e.DNSZones[0]
			}
		}
		if zone == "" {
			continue
		}
		resolver := cfg.SiteResolver(s)
		checks = append(checks, func(ctx context.Context) doctor.Finding {
			f := doctor.Finding{Name: "site " + s.Name + " resolver " + resolver}
			r, err := askOnce(ctx, resolver, zone, dns.TypeSOA)
			switch {
			case err != nil:
				f.State = "no answer: " + err.Error()
				f.Fix = "check site.resolver, and that the resolver accepts questions from this gateway"
			case r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError:
				f.State = fmt.Sprintf("answers %s for %s", dns.RcodeToString[r.Rcode], zone)
				f.Fix = "the resolver must answer the zones of site.export.dns_zones"
			default:
				f.OK, f.State = true, fmt.Sprintf("answers for %s (%s)", zone, dns.RcodeToString[r.Rcode])
			}
			return f
		})
	}
	return checks
}

// askOnce asks server one question over UDP, within 2 s.
func askOnce(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).ExchangeContext(ctx, m, server)
	return r, err
}
