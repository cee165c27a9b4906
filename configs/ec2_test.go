package configs

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// ec2Section is appended to base, whose last line is peer[1]'s keepalive:
// [ec2] starts at line 44.
const ec2Section = `[ec2]
mode = "on"
route_tables = ["rtb-0123456789abcdef0", "rtb-12345678"]
subnets = ["subnet-0fedcba9876543210"]
join_tag = "vpcmesh=acme"
endpoint = "https://ec2.eu-west-1.amazonaws.com"
imds_endpoint = "http://127.0.0.1:8080"
`

func withEC2(t *testing.T, edits ...string) string {
	t.Helper()
	doc := edit(t, "persistent_keepalive = 0\n", "persistent_keepalive = 0\n"+ec2Section)
	for i := 0; i < len(edits); i += 2 {
		if n := strings.Count(doc, edits[i]); n != 1 {
			t.Fatalf("%q occurs %d times", edits[i], n)
		}
		doc = strings.Replace(doc, edits[i], edits[i+1], 1)
	}
	return doc
}

func TestEC2Section(t *testing.T) {
	cfg, err := Parse("base.toml", []byte(withEC2(t)))
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.EC2
	if e.Mode != EC2On || !slices.Equal(e.RouteTables, []string{"rtb-0123456789abcdef0", "rtb-12345678"}) ||
		!slices.Equal(e.Subnets, []string{"subnet-0fedcba9876543210"}) || e.JoinTag != "vpcmesh=acme" ||
		e.Endpoint != "https://ec2.eu-west-1.amazonaws.com" || e.IMDSEndpoint != "http://127.0.0.1:8080" {
		t.Errorf("ec2 = %+v", e)
	}
}

func TestEC2Defaults(t *testing.T) {
	cfg, err := Parse("base.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.EC2.Mode != EC2Auto || cfg.EC2.RouteTables != nil || cfg.EC2.Endpoint != "" {
		t.Errorf("ec2 defaults = %+v", cfg.EC2)
	}
}

func TestEC2Validation(t *testing.T) {
	cases := []struct {
		name  string
		edits []string
		want  []want
	}{
		{"mode off", []string{`"on"`, `"off"`}, nil},
		{"mode auto", []string{`"on"`, `"auto"`}, nil},
		{"mode unknown", []string{`"on"`, `"yes"`}, []want{{"45:8: ec2.mode: ", `"yes" is not a mode: auto`}}},
		{"mode empty", []string{`"on"`, `""`}, []want{{"45:8: ec2.mode: ", `"" is not a mode`}}},
		{"mode not a string", []string{`"on"`, `true`}, []want{{"45:8: ec2.mode: ", "expected a string, got a TOML boolean"}}},
		{"route table bad prefix", []string{`"rtb-12345678"`, `"rt-12345678"`},
			[]want{{"46:42: ec2.route_tables[1]: ", `"rt-12345678" is not a route table id: rtb- and 8 or 17 hex digits`}}},
		{"route table upper case", []string{`"rtb-12345678"`, `"rtb-1234567A"`}, []want{{"46:42: ec2.route_tables[1]: ", "not a route table id"}}},
		{"route table short", []string{`"rtb-12345678"`, `"rtb-1234567"`}, []want{{"46:42: ec2.route_tables[1]: ", "not a route table id"}}},
		{"route table duplicate", []string{`"rtb-12345678"`, `"rtb-0123456789abcdef0"`},
			[]want{{"46:42: ec2.route_tables[1]: ", `duplicate route table "rtb-0123456789abcdef0", also at ec2.route_tables[0]`}}},
		{"route tables not an array", []string{`["rtb-0123456789abcdef0", "rtb-12345678"]`, `"rtb-12345678"`},
			[]want{{"46:16: ec2.route_tables: ", "expected an array"}}},
		{"subnet given a route table", []string{`"subnet-0fedcba9876543210"`, `"rtb-0fedcba9876543210"`},
			[]want{{"47:12: ec2.subnets[0]: ", `"rtb-0fedcba9876543210" is not a subnet id: subnet- and 8 or 17 hex digits`}}},
		{"join tag without value", []string{`"vpcmesh=acme"`, `"vpcmesh"`}, []want{{"48:12: ec2.join_tag: ", `"vpcmesh" is not key=value`}}},
		{"join tag empty key", []string{`"vpcmesh=acme"`, `"=acme"`}, []want{{"48:12: ec2.join_tag: ", "not key=value"}}},
		{"join tag empty value", []string{`"vpcmesh=acme"`, `"vpcmesh="`}, nil},
		{"join tag aws prefix", []string{`"vpcmesh=acme"`, `"aws:cloudformation:stack-name=x"`}, []want{{"48:12: ec2.join_tag: ", "reserved to AWS"}}},
		{"endpoint without scheme", []string{`"https://ec2.eu-west-1.amazonaws.com"`, `"ec2.eu-west-1.amazonaws.com"`},
			[]want{{"49:12: ec2.endpoint: ", `"ec2.eu-west-1.amazonaws.com" is not an http:// or https:// URL with a host`}}},
		{"endpoint with query", []string{`"https://ec2.eu-west-1.amazonaws.com"`, `"https://ec2.example.com/?x=1"`},
			[]want{{"49:12: ec2.endpoint: ", "no user, query or fragment"}}},
		{"endpoint not a URL", []string{`"https://ec2.eu-west-1.amazonaws.com"`, `"http://[::1"`}, []want{{"49:12: ec2.endpoint: ", "is not a URL"}}},
		{"imds endpoint ftp", []string{`"http://127.0.0.1:8080"`, `"ftp://127.0.0.1"`}, []want{{"50:17: ec2.imds_endpoint: ", "not an http:// or https:// URL"}}},
		{"unknown key", []string{`join_tag = `, `join_tags = `}, []want{{"48:1: ec2.join_tags: ", "unknown key; did you mean join_tag?"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("base.toml", []byte(withEC2(t, c.edits...)))
			expectErrors(t, err, c.want...)
		})
	}
}

// The commented [ec2] section of the VPC example is valid once uncommented.
func TestExampleEC2Section(t *testing.T) {
	data, err := os.ReadFile("examples/vpc-gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "# [ec2]\n")
	if !ok {
		t.Fatal("no commented [ec2] section in the example")
	}
	doc := string(data) + "[ec2]\n"
	for _, l := range strings.Split(section, "\n") {
		if k, ok := strings.CutPrefix(l, "# "); ok && strings.Contains(k, " = ") {
			doc += k + "\n"
		}
	}
	cfg, err := Parse("vpc-gateway.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.EC2.Mode != EC2Auto || len(cfg.EC2.RouteTables) != 1 || len(cfg.EC2.Subnets) != 1 || cfg.EC2.JoinTag == "" || cfg.EC2.Endpoint == "" {
		t.Errorf("uncommented example: %+v", cfg.EC2)
	}
}
