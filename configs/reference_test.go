package configs

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// REFERENCE.md documents exactly the keys the decoder accepts.
func TestReferenceMatchesSchema(t *testing.T) {
	doc, err := os.ReadFile("REFERENCE.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_.]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		documented = append(documented, m[1])
	}
	for key, f := range schema {
		if key == "" || f.isTable() { // sections are headings
			continue
		}
		if !slices.Contains(documented, key) {
			t.Errorf("REFERENCE.md does not document %s", key)
		}
	}
	for _, key := range documented {
		if _, ok := schema[key]; !ok {
			t.Errorf("REFERENCE.md documents %s, which the decoder does not accept", key)
		}
	}
}
