package configs

import (
	"strings"
	"testing"
)

// Decoding problems come with the position go-toml reports, named by the
// index with array indices.
func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name  string
		edits []string
		want  []want
	}{
		{"unknown top-level key", []string{"version = 1", "versio = 1"},
			// the misspelt key, and the key it was meant to be
			[]want{{"1:1: versio: ", "unknown key; did you mean version?"}, {"1:1: version: ", "required"}}},
		{"unknown key in [node]", []string{"mtu = 0", "mtuu = 0"}, []want{{"7:1: node.mtuu: ", "unknown key; did you mean mtu?"}}},
		{"unknown key in [[site.export]]", []string{`project = "beta"`, `projekt = "beta"`},
			[]want{{"25:1: site[0].export[1].projekt: ", "unknown key; did you mean project?"}, {"24:1: site[0].export[1].project: ", "required"}}},
		{"unknown key without suggestion", []string{"mtu = 0", "colour = 0"}, []want{{"7:1: node.colour: ", "unknown key"}}},
		{"unknown table", []string{"[[site.member]]", "[[site.members]]"},
			[]want{{"27:3: site[0].members[0]: ", "unknown table; did you mean member?"}}},
		{"type error", []string{"listen_port = 51820", `listen_port = "x"`}, []want{{"5:15: node.listen_port: ", "expected an integer, got a TOML string"}}},
		{"bool for string", []string{`interface = "vpcmesh0"`, "interface = true"}, []want{{"6:13: node.interface: ", "expected a string, got a TOML boolean"}}},
		{"bad CIDR", []string{`"10.1.0.0/24"]`, `"10.0.0.0/33"]`},
			[]want{{"18:25: site[0].cidrs[1]: ", `invalid CIDR "10.0.0.0/33": prefix length out of range`}}},
		{"bad address", []string{`"100.96.0.1"`, `"100.96.0"`}, []want{{"8:19: node.overlay_address: ", `invalid IP address "100.96.0"`}}},
		{"number for a CIDR", []string{`"10.2.0.0/24",`, `24,`}, []want{{"38:13: peer[0].prefixes[0]: ", "expected a CIDR string, got a TOML integer"}}},
		{"number for an address", []string{`"100.96.0.1"`, `1`}, []want{{"8:19: node.overlay_address: ", "expected an IP address string, got a TOML integer"}}},
		{"array for an integer", []string{"mtu = 0", "mtu = [0]"}, []want{{"7:7: node.mtu: ", "expected an integer, got a TOML array"}}},
		{"table for an array", []string{`join = ["seed.example.com:51820", "203.0.113.1:51820"]`, `join = { a = "x" }`},
			[]want{{"15:8: mesh.join: ", "expected an array, got a TOML table"}}},
		{"[table] for an array of tables", []string{"[[site.member]]", "[site.member]"},
			[]want{{"27:1: site[0].member: ", "expected an array of tables: write [[site.member]]"}}},
		{"string for an array", []string{`cidrs = ["172.16.0.0/24"]`, `cidrs = "172.16.0.0/24"`}, []want{{"33:9: site[1].cidrs: ", "expected an array"}}},
		{"duplicate key", []string{"mtu = 0", `name = "gw2"`}, []want{{"7:1: node.name: ", "already defined"}}},
		{"syntax error", []string{`name = "gw"`, `name = "gw`}, []want{{"3:11: node.name: ", "basic strings cannot have new lines"}}},
		{"redefined table", []string{"[[peer]]\nname = \"branch\"", "[node]\nname = \"branch\""}, []want{{"39:2: node: ", "already exists"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("base.toml", []byte(edit(t, c.edits...)))
			expectErrors(t, err, c.want...)
		})
	}
}

// Values of the wrong type are reported together with every other
// problem; what follows from a value that did not decode (a site without
// cidrs, an export outside it) is not reported again.
func TestDecodeErrorsAllAtOnce(t *testing.T) {
	doc := edit(t,
		"listen_port = 51820", `listen_port = "x"`,
		"mtu = 0", "mtuu = 0",
		`cidrs = ["10.0.0.0/24",`, `cidrs = ["10.0.0.0/33",`,
		`name = "branch"`, `name = "Branch"`,
		`"10.2.0.0/24",`, `true,`,
	)
	_, err := Parse("base.toml", []byte(doc))
	expectErrors(t, err,
		want{"5:15: node.listen_port: ", "expected an integer"},
		want{"7:1: node.mtuu: ", "unknown key"},
		want{"18:10: site[0].cidrs[0]: ", "prefix length out of range"},
		want{"38:13: peer[0].prefixes[0]: ", "expected a CIDR string, got a TOML boolean"},
		want{"40:8: peer[1].name: ", "not a valid name"},
	)
}

// Strings in error messages stay on one line whatever the file holds.
func TestErrorsStayOnOneLine(t *testing.T) {
	doc := edit(t, `name = "gw"`, `name = "g\nw"`, "mtu = 0", `"a\nb" = 1`)
	_, err := Parse("base.toml", []byte(doc))
	expectErrors(t, err,
		want{"3:8: node.name: ", `"g\nw" is not a valid name`},
		want{"7:1: node.\"a\\nb\": ", "unknown key"},
	)
}

func TestDecodeErrorsLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("version = 1\n")
	for range 2 * maxDecodeErrors {
		b.WriteString("version = 1\n") // each a duplicate key
	}
	_, err := Parse("dup.toml", []byte(b.String()))
	if n := strings.Count(err.Error(), "\n") + 1; n != maxDecodeErrors {
		t.Errorf("%d errors, want the first %d", n, maxDecodeErrors)
	}
}
