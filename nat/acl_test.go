package nat

import (
	"bytes"
	"testing"
)

type aclCase struct {
	src, dst string
	want     Verdict
}

func checkACL(t *testing.T, tab *Table, dir string, f func(*Table, []byte) Verdict, cases []aclCase) {
	t.Helper()
	for _, c := range cases {
		p := build(hdr{src: c.src, dst: c.dst, proto: protoUDP}, udpDgram(1, 2, payload[:16]))
		orig := bytes.Clone(p)
		if v := f(tab, p); v != c.want {
			t.Errorf("%s %s → %s: %v, want %v", dir, c.src, c.dst, v, c.want)
		}
		if c.want != Pass && !bytes.Equal(p, orig) {
			t.Errorf("%s %s → %s: dropped packet changed", dir, c.src, c.dst)
		}
	}
}

func TestACLOutbound(t *testing.T) {
	checkACL(t, mustCompile(t, vpcConfig()), "out", (*Table).Outbound, []aclCase{
		{"10.0.0.20", "192.168.0.50", Pass},     // VPC-A export → office, project A
		{"10.0.0.20", "100.64.2.10", DropACL},   // VPC-A is not in project B
		{"172.16.0.5", "100.64.2.10", Pass},     // the B export → VPC-B
		{"172.16.0.5", "192.168.0.50", DropACL}, // ... but not to the office
		{"10.0.0.200", "198.18.0.1", Pass},      // member of C
		{"10.0.0.200", "192.168.0.50", Pass},    // and, inside the A export, of A
		{"10.0.0.20", "198.18.0.1", DropACL},    // not a member of C
		{"10.9.9.9", "192.168.0.50", DropACL},   // not local at all
		{"10.0.0.20", "8.8.8.8", DropNoRoute},   // no such wire prefix
		{"100.100.0.1", "100.100.0.2", Pass},    // gateway ⇄ gateway on the overlay
		{"100.100.0.1", "192.168.0.50", DropACL},
		{"10.0.0.20", "100.100.0.2", DropNoRoute},
	})
}

func TestACLInbound(t *testing.T) {
	checkACL(t, mustCompile(t, vpcConfig()), "in", (*Table).Inbound, []aclCase{
		{"192.168.0.50", "100.64.1.20", Pass},   // office → VPC-A, project A
		{"100.64.2.10", "100.64.1.20", DropACL}, // VPC-B is not in project A
		{"100.64.2.10", "172.16.0.5", Pass},     // VPC-B → the B export
		{"198.18.0.1", "100.64.1.200", Pass},    // C → its member
		{"198.18.0.1", "100.64.1.20", DropACL},  // ... not to the rest of VPC-A
		{"8.8.8.8", "100.64.1.20", DropNoRoute}, // unknown source prefix
		{"192.168.0.50", "100.64.9.9", DropACL}, // not a local destination
		{"192.168.0.50", "10.0.0.20", DropACL},  // real addresses are not on the wire
		{"100.100.0.2", "100.100.0.1", Pass},    // overlay
		{"100.100.0.2", "100.64.1.20", DropNoRoute},
	})
}

func TestACLOff(t *testing.T) {
	cfg := vpcConfig()
	cfg.ACL = false
	tab := mustCompile(t, cfg)
	checkACL(t, tab, "out", (*Table).Outbound, []aclCase{
		{"10.0.0.20", "100.64.2.10", Pass},
		{"10.9.9.9", "8.8.8.8", Pass},
	})
	checkACL(t, tab, "in", (*Table).Inbound, []aclCase{
		{"8.8.8.8", "100.64.1.20", Pass},
	})
	runCases(t, tab, (*Table).Outbound, []xcase{
		xcaseOf("still translated", hdr{src: "10.0.0.20", dst: "8.8.8.8", proto: protoTCP}, tcpSeg(1, 2, 0x10, nil, payload), "100.64.1.20", "8.8.8.8"),
	})
}

func TestACLIPv6(t *testing.T) {
	p := make([]byte, 60)
	p[0] = 0x60
	for _, acl := range []bool{true, false} {
		cfg := vpcConfig()
		cfg.ACL = acl
		tab := mustCompile(t, cfg)
		want := Pass
		if acl {
			want = DropACL
		}
		for dir, f := range map[string]func(*Table, []byte) Verdict{"out": (*Table).Outbound, "in": (*Table).Inbound} {
			q := bytes.Clone(p)
			if v := f(tab, q); v != want || !bytes.Equal(p, q) {
				t.Errorf("acl %v %s: %v, want %v untouched", acl, dir, v, want)
			}
		}
	}
}

func TestProjectSet(t *testing.T) {
	s := newProjectSet(130)
	if s.only() != -1 {
		t.Error("empty set has one project")
	}
	s.add(129)
	if s.only() != 129 {
		t.Errorf("only %d, want 129", s.only())
	}
	s.add(3)
	if s.only() != -1 {
		t.Error("two projects, only() found one")
	}
	o := newProjectSet(130)
	o.add(64)
	if s.intersects(o) {
		t.Error("disjoint sets intersect")
	}
	o.add(129)
	if !s.intersects(o) {
		t.Error("sets sharing 129 do not intersect")
	}
}
