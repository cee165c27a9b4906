package tunnel

import (
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"github.com/vpcmesh/vpcmesh/routing/netnstest"
)

// A gateway of a 1,000-gateway mesh holds 999 peers: applying them all on
// a real device, then changing one of them, and what they cost in memory.
// The device must then report exactly the peers applied.
func TestSetPeers999OnRealTUN(t *testing.T) {
	if testing.Short() {
		t.Skip("999 peers on a real TUN: not in -short")
	}
	requireTUN(t)
	netnstest.Run(t, func() {
		const n = 999
		k, _ := GenerateKey()
		peers := scalePeers(t, n)
		heap0, rss0 := heapAfterGC(), vmRSS(t)
		d := openTest(t, "vmscale", k, 51903)

		began := time.Now()
		must(t, d.SetPeers(peers))
		applyAll := time.Since(began)
		began = time.Now()
		before := statusByKey(t, d)
		readStatus := time.Since(began)
		if len(before) != n {
			t.Fatalf("after applying %d peers the device reports %d", n, len(before))
		}
		for _, p := range peers {
			st, ok := before[p.PublicKey]
			if !ok || st.Endpoint != p.Endpoint || len(st.AllowedIPs) != 1 || st.AllowedIPs[0] != p.AllowedIPs[0] {
				t.Fatalf("peer %s: device reports %+v, want endpoint %s and allowed IPs %v", p.PublicKey, st, p.Endpoint, p.AllowedIPs)
			}
		}

		// One peer moves (a gateway came back at another address, with
		// another overlay address): the other 998 must not be touched.
		changed := peers[n/2]
		changed.Endpoint = netip.MustParseAddrPort("192.0.2.250:40000")
		changed.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("100.127.255.1/32")}
		peers[n/2] = changed
		began = time.Now()
		must(t, d.SetPeers(peers))
		applyOne := time.Since(began)
		after := statusByKey(t, d)
		if len(after) != n {
			t.Fatalf("after changing one peer the device reports %d peers, want %d", len(after), n)
		}
		var diff []Key
		for key, st := range after {
			if !equalStatus(st, before[key]) {
				diff = append(diff, key)
			}
		}
		if len(diff) != 1 || diff[0] != changed.PublicKey {
			t.Fatalf("after changing peer %s, these changed: %v", changed.PublicKey, diff)
		}
		if st := after[changed.PublicKey]; st.Endpoint != changed.Endpoint || len(st.AllowedIPs) != 1 || st.AllowedIPs[0] != changed.AllowedIPs[0] {
			t.Fatalf("changed peer: device reports %+v, want endpoint %s and allowed IPs %v", st, changed.Endpoint, changed.AllowedIPs)
		}

		heapPeers, rssPeers := heapAfterGC(), vmRSS(t)
		// The device's own buffers are allocated by its goroutines some
		// time after Open: what the peers hold is what removing them frees.
		must(t, d.SetPeers(nil))
		if st, err := d.Status(); err != nil || len(st) != 0 {
			t.Fatalf("after removing every peer the device reports %d (%v)", len(st), err)
		}
		heapDevice := heapAfterGC()
		mib := func(a, b uint64) float64 { return float64(int64(a-b)) / (1 << 20) } // a signed difference
		t.Logf("%d peers: applied in %v (UAPI body %d KiB), one peer changed among them in %v, status read in %v",
			n, applyAll.Round(time.Microsecond), len(peerDiff(nil, byKey(peers)))/1024, applyOne.Round(time.Microsecond), readStatus.Round(time.Microsecond))
		t.Logf("memory: %.1f KiB of Go heap after GC per peer (%.1f MiB for %d); the device itself %.1f MiB; RSS grew %.1f MiB with the device and its %d peers (%.1f KiB per peer)",
			float64(int64(heapPeers-heapDevice))/n/1024, mib(heapPeers, heapDevice), n, mib(heapDevice, heap0), mib(rssPeers, rss0), n, float64(int64(rssPeers-rss0))/n/1024)
	})
}

// BenchmarkSetPeers999 applies 999 peers to an empty device (all), and
// changes one peer among 999 (one).
func BenchmarkSetPeers999(b *testing.B) {
	requireTUN(b)
	netnstest.Run(b, func() {
		k, _ := GenerateKey()
		d, err := Open(Config{Interface: "vmbench", MTU: 1380, PrivateKey: k, ListenPort: 51904})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		peers := scalePeers(b, 999)
		b.Run("all", func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				if err := d.SetPeers(nil); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := d.SetPeers(peers); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("one", func(b *testing.B) {
			if err := d.SetPeers(peers); err != nil {
				b.Fatal(err)
			}
			moved := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.250:40000"), peers[0].Endpoint}
			b.ResetTimer()
			for i := range b.N {
				peers[0].Endpoint = moved[i%2]
				if err := d.SetPeers(peers); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// scalePeers makes n peers with random keys, each at a documentation
// address and holding one /32 of 100.64.0.0/10, as a mesh's overlay
// addresses: no keepalive, so the device sends nothing to them.
func scalePeers(t testing.TB, n int) []Peer {
	t.Helper()
	docs := []netip.Addr{netip.MustParseAddr("192.0.2.0"), netip.MustParseAddr("198.51.100.0"), netip.MustParseAddr("203.0.113.0")}
	peers := make([]Peer, n)
	for i := range peers {
		priv, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		host := docs[i%3].As4()
		host[3] = byte(1 + i/3%250)
		overlay := netip.AddrFrom4([4]byte{100, 64 + byte((i+1)>>16), byte((i + 1) >> 8), byte(i + 1)})
		peers[i] = Peer{PublicKey: priv.Public(), Endpoint: netip.AddrPortFrom(netip.AddrFrom4(host), uint16(51820+i/750)),
			AllowedIPs: []netip.Prefix{netip.PrefixFrom(overlay, 32)}}
	}
	return peers
}

func statusByKey(t *testing.T, d *Device) map[Key]PeerStatus {
	t.Helper()
	st, err := d.Status()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[Key]PeerStatus, len(st))
	for _, s := range st {
		out[s.PublicKey] = s
	}
	return out
}

func equalStatus(a, b PeerStatus) bool {
	return a.PublicKey == b.PublicKey && a.Endpoint == b.Endpoint && a.Keepalive == b.Keepalive &&
		a.LastHandshake.Equal(b.LastHandshake) && slices.Equal(a.AllowedIPs, b.AllowedIPs)
}

// requireTUN skips where no TUN device can be made; netnstest.Run then
// requires root.
func requireTUN(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no TUN here: %v", err)
	}
}

// heapAfterGC is the live heap. Two collections: a removed peer's queues
// have finalizers, and are freed only in the cycle after them.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// vmRSS is the process's resident set, from /proc/self/status.
func vmRSS(t testing.TB) uint64 {
	t.Helper()
	st, err := procfs.Self()
	if err == nil {
		var ps procfs.ProcStatus
		if ps, err = st.NewStatus(); err == nil {
			return ps.VmRSS
		}
	}
	t.Fatal(err)
	return 0
}
