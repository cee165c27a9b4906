package discovery

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// A gateway that stopped cleanly and comes back with its clock 10 minutes
// behind publishes a record the others take as newer than the one it left
// with, and is live again everywhere: the last version it published is
// kept in its state directory.
func TestRecordVersionSurvivesClockGoingBack(t *testing.T) {
	m := newTestMesh(t)
	network := &memberlist.MockNetwork{}
	versionFile := filepath.Join(t.TempDir(), "record-version")
	var ids []*Identity
	for i := range 3 {
		ids = append(ids, m.issue(t, i+1, time.Now().Add(time.Hour)))
	}
	// MockNetwork's maps are not safe for concurrent use: gw-3's transport,
	// which it comes back on, is made before any node runs.
	transport := newUDPLike(network, "gw-3")
	gw1 := m.startGossipOn(t, network, GossipConfig{Identity: ids[0]})
	gw2 := m.startGossipOn(t, network, GossipConfig{Identity: ids[1]}, gw1)
	gw3 := m.startGossipOn(t, network, GossipConfig{Identity: ids[2], VersionFile: versionFile, Transport: transport}, gw1)
	others := []*Gossip{gw1, gw2}
	waitAll(t, "every gateway knows the other two", func(g *Gossip) bool { return len(g.Nodes()) == 2 }, append(others, gw3))

	stopped := time.Now()
	must(t, gw3.Publish(Record{Leaving: true}))
	left := gw3.Self().Version
	must(t, gw3.Leave(time.Second))
	again := transport.reopen()
	waitAll(t, "gw-3's leaving record held, gw-3 gone", func(g *Gossip) bool {
		n := g.Known()
		return len(n) == 2 && n[1].Name == "gw-3" && n[1].Version == left && g.LeftSince("gw-3", stopped) &&
			!slices.Contains(names(g.Nodes()), "gw-3")
	}, others)

	behind := func() time.Time { return time.Now().Add(-10 * time.Minute) }
	gw3 = m.startGossipOn(t, network, GossipConfig{Identity: ids[2], VersionFile: versionFile, Now: behind, Transport: again}, gw1)
	if v := gw3.Self().Version; v <= left {
		t.Errorf("restarted 10 minutes behind: first version %d, not above %d, the one it left with", v, left)
	}
	took := waitAll(t, "gw-3 live again at the other two", func(g *Gossip) bool { return slices.Contains(names(g.Nodes()), "gw-3") }, others)
	t.Logf("gw-3, restarted 10 minutes behind, live again at both after %v", took.Round(time.Millisecond))
}

// A record-version file that does not hold a version is set aside, with
// one log line, and the clock gives the version; the file is then
// written anew with each version published.
func TestRecordVersionFileBroken(t *testing.T) {
	m := newTestMesh(t)
	versionFile := filepath.Join(t.TempDir(), "record-version")
	must(t, os.WriteFile(versionFile, []byte("12ab\n"), 0o600))
	var logs bytes.Buffer
	before := uint64(time.Now().UnixNano())
	g := m.startGossipOn(t, &memberlist.MockNetwork{}, GossipConfig{Identity: m.issue(t, 1, time.Now().Add(time.Hour)),
		VersionFile: versionFile, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if v := g.Self().Version; v < before || v > uint64(time.Now().UnixNano()) {
		t.Errorf("version %d, want the clock's", v)
	}
	aside, _ := filepath.Glob(versionFile + ".broken-*")
	if len(aside) != 1 {
		t.Fatalf("set aside: %v", aside)
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, versionFile) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], aside[0]) || !strings.Contains(lines[0], "12ab") {
		t.Errorf("log lines naming %s: %q, want one naming the reason and where it went", versionFile, lines)
	}
	must(t, g.Publish(Record{}))
	b, err := os.ReadFile(versionFile)
	must(t, err)
	if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil || v != g.Self().Version {
		t.Errorf("record-version holds %q, want %d", b, g.Self().Version)
	}
	if fi, err := os.Stat(versionFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("record-version mode %v, %v", fi.Mode().Perm(), err)
	}
}
