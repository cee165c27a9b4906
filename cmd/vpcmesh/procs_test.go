package main

import "testing"

func TestGoProcs(t *testing.T) {
	for _, c := range []struct {
		available int
		env       string
		want      int
	}{
		{1, "", 1}, {2, "", 1}, {3, "", 2}, {4, "", 2}, {64, "", 32},
		{2, "2", 2}, {8, "1", 1},
		{2, "0", 1}, {4, "many", 2}, // not a count: as if unset
	} {
		if got := goProcs(c.available, c.env); got != c.want {
			t.Errorf("goProcs(%d, %q) = %d, want %d", c.available, c.env, got, c.want)
		}
	}
}
