package configs

import (
	"bytes"
	"strconv"
)

// syntaxField names the key being parsed when the parser stopped with a
// syntax error at off, which go-toml does not say: the key that starts the
// first line after the last expression parsed (blank lines and comments
// skipped), under the current table. An error on the last expression's own
// line (after its value) is its key's; on a table header, or where the key
// itself does not parse, the field is the current table (empty at the top).
func (ix *index) syntaxField(off int) string {
	start := 0
	if ix.lastEnd >= 0 {
		start = ix.lineEnd(ix.lastEnd) + 1
	}
	if off < start {
		return ix.lastField
	}
	for start < len(ix.data) {
		end := ix.lineEnd(start)
		line := bytes.TrimLeft(ix.data[start:end], " \t")
		if len(line) > 0 && line[0] != '#' && line[0] != '\r' {
			break
		}
		start = end + 1
	}
	if start >= len(ix.data) || off < start {
		return ""
	}
	line := bytes.TrimLeft(ix.data[start:ix.lineEnd(start)], " \t")
	if line[0] == '[' {
		return ""
	}
	keys, ok := keyPrefix(line)
	if !ok {
		return ix.table
	}
	path := ix.table
	for _, k := range keys {
		path = joinKey(path, k)
	}
	return path
}

// lineEnd is the offset of the newline ending the line at off, or the end
// of the data.
func (ix *index) lineEnd(off int) int {
	off = min(max(off, 0), len(ix.data))
	if i := bytes.IndexByte(ix.data[off:], '\n'); i >= 0 {
		return off + i
	}
	return len(ix.data)
}

// keyPrefix reads the (possibly dotted, possibly quoted) key a line
// starts with; ok is false when it does not start with a key followed by
// '=', blanks, or the end of the line.
func keyPrefix(line []byte) (keys []string, ok bool) {
	i := 0
	blanks := func() {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
	}
	for {
		blanks()
		if i >= len(line) {
			return nil, false
		}
		switch c := line[i]; {
		case c == '"':
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(line) {
				return nil, false
			}
			k, err := strconv.Unquote(string(line[i : j+1]))
			if err != nil {
				return nil, false
			}
			keys, i = append(keys, k), j+1
		case c == '\'':
			j := bytes.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, false
			}
			keys, i = append(keys, string(line[i+1:i+1+j])), i+j+2
		default:
			j := i
			for j < len(line) && isBareKeyByte(line[j]) {
				j++
			}
			if j == i {
				return nil, false
			}
			keys, i = append(keys, string(line[i:j])), j
		}
		blanks()
		if i < len(line) && line[i] == '.' {
			i++
			continue
		}
		return keys, i >= len(line) || line[i] == '=' || line[i] == '\r' || line[i-1] == ' ' || line[i-1] == '\t'
	}
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
