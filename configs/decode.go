package configs

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// maxDecodeErrors bounds how many values go-toml rejects one run reports.
const maxDecodeErrors = 50

// decode strictly decodes data into a Config that starts from the node
// defaults. go-toml stops at the first value of the wrong type; to report
// them all at once, the key/value at fault is blanked out and decoding runs
// again. It returns the config (nil when decoding could not finish), the
// problems, and the fields that were blanked out.
func decode(data []byte, ix *index) (*Config, []problem, []string) {
	doc := bytes.Clone(data)
	typed := ix.typeErrors()
	probs := slices.Clip(typed)
	var blanked []string
	for _, p := range typed {
		blanked = ix.blankAt(doc, p.at, blanked)
	}
	for range maxDecodeErrors {
		cfg, err := decodeOnce(doc)
		var missing *toml.StrictMissingError
		var de *toml.DecodeError
		switch {
		case err == nil:
			return cfg, probs, blanked
		case errors.As(err, &missing): // before DecodeError: it unwraps to them
			return cfg, append(probs, unknownKeys(ix, missing)...), blanked
		case !errors.As(err, &de):
			return nil, append(probs, problem{at: 0, msg: err.Error()}), blanked
		}
		p := decodeProblem(ix, de)
		if !slices.ContainsFunc(typed, func(q problem) bool { return q.field == p.field }) {
			probs = append(probs, p) // else typeErrors said it first, and better
		}
		n := len(blanked)
		if blanked = ix.blankAt(doc, p.at, blanked); len(blanked) == n {
			return nil, probs, blanked // a table header at fault: nothing sane to go on with
		}
	}
	return nil, probs, blanked
}

// blankAt blanks out the top-level key/value around off, if there is one
// not blanked yet, and appends its field to blanked. Offset 0 is where
// go-toml puts errors it has no position for: nothing to blank there.
func (ix *index) blankAt(doc []byte, off int, blanked []string) []string {
	s, ok := ix.exprAt(off)
	if !ok || s.blanked || off == 0 {
		return blanked
	}
	for i := s.start; i < s.end; i++ {
		if doc[i] != '\n' { // keep every later position where it was
			doc[i] = ' '
		}
	}
	s.blanked = true
	return append(blanked, s.field)
}

func decodeOnce(doc []byte) (*Config, error) {
	cfg := &Config{Node: nodeDefaults(), EC2: EC2{Mode: EC2Auto}, DNS: DNS{CacheEntries: DefaultDNSCache}}
	dec := toml.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	return cfg, dec.Decode(cfg)
}

// decodeProblem places a go-toml error. Nothing valid can be wrong at
// offset 0, where go-toml puts errors it has no position for, so there it
// names the key only.
func decodeProblem(ix *index, de *toml.DecodeError) problem {
	off := ix.offset(de.Position())
	field := joinKeys(de.Key())
	if off > 0 {
		field = ix.fieldAt(off, de.Key())
	}
	return problem{field: field, at: off, msg: decodeMessage(de.Error())}
}

func unknownKeys(ix *index, missing *toml.StrictMissingError) []problem {
	probs := make([]problem, 0, len(missing.Errors))
	for i := range missing.Errors {
		e := &missing.Errors[i]
		off := ix.offset(e.Position())
		field := ix.fieldAt(off, e.Key())
		msg := "unknown key"
		if strings.Contains(e.Error(), "missing table") {
			msg = "unknown table"
		}
		if s := suggest(field); s != "" {
			msg += "; did you mean " + s + "?"
		}
		probs = append(probs, problem{field: field, at: off, msg: msg})
	}
	return probs
}

var badText = regexp.MustCompile(`^(?:netip\.)?Parse(Addr|Prefix)\((".*")\): (.+)$`)

// decodeMessage rewords go-toml's message for an address or CIDR that
// does not parse, which speaks of Go functions, in terms of the file.
// (Values of the wrong type never get here: see typeErrors.)
func decodeMessage(msg string) string {
	msg = strings.TrimPrefix(msg, "toml: ")
	if m := badText.FindStringSubmatch(msg); m != nil {
		what := map[string]string{"Addr": "IP address", "Prefix": "CIDR"}[m[1]]
		return fmt.Sprintf("invalid %s %s: %s", what, m[2], m[3])
	}
	return msg
}

// suggest is the key of field's table closest to the unknown key, if one
// is within two edits.
func suggest(field string) string {
	path := generic(field)
	table, key := "", path
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		table, key = path[:i], path[i+1:]
	}
	t, ok := schema[table]
	if !ok || !t.isTable() || len(key) > 64 {
		return ""
	}
	best, bestDist := "", 3
	for i := range t.typ.NumField() {
		name := tomlName(t.typ.Field(i))
		if d := editDistance(key, name); name != "" && d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
