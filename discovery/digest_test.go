package discovery

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Between members, push/pull carries a digest of names and versions, not
// the records; a member that holds an older record than the other side
// asks for the newer one and gets it.
func TestPushPullDigestFetchesNewerRecords(t *testing.T) {
	m := newTestMesh(t)
	ids, nodes := startSettled(t, m, 3)
	gw1, gw2 := nodes[0], nodes[1]

	// gw-1 holds an older record of gw-3, as when every broadcast of
	// gw-3's update missed it; repair does not help, a record is held.
	current := gw2.recordOf("gw-3")
	holdOlder(t, gw1, ids[2], current.Version-1)

	state := (*delegate)(gw2).LocalState(false)
	if len(state) >= len(current.Encoded) {
		t.Fatalf("push/pull state of 3 records is %d bytes, one record %d: want a digest, not the records", len(state), len(current.Encoded))
	}
	(*delegate)(gw1).MergeRemoteState(state, false)
	start := time.Now()
	for gw1.recordOf("gw-3").Version != current.Version {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("gw-1 still holds gw-3's version %d 5s after a digest listing %d", gw1.recordOf("gw-3").Version, current.Version)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("state %d bytes for 3 records (one record: %d); gw-3's newer record at gw-1 after %v",
		len(state), len(current.Encoded), time.Since(start).Round(time.Millisecond))

	// A joiner has nothing to compare: it gets the records themselves.
	if join := (*delegate)(gw2).LocalState(true); len(join) < 3*len(current.Encoded) {
		t.Errorf("a joiner's state is %d bytes, less than three records (%d each)", len(join), len(current.Encoded))
	}
}

// recordOf is the record g holds of name, or an empty one.
func (g *Gossip) recordOf(name string) *Node {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.records[name]; n != nil {
		return n
	}
	return &Node{}
}

// A fresh joiner does not pass on the records its join brought: the
// mesh has them. A gateway that holds records of its own side does pass
// on what a join brings it, as when a partition heals.
func TestJoinRecordsPassedOnOnlyByAGatewayWithASide(t *testing.T) {
	m := newTestMesh(t)
	_, nodes := startSettled(t, m, 3)
	state := (*delegate)(nodes[0]).LocalState(true)

	fresh := m.startGossipOn(t, &memberlist.MockNetwork{}, GossipConfig{Identity: m.issue(t, 4, time.Now().Add(time.Hour))})
	before := fresh.queue.NumQueued() // its own record
	(*delegate)(fresh).MergeRemoteState(state, true)
	if got := len(fresh.Known()); got != 3 {
		t.Fatalf("the fresh joiner holds %d records of others after the join state, want 3", got)
	}
	if q := fresh.queue.NumQueued(); q != before {
		t.Errorf("the fresh joiner queued %d broadcasts for the 3 records its join brought, want none", q-before)
	}

	// gw-1's side lost gw-5's record (a cut); a join state carrying it
	// comes in: gw-1 passes it on to its side.
	gw5, err := m.issue(t, 5, time.Now().Add(time.Hour)).Sign(Record{Name: "gw-5", Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	other := binary.BigEndian.AppendUint32(nil, uint32(1+len(gw5)))
	other = append(append(other, msgRecord), gw5...)
	(*delegate)(nodes[0]).MergeRemoteState(other, true)
	if q := nodes[0].queue.NumQueued(); q != 1 {
		t.Errorf("gw-1, holding its side's records, queued %d broadcasts for the one record a join brought, want 1", q)
	}
}

// A member's digest is not trusted: one claiming the newest version of
// every gateway and a thousand gateways that do not exist gets at most
// digestWants records asked of its sender, and what comes back is checked
// like any record, so nothing held changes. A malformed one is refused
// whole and asks nothing.
func TestRogueDigestChangesNothing(t *testing.T) {
	m := newTestMesh(t)
	_, nodes := startSettled(t, m, 3)
	gw1 := nodes[0]
	held := func() map[string]*Node {
		gw1.mu.Lock()
		defer gw1.mu.Unlock()
		return maps.Clone(gw1.records)
	}
	before, traffic := held(), gw1.Traffic()
	refusedBefore := gw1.Refused()[RefusedMalformed]

	digest := []byte("gw-2\x00")
	entry := func(name string, version uint64) {
		digest = append(digest, byte(len(name)))
		digest = append(digest, name...)
		digest = binary.BigEndian.AppendUint64(digest, version)
	}
	for _, name := range []string{"gw-1", "gw-2", "gw-3"} {
		entry(name, math.MaxUint64)
	}
	for i := range 1000 {
		entry(fmt.Sprintf("ghost-%d", i), 1)
	}
	state := binary.BigEndian.AppendUint32(nil, uint32(1+len(digest)))
	state = append(append(state, msgDigest), digest...)
	(*delegate)(gw1).MergeRemoteState(state, false)

	if asked := gw1.Traffic().Asked - traffic.Asked; asked != digestWants {
		t.Errorf("a digest of 1,003 names had %d records asked for, want the bound %d", asked, digestWants)
	}
	// gw-2 answers with the two records it holds of those asked (its
	// own and gw-3's): they reach gw-1 and change nothing there.
	start := time.Now()
	for gw1.Traffic().RecordsIn-traffic.RecordsIn < 2 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("gw-1 got %d records back within 10 s, want gw-2's answers (2)", gw1.Traffic().RecordsIn-traffic.RecordsIn)
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := held()
	if len(after) != len(before) {
		t.Errorf("gw-1 holds %d records after the digest, %d before", len(after), len(before))
	}
	for name, n := range before {
		if after[name] != n {
			t.Errorf("gw-1's record of %s changed: version %d, was %d", name, after[name].Version, n.Version)
		}
	}

	// Cut off inside an entry: refused whole, nothing asked.
	traffic = gw1.Traffic()
	truncated := binary.BigEndian.AppendUint32(nil, uint32(1+len(digest)-3))
	truncated = append(append(truncated, msgDigest), digest[:len(digest)-3]...)
	(*delegate)(gw1).MergeRemoteState(truncated, false)
	if asked := gw1.Traffic().Asked - traffic.Asked; asked != 0 {
		t.Errorf("a truncated digest had %d records asked for", asked)
	}
	if got := gw1.Refused()[RefusedMalformed] - refusedBefore; got != 1 {
		t.Errorf("malformed refusals counted: %d, want 1 (the truncated digest)", got)
	}
}

// A member can broadcast any bytes as a record. A forged record of a real
// gateway is refused, and must leave nothing behind that makes this
// gateway stop asking for that gateway's genuine record: a refusal proves
// something about the bytes, not about the name. (Each refused name was
// kept for good, so forged records also grew the gateway's memory without
// bound and silenced the digest and repair for the gateways they named.)
func TestForgedRecordStopsNoRequest(t *testing.T) {
	m := newTestMesh(t)
	ids, nodes := startSettled(t, m, 3)
	gw1, gw2 := nodes[0], nodes[1]

	// gw-3's record, version raised: the signature no longer verifies.
	genuine := gw2.recordOf("gw-3")
	v := strconv.FormatUint(genuine.Version, 10)
	forged := bytes.Replace(genuine.Encoded, []byte(`"version":`+v), []byte(`"version":9`+v[1:]), 1)
	if bytes.Equal(forged, genuine.Encoded) {
		t.Fatalf("no version %s in gw-3's record to raise", v)
	}
	refused := gw1.Refused()[RefusedRecordSig]
	(*delegate)(gw1).NotifyMsg(append([]byte{msgRecord}, forged...))
	if got := gw1.Refused()[RefusedRecordSig] - refused; got != 1 {
		t.Fatalf("forged record: %d refusals for its signature, want 1", got)
	}

	// gw-1 then holds an older record of gw-3 (a broadcast missed it);
	// gw-2's digest lists the newer one, and gw-1 must still ask for it.
	holdOlder(t, gw1, ids[2], genuine.Version-1)
	asked := gw1.Traffic().Asked
	(*delegate)(gw1).MergeRemoteState((*delegate)(gw2).LocalState(false), false)
	if got := gw1.Traffic().Asked - asked; got != 1 {
		t.Fatalf("after a forged record of gw-3, a digest listing gw-3's newer record had %d records asked for, want 1", got)
	}
	start := time.Now()
	for gw1.recordOf("gw-3").Version != genuine.Version {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("gw-1 still holds gw-3's version %d 5 s after asking for %d", gw1.recordOf("gw-3").Version, genuine.Version)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// holdOlder makes g hold the record of id's gateway at version, as when
// the broadcasts of its newer ones missed g.
func holdOlder(t *testing.T, g *Gossip, id *Identity, version uint64) {
	t.Helper()
	rec, err := id.Sign(Record{Name: id.Leaf().Body.Name, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	n, err := g.Verify(rec)
	if err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.records[n.Name] = n
	g.mu.Unlock()
}
