package configs

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// index maps field paths such as site[1].export[0].mapped or
// peer[0].prefixes[2] to where they are in the file, and back, so that
// validation (which sees only decoded values) and go-toml's errors (which
// name keys without array indices) can both point at a line and column.
type index struct {
	data   []byte
	lines  []int                    // offset at which each line starts
	at     map[string]int           // field → offset of its value, or of its table's header
	field  map[int]string           // offset of a key or value → field
	kinds  map[string]unstable.Kind // what each value is, for typeErrors
	exprs  []span                   // top-level key/values, in file order
	arrays map[string]int           // [[array]] path → elements seen so far
	// Where parsing got to, to name the key of a syntax error: the
	// current table, the end of the last expression parsed (-1 for none)
	// and what it defined.
	table     string
	lastEnd   int
	lastField string
}

// span is a top-level key/value: decode blanks it out when its value has
// the wrong type, to go on and find the other errors.
type span struct {
	field      string
	start, end int
	blanked    bool
}

// newIndex parses data. On a syntax error it returns what it indexed so far
// along with the error.
func newIndex(data []byte) (*index, error) {
	ix := &index{
		data:    data,
		lines:   lineStarts(data),
		at:      map[string]int{},
		field:   map[int]string{},
		kinds:   map[string]unstable.Kind{},
		arrays:  map[string]int{},
		lastEnd: -1,
	}
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			ix.table = ix.header(e)
			ix.lastField = ix.table
			if it := e.Key(); it.Next() { // headers carry no range: their first key will do
				ix.lastEnd = int(it.Node().Raw.Offset)
			}
		case unstable.KeyValue:
			s := ix.keyValue(ix.table, e)
			ix.exprs = append(ix.exprs, s)
			ix.lastEnd, ix.lastField = s.end, s.field
		}
	}
	return ix, p.Error()
}

// header indexes [a.b] or [[a.b]] and returns the path it opens. As in TOML,
// a part naming an array of tables means its last element.
func (ix *index) header(e *unstable.Node) string {
	path, first := "", -1
	it := e.Key()
	for it.Next() {
		k := it.Node()
		if first < 0 {
			first = int(k.Raw.Offset)
		}
		path = joinKey(path, string(k.Data))
		n := ix.arrays[path]
		switch {
		case it.IsLast() && e.Kind == unstable.ArrayTable:
			ix.arrays[path] = n + 1
			path = indexed(path, n)
		case n > 0:
			path = indexed(path, n-1)
		}
		if !it.IsLast() {
			ix.note(path, int(k.Raw.Offset))
		}
	}
	ix.note(path, ix.headerStart(first))
	ix.name(first, path)
	if e.Kind == unstable.Table {
		ix.kind(path, unstable.Table)
	}
	return path
}

// keyValue indexes a (possibly dotted) key and its value under table.
func (ix *index) keyValue(table string, kv *unstable.Node) span {
	path := table
	it := kv.Key()
	for it.Next() {
		k := it.Node()
		path = joinKey(path, string(k.Data))
		if !it.IsLast() {
			ix.note(path, int(k.Raw.Offset)) // an implicit table
		}
	}
	start := int(kv.Raw.Offset)
	ix.name(start, path)
	ix.value(path, kv.Value(), ix.valueStart(kv))
	return span{field: path, start: start, end: start + int(kv.Raw.Length)}
}

// value indexes a value at off, and the elements of arrays and inline
// tables one by one.
func (ix *index) value(path string, v *unstable.Node, off int) {
	ix.note(path, off)
	ix.name(off, path)
	ix.kind(path, v.Kind)
	switch v.Kind {
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); i++ {
			c := it.Node()
			ix.value(indexed(path, i), c, nodeStart(c, off))
		}
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				ix.keyValue(path, c)
			}
		}
	}
}

// valueStart is where kv's value begins. Arrays carry no range in the AST,
// so for them it is found after the last key and the '='.
func (ix *index) valueStart(kv *unstable.Node) int {
	v := kv.Value()
	if v.Kind != unstable.Array {
		return int(v.Raw.Offset)
	}
	i := 0
	for it := kv.Key(); it.Next(); {
		r := it.Node().Raw
		i = int(r.Offset + r.Length)
	}
	i = ix.skipBlanks(i)
	if i < len(ix.data) && ix.data[i] == '=' {
		i = ix.skipBlanks(i + 1)
	}
	return i
}

// nodeStart is where an array element begins; a nested array has no range
// of its own and borrows its parent's.
func nodeStart(n *unstable.Node, parent int) int {
	if n.Kind == unstable.Array {
		return parent
	}
	return int(n.Raw.Offset)
}

func (ix *index) skipBlanks(i int) int {
	for i < len(ix.data) && (ix.data[i] == ' ' || ix.data[i] == '\t') {
		i++
	}
	return i
}

// headerStart backs up from a header's first key to its opening bracket.
func (ix *index) headerStart(key int) int {
	for key > 0 && (ix.data[key-1] == ' ' || ix.data[key-1] == '\t') {
		key--
	}
	for key > 0 && ix.data[key-1] == '[' {
		key--
	}
	return key
}

// note records the first place a field appears; TOML forbids a second
// definition and go-toml reports it.
func (ix *index) note(field string, off int) {
	if _, ok := ix.at[field]; !ok {
		ix.at[field] = off
	}
}

func (ix *index) name(off int, field string) {
	if _, ok := ix.field[off]; !ok {
		ix.field[off] = field
	}
}

// kind records what a field's value is, for typeErrors; a [table] header
// counts as Table.
func (ix *index) kind(field string, k unstable.Kind) {
	if _, ok := ix.kinds[field]; !ok {
		ix.kinds[field] = k
	}
}

func (ix *index) has(field string) bool {
	_, ok := ix.at[field]
	return ok
}

// offsetOf is where field is, or else where the nearest enclosing table
// is: a missing key is reported at the header of the table that lacks it.
func (ix *index) offsetOf(field string) int {
	for f := field; f != ""; f = parent(f) {
		if off, ok := ix.at[f]; ok {
			return off
		}
	}
	return 0
}

// parent strips the last part of a field: a.b[2] → a.b → a.
func parent(field string) string {
	if strings.HasSuffix(field, "]") {
		if i := strings.LastIndexByte(field, '['); i >= 0 {
			return field[:i]
		}
	}
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[:i]
	}
	return ""
}

// fieldAt names the key or value at off; fallback (go-toml's key, which
// lacks array indices) is used when nothing was indexed there.
func (ix *index) fieldAt(off int, fallback []string) string {
	if f, ok := ix.field[off]; ok {
		return f
	}
	return joinKeys(fallback)
}

// exprAt is the top-level key/value around off, if any.
func (ix *index) exprAt(off int) (*span, bool) {
	for i := range ix.exprs {
		if s := &ix.exprs[i]; s.start <= off && off < s.end {
			return s, true
		}
	}
	return nil, false
}

func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// lineCol turns a byte offset into a 1-based line and byte column, counted
// as go-toml counts them.
func (ix *index) lineCol(off int) (line, col int) {
	line = sort.Search(len(ix.lines), func(i int) bool { return ix.lines[i] > off })
	return line, off - ix.lines[line-1] + 1
}

// offset is the inverse of lineCol, for positions go-toml reports.
func (ix *index) offset(line, col int) int {
	if line < 1 || line > len(ix.lines) || col < 1 {
		return 0
	}
	return min(ix.lines[line-1]+col-1, len(ix.data))
}

// sliceOffset locates a subslice of the data (a parser error highlight).
func (ix *index) sliceOffset(b []byte) int {
	off := cap(ix.data) - cap(b)
	return max(0, min(off, len(ix.data)))
}

func indexed(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// joinKey appends a key part to a path, quoting parts that are not bare
// keys so a path stays readable and on one line.
func joinKey(path, key string) string {
	if !isBareKey(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinKeys(keys []string) string {
	path := ""
	for _, k := range keys {
		path = joinKey(path, k)
	}
	return path
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
