package configs

import (
	"testing"
)

// TOML syntax errors name the key being parsed, found from the line that
// starts the broken key/value and the table it is under, with array
// indices; where no key is being parsed (a broken header) they name none.
func TestSyntaxErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name  string
		edits []string
		want  want
	}{
		{"unterminated string", []string{`name = "gw"`, `name = "gw`}, want{"3:11: node.name: ", "basic strings cannot have new lines"}},
		{"second array table", []string{`name = "dmz"`, `name = "dmz`}, want{"32:12: site[1].name: ", "basic strings cannot have new lines"}},
		{"nested array table", []string{`project = "beta"`, `project = beta`}, want{"25:11: site[0].export[1].project: ", ""}},
		{"bare address in an array", []string{`cidrs = ["172.16.0.0/24"]`, `cidrs = [172.16.0.0/24]`}, want{"33:16: site[1].cidrs: ", ""}},
		{"multi-line array", []string{`prefixes = ["10.2.0.0/24", "100.96.0.2/32"]`, "prefixes = [\n  \"10.2.0.0/24\",\n  # the overlay\n  \"100.96.0.2/32,\n]"},
			want{"41:18: peer[0].prefixes: ", "basic strings cannot have new lines"}},
		{"missing value", []string{"mtu = 0", "mtu ="}, want{"7:6: node.mtu: ", ""}},
		{"no equals sign", []string{"mtu = 0", "mtu 0"}, want{"7:5: node.mtu: ", "expected '=' after key"}},
		{"after comments and blank lines", []string{"[mesh]\n", "[mesh]\n# the mesh\n\n  # its name\n"}, want{"15:13: mesh.name: ", ""}},
		{"dotted key at the top", []string{"version = 1\n", "version = 1\nnode.mtu = 1\"\n"}, want{"2:13: node.mtu: ", ""}},
		{"quoted key", []string{"mtu = 0", `"mtu" = 0x`}, want{"7:9: node.mtu: ", ""}},
		{"broken header", []string{"[mesh]", "[mesh"}, want{"11:6: ", "expected ']'"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := edit(t, c.edits...)
			if c.name == "after comments and blank lines" {
				doc = edit(t, c.edits[0], c.edits[1], `name = "acme"`, `name = "acme`)
			}
			_, err := Parse("base.toml", []byte(doc))
			expectErrors(t, err, c.want)
		})
	}
}
