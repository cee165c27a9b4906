// Package doctor runs checks of what a gateway needs from its machine and
// its cloud, and prints each finding with the exact fix. It knows no check
// itself: `vpcmesh doctor` lists the local ones, and a cloud package adds
// its own by appending a Check, e.g.
//
//	d.Checks = append(d.Checks, ec2.SourceDestCheck(cfg))
//
// This package imports nothing of the project, so any package can.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Finding is the result of one check.
type Finding struct {
	Name  string `json:"name"`          // what was checked, e.g. "ip forwarding"
	OK    bool   `json:"ok"`            // false fails the doctor run
	State string `json:"state"`         // what was found, e.g. "off (net.ipv4.ip_forward=0)"
	Fix   string `json:"fix,omitempty"` // the exact command or change; empty when OK
}

// Check looks at one thing and changes nothing. It returns when ctx ends,
// with a failed Finding saying so.
type Check func(ctx context.Context) Finding

// Doctor is an ordered list of checks.
type Doctor struct{ Checks []Check }

// Report is every finding of a run, in the order of the checks.
type Report struct {
	Findings []Finding `json:"findings"`
	Failed   int       `json:"failed"`
}

// Run runs the checks one after the other.
func (d Doctor) Run(ctx context.Context) Report {
	r := Report{Findings: make([]Finding, 0, len(d.Checks))}
	for _, c := range d.Checks {
		f := c(ctx)
		if !f.OK {
			r.Failed++
		}
		r.Findings = append(r.Findings, f)
	}
	return r
}

// Err is nil when every check passed, else says how many failed.
func (r Report) Err() error {
	if r.Failed == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d checks failed", r.Failed, len(r.Findings))
}

// WriteTable prints one row per finding (CHECK, RESULT, STATE, FIX) and a
// summary line.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tSTATE\tFIX")
	for _, f := range r.Findings {
		res := "ok"
		if !f.OK {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(f.Name), res, cell(f.State), cell(f.Fix))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	summary := fmt.Sprintf("all %d checks passed", len(r.Findings))
	if err := r.Err(); err != nil {
		summary = err.Error()
	}
	_, err := fmt.Fprintf(w, "\n%s\n", summary)
	return err
}

// WriteJSON prints the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// cell keeps a table row on one line.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Join(strings.Fields(s), " ")
}
