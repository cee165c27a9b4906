package mesh

import "testing"

func TestTunnelMTU(t *testing.T) {
	for _, c := range []struct{ configured, underlay, want int }{
		{1300, 9001, 1300}, // configured wins
		{0, 9001, 8921},
		{0, 1500, 1420},
		{0, 1300, 1280}, // never below IPv6's minimum
		{0, 0, 1420},    // no default route
	} {
		if got := TunnelMTU(c.configured, c.underlay); got != c.want {
			t.Errorf("TunnelMTU(%d, %d) = %d, want %d", c.configured, c.underlay, got, c.want)
		}
	}
}
