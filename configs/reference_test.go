package configs

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// REFERENCE.md documents exactly the keys the decoder accepts, one well
// formed table row each.
func TestReferenceMatchesSchema(t *testing.T) {
	doc, err := os.ReadFile("REFERENCE.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkReference(string(doc)) {
		t.Error(err)
	}
}

// The checker fails on a broken row: a copy of REFERENCE.md with one row
// replaced by something else is refused, naming the line.
func TestReferenceCheckerRefusesBrokenRows(t *testing.T) {
	doc, err := os.ReadFile("REFERENCE.md")
	if err != nil {
		t.Fatal(err)
	}
	row := "| `site.export` |"
	i := strings.Index(string(doc), row)
	if i < 0 {
		t.Fatal("REFERENCE.md has no site.export row")
	}
	end := i + strings.IndexByte(string(doc[i:]), '\n')
	line := strings.Count(string(doc[:i]), "\n") + 1
	for _, broken := range []string{
		"X",                                   // the defect once shipped
		"",                                    // a table cut in two
		"| `site.export` | table array | — |", // a cell missing
		"| `site.export` | table array | — | | ",   // an empty meaning
		"| site.export | table array | — | what |", // key not in backquotes
		"| `site.exports` | table array | — | what |",
		"`site.export` | table array | — | what |",
	} {
		t.Run(broken, func(t *testing.T) {
			copied := string(doc[:i]) + broken + string(doc[end:])
			errs := checkReference(copied)
			if len(errs) == 0 {
				t.Fatalf("row %q passes", broken)
			}
			if want := fmt.Sprintf("REFERENCE.md:%d:", line); !slices.ContainsFunc(errs, func(e error) bool { return strings.HasPrefix(e.Error(), want) }) {
				t.Errorf("errors %v, want one at %s", errs, want)
			}
		})
	}
	if errs := checkReference(string(doc)); len(errs) > 0 {
		t.Errorf("the file itself: %v", errs)
	}
}

var (
	referenceHeader = regexp.MustCompile(`^\| key \| type \| default \| meaning \|$`)
	referenceRule   = regexp.MustCompile(`^\|(---\|){4}$`)
	referenceRow    = regexp.MustCompile("^\\| `([a-z0-9_.]+)` \\| ([^|]*[^| ][^|]*) \\| ([^|]*[^| ][^|]*) \\| (.*[^| ].*) \\|$")
)

// checkReference checks a REFERENCE.md: every table is a header, a rule
// and rows of | `key` | type | default | meaning |, each key known to the
// decoder and documented once; every key of the schema but the sections
// (headings) is documented. A line inside a table that is not such a row,
// and a table row outside a table, are errors.
func checkReference(doc string) []error {
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("REFERENCE.md:%d: %s", line, fmt.Sprintf(format, args...)))
	}
	documented := map[string]int{}
	lines := strings.Split(doc, "\n")
	tableEnd := func(i int) bool { // a table ends at the next heading
		for ; i < len(lines); i++ {
			if strings.HasPrefix(lines[i], "|") {
				return false
			}
			if strings.HasPrefix(lines[i], "#") {
				return true
			}
		}
		return true
	}
	inTable := false
	for i := 0; i < len(lines); i++ {
		n, l := i+1, lines[i]
		switch {
		case referenceHeader.MatchString(l):
			if i+1 >= len(lines) || !referenceRule.MatchString(lines[i+1]) {
				bad(n+1, "a table header must be followed by |---|---|---|---|")
			}
			i++
			inTable = true
			continue
		case !inTable && strings.HasPrefix(l, "|"):
			bad(n, "a table row outside a table: %q", l)
			continue
		case !inTable:
			continue
		case strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#"):
			if !tableEnd(i) { // more rows follow: the table is cut in two
				bad(n, "a line that is not a row inside a table: %q", l)
				continue
			}
			inTable = false
			continue
		}
		m := referenceRow.FindStringSubmatch(l)
		if m == nil {
			bad(n, "not a row | `key` | type | default | meaning |: %q", l)
			continue
		}
		key := m[1]
		if _, ok := schema[key]; !ok || key == "" {
			bad(n, "documents %s, which the decoder does not accept", key)
		}
		if prev, ok := documented[key]; ok {
			bad(n, "documents %s again (line %d)", key, prev)
		}
		documented[key] = n
	}
	var missing []string
	for key, f := range schema {
		if key == "" || f.isTable() && !strings.Contains(key, ".") { // sections are headings
			continue
		}
		if _, ok := documented[key]; !ok {
			missing = append(missing, key)
		}
	}
	slices.Sort(missing)
	for _, key := range missing {
		errs = append(errs, fmt.Errorf("REFERENCE.md does not document %s", key))
	}
	return errs
}
