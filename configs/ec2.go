package configs

import (
	"fmt"
	"net/url"
	"strings"
)

// ec2 checks the [ec2] section. Ids are checked for their shape only:
// whether they exist is the EC2 API's to say, at run time.
func (c *checker) ec2(e *EC2) {
	switch e.Mode {
	case EC2Auto, EC2On, EC2Off:
	default:
		c.add("ec2.mode", "%q is not a mode: auto (use EC2 when IMDSv2 answers), on or off", e.Mode)
	}
	c.ec2IDs("ec2.route_tables", "rtb", "route table", e.RouteTables)
	c.ec2IDs("ec2.subnets", "subnet", "subnet", e.Subnets)
	if e.JoinTag != "" {
		if err := checkTag(e.JoinTag); err != nil {
			c.add("ec2.join_tag", "%v", err)
		}
	}
	c.url("ec2.endpoint", e.Endpoint)
	c.url("ec2.imds_endpoint", e.IMDSEndpoint)
}

func (c *checker) ec2IDs(field, kind, what string, ids []string) {
	seen := map[string]string{}
	for i, id := range ids {
		f := indexed(field, i)
		if !isEC2ID(id, kind) {
			c.add(f, "%q is not a %s id: %s- and 8 or 17 hex digits, e.g. %s-0123456789abcdef0", id, what, kind, kind)
			continue
		}
		c.unique(seen, f, id, what)
	}
}

// isEC2ID says whether s is kind-xxxxxxxx or kind-xxxxxxxxxxxxxxxxx, the
// two lengths of EC2 resource ids, in lower-case hex as EC2 prints them.
func isEC2ID(s, kind string) bool {
	hex, ok := strings.CutPrefix(s, kind+"-")
	if !ok || len(hex) != 8 && len(hex) != 17 {
		return false
	}
	return !strings.ContainsFunc(hex, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') })
}

// checkTag accepts key=value within EC2's tag limits; aws: keys are
// reserved to AWS and cannot be set on instances.
func checkTag(s string) error {
	key, value, ok := strings.Cut(s, "=")
	switch {
	case !ok || key == "":
		return fmt.Errorf("%q is not key=value, e.g. vpcmesh=acme", s)
	case len(key) > 128 || len(value) > 256:
		return fmt.Errorf("%q: a tag key has at most 128 characters, a value 256", s)
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		return fmt.Errorf("%q: tag keys starting with aws: are reserved to AWS", s)
	}
	return nil
}

// url checks an optional endpoint override: an absolute http(s) URL with
// a host and nothing after the path.
func (c *checker) url(field, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		c.add(field, "%q is not a URL", s)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		c.add(field, "%q is not an http:// or https:// URL with a host", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		c.add(field, "%q: no user, query or fragment in an endpoint URL", s)
	}
}
