package lab

import (
	"context"
	"encoding/base64"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// These need no root.

func TestEventually(t *testing.T) {
	ctx := context.Background()
	calls := 0
	err := Eventually(ctx, time.Second, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("Eventually = %v after %d calls, want nil after 3", err, calls)
	}

	last := errors.New("last")
	start := time.Now()
	err = Eventually(ctx, 200*time.Millisecond, func() error { return last })
	if !errors.Is(err, last) || time.Since(start) < 200*time.Millisecond {
		t.Errorf("timeout: %v after %v, want the last error after the timeout", err, time.Since(start))
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := Eventually(cancelled, time.Minute, func() error { return last }); !errors.Is(err, context.Canceled) || !errors.Is(err, last) {
		t.Errorf("cancelled: %v, want context.Canceled and the last error", err)
	}
}

func TestGenKey(t *testing.T) {
	priv, pub, err := GenKey()
	if err != nil {
		t.Fatal(err)
	}
	k, _ := base64.StdEncoding.DecodeString(priv)
	if len(k) != 32 || k[0]&7 != 0 || k[31]&0xc0 != 0x40 {
		t.Errorf("private key not clamped: %x", k)
	}
	if got, err := PublicKey(priv); err != nil || got != pub {
		t.Errorf("PublicKey = %q, %v; want %q", got, err, pub)
	}
	if _, err := exec.LookPath("wg"); err != nil {
		t.Skip("no wg tool to cross-check with")
	}
	cmd := exec.Command("wg", "pubkey")
	cmd.Stdin = strings.NewReader(priv + "\n")
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != pub {
		t.Errorf("wg pubkey = %q, %v; want %q", out, err, pub)
	}
}

func TestSiteSpecRejected(t *testing.T) {
	ok := SiteSpec{Name: "office", NAT: NATMasquerade, PublicIP: "203.0.113.10", LAN: "192.168.0.0/24",
		Hosts: map[string]string{"pc-a": "192.168.0.50"}, MeshRoutes: []string{"10.0.0.0/24"}}
	if _, err := ok.parse(); err != nil {
		t.Fatalf("good spec: %v", err)
	}
	for name, mod := range map[string]func(*SiteSpec){
		"name":               func(s *SiteSpec) { s.Name = "Office" },
		"public not public":  func(s *SiteSpec) { s.PublicIP = "10.1.1.1" },
		"LAN not a network":  func(s *SiteSpec) { s.LAN = "192.168.0.1/24" },
		"host outside LAN":   func(s *SiteSpec) { s.Hosts = map[string]string{"pc": "192.168.1.5"} },
		"host on gateway":    func(s *SiteSpec) { s.Hosts = map[string]string{"pc": "192.168.0.2"} },
		"mesh route":         func(s *SiteSpec) { s.MeshRoutes = []string{"10.0.0.0"} },
		"mesh route no NAT":  func(s *SiteSpec) { s.NAT = NATNone },
		"host name":          func(s *SiteSpec) { s.Hosts = map[string]string{"PC": "192.168.0.5"} },
		"public unparseable": func(s *SiteSpec) { s.PublicIP = "" },
	} {
		s := ok
		mod(&s)
		if _, err := s.parse(); err == nil {
			t.Errorf("%s: accepted %+v", name, s)
		}
	}
}

func TestSiteAddresses(t *testing.T) {
	routed, _ := SiteSpec{Name: "v", NAT: NATOneToOne, PublicIP: "198.51.100.7", LAN: "10.0.0.0/25"}.parse()
	if routed.router.String() != "10.0.0.1" || routed.gateway.String() != "10.0.0.2" || routed.up.String() != "198.51.100.1" {
		t.Errorf("routed site: %+v", routed)
	}
	public, _ := SiteSpec{Name: "b", NAT: NATNone, PublicIP: "203.0.113.30", LAN: "172.16.5.0/24"}.parse()
	if public.gateway.String() != "172.16.5.1" {
		t.Errorf("NATNone gateway = %s, want the LAN's .1", public.gateway)
	}
}
