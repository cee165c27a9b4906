package configs

import (
	"encoding"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// schemaField is a field of the TOML schema, found by its path without
// array indices (site.export.cidr).
type schemaField struct {
	typ   reflect.Type // the element type for arrays, the pointee for pointers
	array bool
}

// schema is derived from the Config struct tags, so it cannot drift from
// what the decoder accepts.
var schema = walkSchema(reflect.TypeFor[Config](), "", map[string]schemaField{"": {typ: reflect.TypeFor[Config]()}})

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func walkSchema(t reflect.Type, path string, out map[string]schemaField) map[string]schemaField {
	for i := range t.NumField() {
		name := tomlName(t.Field(i))
		if name == "" {
			continue
		}
		p := joinKey(path, name)
		f := schemaField{typ: t.Field(i).Type}
		if f.typ.Kind() == reflect.Slice {
			f = schemaField{typ: f.typ.Elem(), array: true}
		}
		if f.typ.Kind() == reflect.Pointer { // optional: *bool, *int
			f.typ = f.typ.Elem()
		}
		out[p] = f
		if f.isTable() {
			walkSchema(f.typ, p, out)
		}
	}
	return out
}

func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func (f schemaField) isText() bool {
	return reflect.PointerTo(f.typ).Implements(textUnmarshaler)
}

func (f schemaField) isTable() bool {
	return f.typ.Kind() == reflect.Struct && !f.isText()
}

// trimIndices strips the trailing array indices of a field and counts
// them: peer[0].prefixes[2] → peer[0].prefixes, 1.
func trimIndices(field string) (string, int) {
	depth := 0
	for strings.HasSuffix(field, "]") {
		i := strings.LastIndexByte(field, '[')
		if i < 0 {
			break
		}
		field, depth = field[:i], depth+1
	}
	return field, depth
}

// generic strips array indices from a field path: site[1].cidrs[0] →
// site.cidrs.
func generic(field string) string {
	var b strings.Builder
	depth := 0
	for _, r := range field {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// typeErrors checks every value's TOML type against the schema before
// decoding, because go-toml reports some mismatches badly: one on an array
// at 1:1 (arrays carry no range), one on an address written as a number at
// no position at all.
func (ix *index) typeErrors() []problem {
	var probs []problem
	for field, kind := range ix.kinds {
		want, what, ok := expect(field)
		switch {
		case !ok || kind == want || kind == unstable.Table && want == unstable.InlineTable:
		case kind == unstable.Table && want == unstable.Array: // [site] for [[site]]
			probs = append(probs, problem{field: field, at: ix.at[field],
				msg: "expected an array of tables: write [[" + generic(field) + "]]"})
		default:
			probs = append(probs, problem{field: field, at: ix.at[field],
				msg: "expected " + what + ", got a TOML " + tomlKind(kind)})
		}
	}
	slices.SortFunc(probs, func(a, b problem) int { return a.at - b.at })
	return probs
}

// expect is the kind of value the schema wants at field, and its
// description; ok is false where the schema says nothing (unknown keys are
// go-toml's to report, and no field is an array of arrays).
func expect(field string) (kind unstable.Kind, what string, ok bool) {
	base, depth := trimIndices(field)
	f, ok := schema[generic(base)]
	switch {
	case !ok || depth > 1 || depth == 1 && !f.array:
		return 0, "", false
	case f.array && depth == 0:
		return unstable.Array, "an array", true
	case f.isText():
		return unstable.String, textKind(f.typ), true
	case f.isTable():
		return unstable.InlineTable, "a table", true
	}
	switch f.typ.Kind() {
	case reflect.String:
		return unstable.String, "a string", true
	case reflect.Int:
		return unstable.Integer, "an integer", true
	case reflect.Bool:
		return unstable.Bool, "true or false", true
	}
	return 0, "", false
}

func textKind(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[netip.Addr]():
		return "an IP address string"
	case reflect.TypeFor[netip.Prefix]():
		return "a CIDR string"
	}
	return "a string"
}

// tomlKind names a kind of value as go-toml's own messages do.
func tomlKind(k unstable.Kind) string {
	names := map[unstable.Kind]string{
		unstable.Bool:          "boolean",
		unstable.InlineTable:   "table",
		unstable.LocalDate:     "local date",
		unstable.LocalTime:     "local time",
		unstable.LocalDateTime: "local date-time",
		unstable.DateTime:      "date-time",
	}
	if n, ok := names[k]; ok {
		return n
	}
	return strings.ToLower(k.String())
}
