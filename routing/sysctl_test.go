package routing

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

// fakeSys writes a /proc/sys tree of the given dotted keys into a temporary
// directory.
func fakeSys(t *testing.T, values map[string]string) sysctls {
	t.Helper()
	s := sysctls{root: t.TempDir()}
	for k, v := range values {
		p := s.path(k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestRPFilterKeyAndPath(t *testing.T) {
	if got := RPFilterKey("eth0.100"); got != "net.ipv4.conf.eth0/100.rp_filter" {
		t.Errorf("RPFilterKey = %q", got)
	}
	s := sysctls{root: "/proc/sys"}
	if got := s.path(RPFilterKey("eth0.100")); got != "/proc/sys/net/ipv4/conf/eth0.100/rp_filter" {
		t.Errorf("path = %q", got)
	}
}

func TestEffectiveRPFilterIsTheLargerOfAllAndOwn(t *testing.T) {
	for _, c := range []struct {
		all, own int
		mode     string
	}{{0, 0, "off"}, {1, 0, "strict"}, {0, 1, "strict"}, {1, 2, "loose"}, {2, 0, "loose"}, {2, 1, "loose"}} {
		if got := (RPFilter{All: c.all, Own: c.own}).Mode(); got != c.mode {
			t.Errorf("all=%d own=%d: %s, want %s", c.all, c.own, got, c.mode)
		}
	}
}

func TestApplyChangesOnlyWhatIsNeeded(t *testing.T) {
	s := fakeSys(t, map[string]string{
		ForwardingKey:           "0",
		ICMPErrorsKey:           "1",
		RPFilterKey("all"):      "1",
		RPFilterKey("vpcmesh0"): "0", // off stays off
		RPFilterKey("eth0"):     "1",
		RPFilterKey("eth1"):     "2",
	})
	got, err := s.apply(prerequisites([]string{"vpcmesh0", "eth0", "eth1", "eth0"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{ForwardingKey, "0", "1"},
		{RPFilterKey("all"), "1", "2"},
		{RPFilterKey("eth0"), "1", "2"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes = %v, want %v", got, want)
	}
	if got[0].String() != "net.ipv4.ip_forward was 0, set 1" {
		t.Errorf("String = %q", got[0])
	}
	again, err := s.apply(prerequisites([]string{"vpcmesh0", "eth0", "eth1"}))
	if err != nil || len(again) != 0 {
		t.Errorf("second apply: %v %v, want no change", again, err)
	}
	r, err := s.rpFilter("vpcmesh0")
	if err != nil || r != (RPFilter{Link: "vpcmesh0", All: 2, Own: 0}) {
		t.Errorf("rpFilter = %+v %v", r, err)
	}
}

func TestApplyStopsAtAMissingLink(t *testing.T) {
	s := fakeSys(t, map[string]string{ForwardingKey: "1", RPFilterKey("all"): "0"})
	if _, err := s.apply(prerequisites([]string{"gone0"})); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want not-exist", err)
	}
	if _, err := s.rpFilter("gone0"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rpFilter err = %v, want not-exist", err)
	}
}

// In a fresh namespace, as root: the kernel's values really change.
func TestApplyPrerequisitesInNetns(t *testing.T) {
	netnstest.Run(t, func() {
		dummy(t, "mesh0")
		dummy(t, "lan0")
		for k, v := range map[string]string{ForwardingKey: "0", ICMPErrorsKey: "1", RPFilterKey("all"): "1",
			RPFilterKey("mesh0"): "1", RPFilterKey("lan0"): "0"} {
			if err := procSys.write(k, v); err != nil {
				t.Fatal(err)
			}
		}
		changes, err := ApplyPrerequisites("mesh0", "lan0")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("changes: %v", changes)
		if len(changes) != 3 {
			t.Errorf("changes = %v, want forwarding, all and mesh0", changes)
		}
		if on, err := Forwarding(); err != nil || !on {
			t.Errorf("forwarding %v %v, want on", on, err)
		}
		for link, want := range map[string]RPFilter{"mesh0": {"mesh0", 2, 2}, "lan0": {"lan0", 2, 0}} {
			if r, err := ReadRPFilter(link); err != nil || r != want || r.Mode() != "loose" {
				t.Errorf("%s: %+v %v, want %+v", link, r, err, want)
			}
		}
	})
}
