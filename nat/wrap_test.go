package nat

import (
	"bytes"
	"sync"
	"testing"

	"github.com/vpcmesh/vpcmesh/nat/nattest"
)

const testOffset = 16 // wireguard-go leaves room for its transport header

// vector returns n buffers as wireguard-go hands them: room for the offset
// and a full-size packet.
func vector(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, testOffset+2000)
	}
	return bufs, make([]int, n)
}

// batchCase is a packet with what the wrapper must make of it.
type batchCase struct {
	in, want []byte // want nil: dropped
}

func outboundBatch() []batchCase {
	in1, want1 := pair(hdr{src: "10.0.0.20", dst: "192.168.0.50", proto: protoTCP}, tcpSeg(1, 2, 0x10, nil, payload), "100.64.1.20", "192.168.0.50")
	in3, want3 := pair(hdr{src: "172.16.0.5", dst: "100.64.2.10", proto: protoUDP}, udpDgram(1, 2, payload[:99]), "172.16.0.5", "100.64.2.10")
	return []batchCase{
		{in1, want1},
		{build(hdr{src: "10.0.0.20", dst: "100.64.2.10", proto: protoUDP}, udpDgram(1, 2, nil)), nil}, // acl
		{in3, want3},
		{in1[:30], nil}, // invalid
		{build(hdr{src: "10.0.0.20", dst: "8.8.8.8", proto: protoUDP}, udpDgram(1, 2, nil)), nil}, // no route
	}
}

func TestWrapperRead(t *testing.T) {
	dev := nattest.New(8)
	w := Wrap(dev, mustCompile(t, vpcConfig()))
	batch := outboundBatch()
	var pkts [][]byte
	for _, c := range batch {
		pkts = append(pkts, c.in)
	}
	dev.Feed(pkts)
	bufs, sizes := vector(8)
	orig := append([][]byte(nil), bufs...)
	n, err := w.Read(bufs, sizes, testOffset)
	if err != nil || n != len(batch) {
		t.Fatalf("Read = %d, %v", n, err)
	}
	for i, c := range batch {
		if &bufs[i][0] != &orig[i][0] {
			t.Errorf("packet %d: buffer moved; wireguard-go ties bufs[i] to its element i", i)
		}
		checkRead(t, i, bufs[i][testOffset:testOffset+sizes[i]], c.want)
	}
	want := Stats{Outbound: Counters{Passed: 2, ACL: 1, NoRoute: 1, Invalid: 1}}
	if s := w.Stats(); s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
}

func checkRead(t *testing.T, i int, got, want []byte) {
	t.Helper()
	if want == nil {
		if len(got) != 0 {
			t.Errorf("packet %d: not dropped (size %d)", i, len(got))
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("packet %d:\n% x\nwant\n% x", i, got, want)
	}
	if err := sumsErr(got); err != nil {
		t.Errorf("packet %d: %v", i, err)
	}
}

func inboundBatch() []batchCase {
	syn := synPair("", hdr{src: "192.168.0.50", dst: "100.64.1.20", proto: protoTCP}, "192.168.0.50", "10.0.0.20", synAckFlags, mssOpt(1460), mssOpt(1240))
	in2, want2 := pair(hdr{src: "100.64.2.10", dst: "172.16.0.5", proto: protoUDP}, udpDgram(1, 2, payload), "100.64.2.10", "172.16.0.5")
	in4, want4 := pair(hdr{src: "198.18.0.1", dst: "100.64.1.200", proto: protoICMP}, icmpMsg(8, 0, 1, payload[:56]), "198.18.0.1", "10.0.0.200")
	return []batchCase{
		{syn.in, syn.want},
		{build(hdr{src: "100.64.2.10", dst: "100.64.1.20", proto: protoUDP}, udpDgram(1, 2, nil)), nil},
		{in2, want2},
		{[]byte{0x45, 0, 0}, nil},
		{in4, want4},
	}
}

func TestWrapperWrite(t *testing.T) {
	dev := nattest.New(8)
	var calls [][][]byte
	dev.Sink = func(bufs [][]byte, offset int) {
		var got [][]byte
		for _, b := range bufs {
			got = append(got, bytes.Clone(b[offset:]))
		}
		calls = append(calls, got)
	}
	w := Wrap(dev, mustCompile(t, vpcConfig()))
	batch := inboundBatch()
	bufs := make([][]byte, len(batch))
	for i, c := range batch {
		bufs[i] = append(make([]byte, testOffset), c.in...)
	}
	given := append([][]byte(nil), bufs...)
	if n, err := w.Write(bufs, testOffset); n != len(batch) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if len(calls) != 1 {
		t.Fatalf("inner Write called %d times, want once", len(calls))
	}
	checkWritten(t, calls[0], batch)
	checkPermutation(t, bufs, given)
	want := Stats{Inbound: Counters{Passed: 3, ACL: 1, Invalid: 1}}
	if s := w.Stats(); s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
}

// checkWritten checks that the inner device got the passing packets, in
// their order, rewritten.
func checkWritten(t *testing.T, got [][]byte, batch []batchCase) {
	t.Helper()
	var want [][]byte
	for _, c := range batch {
		if c.want != nil {
			want = append(want, c.want)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("inner Write got %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("packet %d:\n% x\nwant\n% x", i, got[i], want[i])
		}
		if err := sumsErr(got[i]); err != nil {
			t.Errorf("packet %d: %v", i, err)
		}
	}
}

// checkPermutation checks that bufs holds exactly the buffers given.
func checkPermutation(t *testing.T, bufs, given [][]byte) {
	t.Helper()
	seen := map[*byte]bool{}
	for _, b := range bufs {
		seen[&b[0]] = true
	}
	for i, b := range given {
		if !seen[&b[0]] {
			t.Errorf("buffer %d lost from the vector", i)
		}
	}
}

func TestWrapperWriteAllDropped(t *testing.T) {
	dev := nattest.New(8)
	w := Wrap(dev, mustCompile(t, vpcConfig()))
	bufs := [][]byte{append(make([]byte, testOffset), build(hdr{src: "8.8.8.8", dst: "100.64.1.20", proto: protoUDP}, udpDgram(1, 2, nil))...)}
	if n, err := w.Write(bufs, testOffset); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if dev.Writes() != 0 {
		t.Errorf("inner Write called %d times for nothing", dev.Writes())
	}
	if s := w.Stats().Inbound; s.NoRoute != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestWrapperSetTable(t *testing.T) {
	dev := nattest.New(8)
	w := Wrap(dev, nil)
	p := build(hdr{src: "192.168.0.50", dst: "100.64.1.20", proto: protoUDP}, udpDgram(1, 2, nil))
	write := func() {
		t.Helper()
		if _, err := w.Write([][]byte{append(make([]byte, testOffset), p...)}, testOffset); err != nil {
			t.Fatal(err)
		}
	}
	write()
	if dev.Writes() != 0 || w.Stats().Inbound.ACL != 1 {
		t.Fatalf("a nil table let a packet through: %+v", w.Stats())
	}
	w.SetTable(mustCompile(t, vpcConfig()))
	write()
	if dev.Writes() != 1 {
		t.Fatal("packet dropped after SetTable")
	}
	w.SetTable(mustCompile(t, officeConfig()))
	write()
	if dev.Writes() != 1 || w.Stats().Inbound.ACL != 2 {
		t.Fatalf("new table not used: %+v", w.Stats())
	}
}

func TestWrapperPassesThrough(t *testing.T) {
	dev := nattest.New(42)
	w := Wrap(dev, mustCompile(t, Config{}))
	if w.BatchSize() != 42 {
		t.Errorf("BatchSize %d, want the inner 42", w.BatchSize())
	}
	if mtu, _ := w.MTU(); mtu != 1420 {
		t.Errorf("MTU %d", mtu)
	}
	if name, _ := w.Name(); name != "nattest" {
		t.Errorf("Name %q", name)
	}
	if w.File() != nil {
		t.Error("File")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-w.Events(); ok {
		t.Error("events still open after Close")
	}
	bufs, sizes := vector(1)
	if _, err := w.Read(bufs, sizes, testOffset); err == nil {
		t.Error("Read after Close succeeded")
	}
}

func TestWrapperBadOffset(t *testing.T) {
	dev := nattest.New(8)
	w := Wrap(dev, mustCompile(t, Config{}))
	if n, err := w.Write([][]byte{make([]byte, 4)}, 8); n != 1 || err != nil || dev.Writes() != 0 {
		t.Fatalf("Write = %d, %v; inner writes %d", n, err, dev.Writes())
	}
	if w.Stats().Inbound.Invalid != 1 {
		t.Errorf("stats %+v", w.Stats())
	}
}

func TestWrapperAllocs(t *testing.T) {
	dev := nattest.New(128)
	w := Wrap(dev, mustCompile(t, vpcConfig()))
	out, in := outboundBatch(), inboundBatch()
	var feed [][]byte
	for _, c := range out {
		feed = append(feed, c.in)
	}
	bufs, sizes := vector(len(feed))
	if a := testing.AllocsPerRun(100, func() {
		dev.Feed(feed)
		if _, err := w.Read(bufs, sizes, testOffset); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Read: %v allocations per batch", a)
	}
	wbufs := make([][]byte, len(in))
	if a := testing.AllocsPerRun(100, func() {
		for i, c := range in {
			wbufs[i] = append(wbufs[i][:0], make([]byte, testOffset)...)
			wbufs[i] = append(wbufs[i], c.in...)
		}
		if _, err := w.Write(wbufs, testOffset); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Write: %v allocations per batch", a)
	}
}

// TestWrapperConcurrent runs Read, several Writes and SetTable at once, as
// wireguard-go and a reload do; run with -race.
func TestWrapperConcurrent(t *testing.T) {
	dev := nattest.New(8)
	tables := []*Table{mustCompile(t, vpcConfig()), mustCompile(t, officeConfig())}
	w := Wrap(dev, tables[0])
	in := inboundBatch()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				bufs := make([][]byte, len(in))
				for i, c := range in {
					bufs[i] = append(make([]byte, testOffset), c.in...)
				}
				if _, err := w.Write(bufs, testOffset); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		bufs, sizes := vector(8)
		for range 200 {
			dev.Feed([][]byte{outboundBatch()[0].in})
			if _, err := w.Read(bufs, sizes, testOffset); err != nil {
				t.Error(err)
			}
		}
	})
	for i := range 200 {
		w.SetTable(tables[i%2])
	}
	wg.Wait()
	s := w.Stats()
	if got := s.Inbound.Passed + s.Inbound.ACL + s.Inbound.NoRoute + s.Inbound.Invalid; got != 4*200*uint64(len(in)) {
		t.Errorf("counted %d inbound packets, want %d", got, 4*200*len(in))
	}
	if got := s.Outbound.Passed + s.Outbound.ACL + s.Outbound.NoRoute + s.Outbound.Invalid; got != 200 {
		t.Errorf("counted %d outbound packets, want 200", got)
	}
}
