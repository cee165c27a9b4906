package main

import (
	"fmt"
	"io"
	"slices"
)

// median of xs; 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// report prints the table of medians and the ratio vpcmesh / reference
// wireguard-go with its verdict.
func report(w io.Writer, res *result, o options) {
	fmt.Fprintf(w, "\none TCP stream, %d s per run, Gbit/s received\n", o.Seconds)
	fmt.Fprintf(w, "%-28s %8s %8s %8s %6s\n", "leg", "median", "min", "max", "runs")
	for _, lg := range res.legs {
		v := lg.values()
		if len(v) == 0 {
			what := "no traffic"
			if lg.err != nil {
				what = "not set up: " + firstLine(lg.err.Error())
			}
			fmt.Fprintf(w, "%-28s %8s %8s %8s %3d/%-2d %s\n", lg.name, "-", "-", "-", 0, o.Rounds, what)
			continue
		}
		fmt.Fprintf(w, "%-28s %8.3f %8.3f %8.3f %3d/%-2d\n", lg.name, median(v)/1e9,
			slices.Min(v)/1e9, slices.Max(v)/1e9, len(v), o.Rounds)
	}
	fmt.Fprintln(w)
	for _, lg := range res.legs {
		if lg.note != "" {
			fmt.Fprintf(w, "  %s: %s\n", lg.name, lg.note)
		}
	}

	vm, ref := res.leg(legVPCMesh), res.leg(legRefWG)
	if vm.median() == 0 || ref.median() == 0 {
		fmt.Fprintf(w, "\nratio vpcmesh / reference wireguard-go: not measured\n")
		return
	}
	ratio := vm.median() / ref.median()
	fmt.Fprintf(w, "\nratio vpcmesh / reference wireguard-go: %.3f (medians)", ratio)
	// Paired per round: the two legs ran within seconds of each other.
	var perRound []float64
	for i := range min(len(vm.runs), len(ref.runs)) {
		a, b := vm.runs[i], ref.runs[i]
		if a.err == nil && b.err == nil && a.bps > 0 && b.bps > 0 {
			perRound = append(perRound, a.bps/b.bps)
		}
	}
	if len(perRound) > 1 {
		fmt.Fprintf(w, ", %.3f (median of the %d per-round ratios, %.3f…%.3f)", median(perRound),
			len(perRound), slices.Min(perRound), slices.Max(perRound))
	}
	fmt.Fprintln(w)
	switch {
	case ratio >= ratioTarget:
		fmt.Fprintf(w, "verdict: meets the target (≥ %.2f)\n", ratioTarget)
	case ratio >= ratioFloor:
		fmt.Fprintf(w, "verdict: below the target %.2f, above the floor %.2f\n", ratioTarget, ratioFloor)
	default:
		fmt.Fprintf(w, "verdict: BELOW THE FLOOR %.2f (target %.2f)\n", ratioFloor, ratioTarget)
	}
}

// leg finds a leg by name.
func (r *result) leg(name string) *leg {
	for _, lg := range r.legs {
		if lg.name == name {
			return lg
		}
	}
	return &leg{name: name}
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
