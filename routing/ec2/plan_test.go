package ec2

import (
	"net/netip"
	"slices"
	"testing"
)

func TestPlan(t *testing.T) {
	p := netip.MustParsePrefix
	tr := func(table, dst string) TableRoute { return TableRoute{Table: table, Dst: p(dst)} }
	local := Route{Dst: p("10.0.0.0/16"), Target: "local"}
	owned := func(rs ...TableRoute) map[TableRoute]bool {
		m := map[TableRoute]bool{}
		for _, r := range rs {
			m[r] = true
		}
		return m
	}
	cases := []struct {
		name   string
		wanted []netip.Prefix
		tables []Table
		owned  map[TableRoute]bool
		active bool
		want   []Action
	}{
		{"create missing", prefixes("192.168.0.0/24", "100.100.1.0/24"), []Table{{ID: "rtb-a", Routes: []Route{local}}}, nil, true,
			[]Action{{Op: Create, TableRoute: tr("rtb-a", "100.100.1.0/24")}, {Op: Create, TableRoute: tr("rtb-a", "192.168.0.0/24")}}},
		{"standby creates nothing", prefixes("192.168.0.0/24"), []Table{{ID: "rtb-a"}}, nil, false, nil},
		{"in place", prefixes("192.168.0.0/24"), []Table{{ID: "rtb-a", Routes: []Route{{Dst: p("192.168.0.0/24"), Target: eni1}}}}, nil, true, nil},
		{"duplicates and host bits", []netip.Prefix{p("192.168.0.1/24"), p("192.168.0.0/24"), p("fd00::/64")}, []Table{{ID: "rtb-a"}}, nil, true,
			[]Action{{Op: Create, TableRoute: tr("rtb-a", "192.168.0.0/24")}}},
		{"foreign route is a conflict", prefixes("192.168.0.0/24"), []Table{{ID: "rtb-a", Routes: []Route{{Dst: p("192.168.0.0/24"), Target: "vgw-1"}}}}, nil, true,
			[]Action{{Op: Conflict, TableRoute: tr("rtb-a", "192.168.0.0/24"), Target: "vgw-1"}}},
		{"the VPC's own range is a conflict", prefixes("10.0.0.0/16"), []Table{{ID: "rtb-a", Routes: []Route{local}}}, nil, true,
			[]Action{{Op: Conflict, TableRoute: tr("rtb-a", "10.0.0.0/16"), Target: "local"}}},
		{"owned route elsewhere, active: replace", prefixes("192.168.0.0/24"), []Table{{ID: "rtb-a", Routes: []Route{{Dst: p("192.168.0.0/24"), Target: eni2}}}},
			owned(tr("rtb-a", "192.168.0.0/24")), true, []Action{{Op: Replace, TableRoute: tr("rtb-a", "192.168.0.0/24"), Target: eni2}}},
		{"owned route elsewhere, standby: leave", prefixes("192.168.0.0/24"), []Table{{ID: "rtb-a", Routes: []Route{{Dst: p("192.168.0.0/24"), Target: eni2}}}},
			owned(tr("rtb-a", "192.168.0.0/24")), false, nil},
		{"owned blackhole to self, active: replace", prefixes("192.168.0.0/24"), []Table{{ID: "rtb-a", Routes: []Route{{Dst: p("192.168.0.0/24"), Target: "eni-gone", Blackhole: true}}}},
			owned(tr("rtb-a", "192.168.0.0/24")), true, []Action{{Op: Replace, TableRoute: tr("rtb-a", "192.168.0.0/24"), Target: "eni-gone"}}},
		{"unwanted owned route: delete", nil, []Table{{ID: "rtb-a", Routes: []Route{local, {Dst: p("192.168.0.0/24"), Target: eni1}}}},
			owned(tr("rtb-a", "192.168.0.0/24")), false, []Action{{Op: Delete, TableRoute: tr("rtb-a", "192.168.0.0/24")}}},
		{"unwanted owned route gone: forget", nil, []Table{{ID: "rtb-a"}}, owned(tr("rtb-a", "192.168.0.0/24")), true,
			[]Action{{Op: Forget, TableRoute: tr("rtb-a", "192.168.0.0/24")}}},
		{"unwanted owned route taken over by a peer: forget", nil, []Table{{ID: "rtb-a", Routes: []Route{{Dst: p("192.168.0.0/24"), Target: eni2}}}},
			owned(tr("rtb-a", "192.168.0.0/24")), true, []Action{{Op: Forget, TableRoute: tr("rtb-a", "192.168.0.0/24"), Target: eni2}}},
		{"unwanted foreign route to us: untouched", nil, []Table{{ID: "rtb-a", Routes: []Route{{Dst: p("192.168.0.0/24"), Target: eni1}}}}, nil, true, nil},
		{"leftover table: only removals", prefixes("192.168.0.0/24"), []Table{{ID: "rtb-old", Leftover: true, Routes: []Route{{Dst: p("192.168.0.0/24"), Target: eni1}}}},
			owned(tr("rtb-old", "192.168.0.0/24")), true, []Action{{Op: Delete, TableRoute: tr("rtb-old", "192.168.0.0/24")}}},
		{"other tables' records stay", nil, []Table{{ID: "rtb-a"}}, owned(tr("rtb-b", "192.168.0.0/24")), true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Plan(c.wanted, eni1, c.tables, c.owned, c.active)
			if !slices.Equal(got, c.want) {
				t.Errorf("Plan =\n%v\nwant\n%v", got, c.want)
			}
		})
	}
}
