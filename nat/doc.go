// Package nat is the packet path between the kernel TUN and wireguard-go:
// stateless 1:1 prefix translation, MSS clamping and the per-project ACL,
// packed into a tun.Device wrapper.
//
// A Config is plain data (the mesh computes it); Compile validates it and
// builds a Table of longest-prefix lookups. A Wrapper sits between the inner
// TUN and wireguard-go and runs every packet through the Table in place:
// Table.Outbound on Read (kernel → mesh) and Table.Inbound on Write
// (mesh → kernel). SetTable swaps the Table atomically on a reload.
//
// Only IPv4 is translated. IPv6 packets pass untouched when the ACL is off
// and are dropped when it is on, since no rule can name them yet.
package nat
