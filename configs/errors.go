package configs

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// FieldError is one problem in a config file. Line and Col point at the
// offending value, or at the header of the table that lacks a required key
// (1:1 for the top level).
type FieldError struct {
	File      string
	Line, Col int
	Field     string // e.g. site[0].export[1].mapped; empty for TOML syntax errors outside a key/value
	Msg       string
}

// Error is "FILE:LINE:COL: FIELD: MSG", always one line.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Col, e.Field, e.Msg)
}

// problem is a FieldError before its position is known: validation speaks
// in field paths, and the index turns them into lines and columns.
type problem struct {
	field string
	at    int // byte offset in the file, or -1 to look field up
	msg   string
}

func fieldProblem(field, format string, args ...any) problem {
	return problem{field: field, at: -1, msg: fmt.Sprintf(format, args...)}
}

// report turns problems into one error: FieldErrors sorted by position,
// joined.
func report(file string, ix *index, probs []problem) error {
	errs := located(file, ix, probs)
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return errors.Join(joined...)
}

// located places problems in the file, sorted by position; nil for none.
func located(file string, ix *index, probs []problem) []*FieldError {
	if len(probs) == 0 {
		return nil
	}
	errs := make([]*FieldError, 0, len(probs))
	for _, p := range probs {
		errs = append(errs, fieldError(file, ix, p))
	}
	slices.SortStableFunc(errs, func(a, b *FieldError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return errs
}

func fieldError(file string, ix *index, p problem) *FieldError {
	at := p.at
	if at < 0 {
		at = ix.offsetOf(p.field)
	}
	line, col := ix.lineCol(at)
	return &FieldError{File: file, Line: line, Col: col, Field: oneLine(p.field), Msg: oneLine(p.msg)}
}

// oneLine keeps every error on its own line, whatever the file contains.
func oneLine(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

// syntaxProblem locates a TOML syntax error reported by the parser.
func syntaxProblem(ix *index, err error) problem {
	var perr *unstable.ParserError
	if !errors.As(err, &perr) {
		return problem{at: 0, msg: err.Error()}
	}
	at := ix.sliceOffset(perr.Highlight)
	field := joinKeys(perr.Key)
	if field == "" {
		field = ix.syntaxField(at)
	}
	return problem{field: field, at: at, msg: perr.Message}
}

// without drops problems about fields whose value did not decode: that
// value was reported already, and its absence would be reported again.
func without(probs []problem, blanked []string) []problem {
	return slices.DeleteFunc(probs, func(p problem) bool {
		return slices.ContainsFunc(blanked, func(f string) bool { return within(p.field, f) })
	})
}

// within says whether field is path or lies under it.
func within(field, path string) bool {
	rest, ok := strings.CutPrefix(field, path)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}
