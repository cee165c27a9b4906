package mesh

// The floating address of an HA site off EC2 (docs/guides/ha.md): the
// site's active member, by the same decision that moves the allowed IPs,
// holds site.virtual_address on its LAN interface and announces it by
// gratuitous ARP, so that the LAN router's route to it follows the active
// member. There is no second election protocol.

import (
	"cmp"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/routing"
)

// reannounce are the delays after taking an address at which it is
// announced again: a switch or a host that missed the first announcement
// learns it from a later one, as keepalived repeats its own.
var reannounce = []time.Duration{time.Second, 3 * time.Second}

// holdLifetime is the kernel lifetime of a held address, renewed every
// renewEvery: a gateway killed without releasing it (kill -9, a crash)
// leaves it behind this long at most, not until it restarts.
const (
	holdLifetime = 3 * time.Second
	renewEvery   = time.Second
)

// floatWant is one site's floating address and whether this gateway should
// hold it.
type floatWant struct {
	site   string
	iface  string
	addr   netip.Addr
	active bool
	holder string // who holds it, as this gateway sees the group
}

// VirtualStatus is a floating address as status shows it.
type VirtualStatus struct {
	Site      string     `json:"site"`
	Address   string     `json:"address"`
	Interface string     `json:"interface"`
	Held      bool       `json:"held"`             // by this gateway
	Holder    string     `json:"holder,omitempty"` // the member that holds it, as seen from here
	Since     *time.Time `json:"since,omitempty"`  // held since
	Error     string     `json:"error,omitempty"`
}

type floating struct {
	log  *slog.Logger
	done chan struct{}

	mu     sync.Mutex
	sites  map[string]*floatState
	closed bool
}

type floatState struct {
	floatWant
	held  time.Time // zero: not held
	err   error
	timer []*time.Timer
}

func newFloating(log *slog.Logger) *floating {
	f := &floating{log: log, sites: map[string]*floatState{}, done: make(chan struct{})}
	go f.renew()
	return f
}

// renew keeps the held addresses' lifetimes from running out; one found
// gone (a stall longer than the lifetime) is taken and announced again.
func (f *floating) renew() {
	t := time.NewTicker(renewEvery)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-t.C:
		}
		f.mu.Lock()
		for _, st := range f.sites {
			if !st.held.IsZero() {
				f.hold(st)
			}
		}
		f.mu.Unlock()
	}
}

// floatWants computes what each site's floating address should do. A
// gateway holds one only while it is active for the site and, once its
// start's hold-down is over, while some gateway answers its probes: one
// that has reached nobody yet (a restart before gossip, a cut uplink)
// would take the LAN's traffic into a black hole.
func floatWants(cfg *configs.Config, v View, settling bool, ownDown []string, reachesAny bool, ifaceFor func(netip.Addr) (string, error)) ([]floatWant, []string) {
	var out []floatWant
	var warnings []string
	for _, s := range cfg.Sites {
		if !s.VirtualAddress.IsValid() {
			continue
		}
		w := floatWant{site: s.Name, addr: s.VirtualAddress, iface: s.VirtualInterface}
		if w.iface == "" {
			name, err := ifaceFor(s.VirtualAddress)
			if err != nil {
				warnings = append(warnings, "site "+s.Name+": virtual_address: "+err.Error())
				continue
			}
			w.iface = name
		}
		w.active = !settling && reachesAny && activeFor(cfg, s, v, time.Time{}, ownDown)
		w.holder = holderOf(cfg, s, v, w.active)
		out = append(out, w)
	}
	return out, warnings
}

// holderOf names the member that holds s's floating address as this
// gateway sees the group: itself when active, else the best healthy other
// member (priority, then name), or "" when none is.
func holderOf(cfg *configs.Config, s configs.Site, v View, active bool) string {
	if active {
		return cfg.Node.Name
	}
	best, prio := "", 0
	for _, n := range v.Nodes {
		if v.Down[n.Name] || slices.Contains(n.SitesDown, s.Name) {
			continue
		}
		for _, ns := range n.Sites {
			if ns.Name == s.Name && (best == "" || ns.Priority > prio || (ns.Priority == prio && n.Name < best)) {
				best, prio = n.Name, ns.Priority
			}
		}
	}
	return best
}

// apply makes the addresses held match wants. Taking an address announces
// it at once and again after each of reannounce; releasing it is at once.
func (f *floating) apply(wants []floatWant) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	for site, st := range f.sites {
		if !slices.ContainsFunc(wants, func(w floatWant) bool { return w.site == site }) {
			f.release(st, "no longer configured")
			delete(f.sites, site)
		}
	}
	for _, w := range wants {
		st := f.sites[w.site]
		if st == nil || st.iface != w.iface || st.addr != w.addr {
			if st != nil {
				f.release(st, "moved")
			}
			st = &floatState{floatWant: w}
			f.sites[w.site] = st
		}
		st.active, st.holder = w.active, w.holder
		if w.active {
			f.hold(st)
		} else {
			f.release(st, "not active")
		}
	}
}

func (f *floating) hold(st *floatState) {
	added, err := routing.HoldAddress(st.iface, netip.PrefixFrom(st.addr, 32), holdLifetime)
	st.err = err
	if err != nil {
		f.log.Error("virtual address not held", "site", st.site, "address", st.addr, "interface", st.iface, "err", err)
		return
	}
	if !added && !st.held.IsZero() {
		return
	}
	st.held = time.Now()
	f.log.Info("virtual address taken", "site", st.site, "address", st.addr, "interface", st.iface)
	f.announce(st)
	for _, d := range reannounce {
		st.timer = append(st.timer, time.AfterFunc(d, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if !f.closed && !st.held.IsZero() && f.sites[st.site] == st {
				f.announce(st)
			}
		}))
	}
}

func (f *floating) announce(st *floatState) {
	if err := routing.AnnounceAddress(st.iface, st.addr); err != nil {
		st.err = err
		f.log.Error("virtual address not announced", "site", st.site, "address", st.addr, "interface", st.iface, "err", err)
	}
}

// release gives the address up, whoever added it: one left by a crash
// must not stay on a gateway that is not active.
func (f *floating) release(st *floatState, why string) {
	for _, t := range st.timer {
		t.Stop()
	}
	st.timer = nil
	removed, err := routing.ReleaseAddress(st.iface, netip.PrefixFrom(st.addr, 32))
	st.err = err
	if err != nil {
		f.log.Error("virtual address not released", "site", st.site, "address", st.addr, "interface", st.iface, "err", err)
		return
	}
	if removed || !st.held.IsZero() {
		f.log.Info("virtual address released", "site", st.site, "address", st.addr, "interface", st.iface, "why", why)
	}
	st.held = time.Time{}
}

// close releases every address held: a clean stop leaves none behind.
func (f *floating) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, st := range f.sites {
		f.release(st, "stopping")
	}
	if !f.closed {
		close(f.done)
	}
	f.closed = true
}

// status lists the floating addresses, by site.
func (f *floating) status() []VirtualStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []VirtualStatus
	for _, st := range f.sites {
		vs := VirtualStatus{Site: st.site, Address: st.addr.String(), Interface: st.iface, Held: !st.held.IsZero(), Holder: st.holder}
		if vs.Held {
			t := st.held
			vs.Since = &t
		}
		if st.err != nil {
			vs.Error = st.err.Error()
		}
		out = append(out, vs)
	}
	slices.SortFunc(out, func(a, b VirtualStatus) int { return cmp.Compare(a.Site, b.Site) })
	return out
}

// ifaceFor is the interface a floating address lives on when the config
// names none: the one already found for it, else the interface on its
// network (found before the address itself is held there).
func (f *floating) ifaceFor(addr netip.Addr) (string, error) {
	f.mu.Lock()
	for _, st := range f.sites {
		if st.addr == addr {
			f.mu.Unlock()
			return st.iface, nil
		}
	}
	f.mu.Unlock()
	return routing.InterfaceFor(addr)
}
