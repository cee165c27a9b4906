package doctor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func fixed(f Finding) Check { return func(context.Context) Finding { return f } }

func TestRunCountsFailuresInOrder(t *testing.T) {
	var d Doctor
	d.Checks = append(d.Checks,
		fixed(Finding{Name: "a", OK: true, State: "fine"}),
		fixed(Finding{Name: "b", State: "broken", Fix: "mend b"}),
		fixed(Finding{Name: "c", State: "broken too", Fix: "mend c"}))
	r := d.Run(context.Background())
	if r.Failed != 2 || len(r.Findings) != 3 || r.Findings[1].Name != "b" {
		t.Fatalf("report = %+v", r)
	}
	if err := r.Err(); err == nil || err.Error() != "2 of 3 checks failed" {
		t.Errorf("Err = %v", err)
	}
	if err := (Doctor{}).Run(context.Background()).Err(); err != nil {
		t.Errorf("no checks: %v", err)
	}
}

func TestTableOneRowPerFinding(t *testing.T) {
	r := Doctor{Checks: []Check{
		fixed(Finding{Name: "ip forwarding", OK: true, State: "on"}),
		fixed(Finding{Name: "config", State: "invalid:\nline 1\tline 2", Fix: "vpcmesh check -c x"}),
	}}.Run(context.Background())
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := "CHECK          RESULT  STATE                   FIX\n" +
		"ip forwarding  ok      on                      -\n" +
		"config         FAIL    invalid: line 1 line 2  vpcmesh check -c x\n" +
		"\n1 of 2 checks failed\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	Doctor{Checks: []Check{fixed(Finding{Name: "x", OK: true})}}.Run(context.Background()).WriteTable(&b)
	if !strings.HasSuffix(b.String(), "\nall 1 checks passed\n") {
		t.Errorf("all-pass table:\n%s", b.String())
	}
}

func TestJSON(t *testing.T) {
	r := Doctor{Checks: []Check{fixed(Finding{Name: "tun", State: "missing", Fix: "modprobe tun"})}}.Run(context.Background())
	var b strings.Builder
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal([]byte(b.String()), &back); err != nil {
		t.Fatal(err)
	}
	if back.Failed != 1 || back.Findings[0] != r.Findings[0] {
		t.Errorf("round trip = %+v, want %+v", back, r)
	}
	if !strings.Contains(b.String(), `"fix": "modprobe tun"`) {
		t.Errorf("json:\n%s", b.String())
	}
}
