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

// report prints the table of medians, every leg's ratios to the reference
// wireguard-go, and the ratio vpcmesh / reference wireguard-go with its
// verdict.
func report(w io.Writer, res *result, o options) {
	fmt.Fprintf(w, "\none TCP stream, %s per run, Gbit/s received; CPU seconds of the two tunnel processes per GiB received\n", o.perRun())
	fmt.Fprintf(w, "%-28s %8s %8s %8s %6s %10s %8s %8s\n", "leg", "median", "min", "max", "runs", "CPU-s/GiB", "min", "max")
	for _, lg := range res.legs {
		v := lg.values()
		if len(v) == 0 {
			what := "no traffic"
			if lg.skipped {
				what = "skipped: " + firstLine(lg.err.Error())
			} else if lg.err != nil {
				what = "not set up: " + firstLine(lg.err.Error())
			}
			fmt.Fprintf(w, "%-28s %8s %8s %8s %3d/%-2d %s\n", lg.name, "-", "-", "-", 0, o.Rounds, what)
			continue
		}
		fmt.Fprintf(w, "%-28s %8.3f %8.3f %8.3f %3d/%-2d", lg.name, median(v)/1e9,
			slices.Min(v)/1e9, slices.Max(v)/1e9, len(v), o.Rounds)
		if c := lg.costs(); len(c) > 0 {
			fmt.Fprintf(w, " %10.2f %8.2f %8.2f", median(c), slices.Min(c), slices.Max(c))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	for _, lg := range res.legs {
		if lg.note != "" {
			fmt.Fprintf(w, "  %s: %s\n", lg.name, lg.note)
		}
	}

	ref := res.leg(legRefWG)
	ratioTable(w, res, ref)
	for _, name := range []string{legVPCMesh, legVPCMeshPlain, legVPCMeshVs} {
		vm := res.leg(name)
		if vm == nil {
			continue
		}
		fmt.Fprintf(w, "\nratio %s / %s: ", name, legRefWG)
		if ref == nil || vm.median() == 0 || ref.median() == 0 {
			fmt.Fprintln(w, "not measured")
			continue
		}
		ratio := vm.median() / ref.median()
		fmt.Fprintf(w, "%.3f (medians)", ratio)
		// Paired per round: the two legs ran within seconds of each other.
		if pr := perRoundRatios(vm, ref); len(pr) > 1 {
			fmt.Fprintf(w, ", %.3f (median of the %d per-round ratios, %.3f…%.3f)", median(pr),
				len(pr), slices.Min(pr), slices.Max(pr))
		}
		fmt.Fprintln(w)
		if vc, rc := median(vm.costs()), median(ref.costs()); vc > 0 && rc > 0 {
			fmt.Fprintf(w, "CPU per GiB %s / %s: %.3f (medians)", name, legRefWG, vc/rc)
			if pr := perRoundCostRatios(vm, ref); len(pr) > 1 {
				fmt.Fprintf(w, ", %.3f (median of the %d per-round ratios, %.3f…%.3f)", median(pr), len(pr), slices.Min(pr), slices.Max(pr))
			}
			fmt.Fprintln(w)
		}
		if name != legVPCMesh {
			continue
		}
		switch {
		case ratio >= ratioTarget:
			fmt.Fprintf(w, "verdict: meets the target (≥ %.2f)\n", ratioTarget)
		case ratio >= ratioFloor:
			fmt.Fprintf(w, "verdict: below the target %.2f, above the floor %.2f\n", ratioTarget, ratioFloor)
		default:
			fmt.Fprintf(w, "verdict: BELOW THE FLOOR %.2f (target %.2f)\n", ratioFloor, ratioTarget)
		}
	}
}

// ratioTable prints, for every leg, its medians and their ratios to the
// reference wireguard-go's, each with the median of the per-round ratios
// in brackets (the legs of a round ran within seconds of each other).
func ratioTable(w io.Writer, res *result, ref *leg) {
	fmt.Fprintf(w, "\nagainst %s: medians, and ratios of the medians (median of the per-round ratios)\n", legRefWG)
	fmt.Fprintf(w, "%-28s %8s %10s %18s %18s\n", "leg", "Gbit/s", "CPU-s/GiB", "Gbit/s ratio", "CPU-s/GiB ratio")
	refBps, refCost := 0.0, 0.0
	if ref != nil {
		refBps, refCost = ref.median(), median(ref.costs())
	}
	for _, lg := range res.legs {
		bps, cost := lg.median(), median(lg.costs())
		if bps == 0 {
			continue // the table above says why
		}
		costCell := fmt.Sprintf("%10s", "-")
		if cost > 0 {
			costCell = fmt.Sprintf("%10.2f", cost)
		}
		bpsRatio, costRatio := "-", "-"
		if ref != nil {
			bpsRatio = ratioCell(bps, refBps, perRoundRatios(lg, ref))
			costRatio = ratioCell(cost, refCost, perRoundCostRatios(lg, ref))
		}
		fmt.Fprintf(w, "%-28s %8.3f %s %18s %18s\n", lg.name, bps/1e9, costCell, bpsRatio, costRatio)
	}
	if ref == nil || refBps == 0 {
		fmt.Fprintf(w, "(no ratios: %s not measured)\n", legRefWG)
	}
}

// ratioCell is a / b and the median of the per-round ratios pr; "-" when
// either is not measured.
func ratioCell(a, b float64, pr []float64) string {
	if a <= 0 || b <= 0 {
		return "-"
	}
	if len(pr) == 0 {
		return fmt.Sprintf("%.3f", a/b)
	}
	return fmt.Sprintf("%.3f (%.3f)", a/b, median(pr))
}

// perRoundRatios divides a's run by b's in every round where both carried
// traffic. Both legs ran in every round, so their runs line up.
func perRoundRatios(a, b *leg) []float64 {
	var rs []float64
	for i := range min(len(a.runs), len(b.runs)) {
		x, y := a.runs[i], b.runs[i]
		if x.err == nil && y.err == nil && x.bps > 0 && y.bps > 0 {
			rs = append(rs, x.bps/y.bps)
		}
	}
	return rs
}

// perRoundCostRatios divides a's CPU per GiB by b's in every round where
// both were measured.
func perRoundCostRatios(a, b *leg) []float64 {
	var rs []float64
	for i := range min(len(a.runs), len(b.runs)) {
		if x, y := a.runs[i].cpuPerGiB(), b.runs[i].cpuPerGiB(); x > 0 && y > 0 {
			rs = append(rs, x/y)
		}
	}
	return rs
}

// costs are the leg's CPU seconds per GiB, one per measured run.
func (lg *leg) costs() []float64 {
	var out []float64
	for _, r := range lg.runs {
		if c := r.cpuPerGiB(); c > 0 {
			out = append(out, c)
		}
	}
	return out
}

// leg finds a leg by name; nil when it was not chosen.
func (r *result) leg(name string) *leg {
	for _, lg := range r.legs {
		if lg.name == name {
			return lg
		}
	}
	return nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
