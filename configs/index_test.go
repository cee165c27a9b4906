package configs

import (
	"fmt"
	"strings"
	"testing"
)

// Every way TOML can spell a table or an array, and where its fields are.
const syntaxes = `version = 1
node.name = "gw"
node.overlay_address = "100.96.0.1"
mesh = { name = "acme", overlay_range = "100.96.0.0/16" }
[[site]]
name = "a"
cidrs = [
  "10.0.0.0/24",
  "10.1.0.0/24",
]
export = [{ project = "p", cidr = "10.0.0.0/24" }, { project = "q", cidr = "10.1.0.0/24", mapped = "100.100.1.0/25" }]
[[site]]
name = "b"
  [[site.export]]
  project = "r"
[[site.export]]
'project' = "s"
[[peer]]
name = "x"
prefixes = [ [ "nested" ], "10.9.0.0/24" ]
`

func TestIndexPositions(t *testing.T) {
	ix, err := newIndex([]byte(syntaxes))
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{
		"version":                   "1:11",
		"node":                      "2:1", // made by a dotted key
		"node.name":                 "2:13",
		"mesh":                      "4:8",
		"mesh.name":                 "4:17",
		"mesh.overlay_range":        "4:41",
		"site[0]":                   "5:1",
		"site[0].cidrs":             "7:9",
		"site[0].cidrs[1]":          "9:3",
		"site[0].export":            "11:10",
		"site[0].export[0].cidr":    "11:35",
		"site[0].export[1]":         "11:52",
		"site[0].export[1].mapped":  "11:100",
		"site[1].name":              "13:8",
		"site[1].export[0]":         "14:3",
		"site[1].export[0].project": "15:13",
		"site[1].export[1]":         "16:1",
		"site[1].export[1].project": "17:13", // a quoted key
		"peer[0].prefixes[0]":       "20:12", // a nested array has no position of its own
		"peer[0].prefixes[0][0]":    "20:16",
		"peer[0].prefixes[1]":       "20:28",
		// missing keys: the enclosing table, or the top of the file
		"site[1].export[0].cidr": "14:3",
		"peer[0].public_key":     "18:1",
		"mesh.mapped_pool":       "4:8",
		"node.listen_port":       "2:1",
		"site[0].priority":       "5:1",
		"nothing":                "1:1",
	} {
		line, col := ix.lineCol(ix.offsetOf(field))
		if got := fmt.Sprintf("%d:%d", line, col); got != want {
			t.Errorf("%s at %s, want %s", field, got, want)
		}
	}
	if ix.has("site[0].priority") || !ix.has("site[1].export[1].project") {
		t.Error("has() disagrees with the document")
	}
}

// Validation errors find their way back into inline tables and arrays.
func TestErrorsInInlineSyntax(t *testing.T) {
	_, err := Parse("inline.toml", []byte(syntaxes))
	want := strings.Join([]string{
		"inline.toml:2:1: node.private_key_file: required",
		"inline.toml:11:100: site[0].export[1].mapped: length /25 differs from cidr 10.1.0.0/24",
		"inline.toml:12:1: site[1].cidrs: at least one CIDR required: the site's networks",
		"inline.toml:14:3: site[1].export[0].cidr: required",
		"inline.toml:16:1: site[1].export[1].cidr: required",
		"inline.toml:18:1: peer[0].public_key: required",
		"inline.toml:20:12: peer[0].prefixes[0]: expected a CIDR string, got a TOML array",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

// Columns count bytes, as go-toml's do, and CRLF line ends change nothing.
func TestPositionsWithCRLFAndUnicode(t *testing.T) {
	doc := "version = 1\r\n[node]\r\nname = \"gw\" # née\r\nlisten_port = 0\r\n"
	_, err := Parse("crlf.toml", []byte(doc))
	want := "crlf.toml:4:15: node.listen_port: 0 is out of range"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("want %q in:\n%v", want, err)
	}
}
