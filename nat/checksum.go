package nat

import (
	"encoding/binary"
	"math/bits"
)

// patch accumulates how 16-bit words covered by an Internet checksum changed,
// so that the checksum can be updated without reading the rest of the data
// (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')). A patch is a plain value: the
// zero patch is "nothing changed", and copying one copies the changes so far.
type patch uint32

// add16 records that a 16-bit word changed from old to new.
func (d *patch) add16(old, new uint16) {
	*d += patch(^old) + patch(new)
}

// add32 records that a 32-bit field at an even offset changed from old to new.
func (d *patch) add32(old, new uint32) {
	d.add16(uint16(old>>16), uint16(new>>16))
	d.add16(uint16(old), uint16(new))
}

// put32 writes v at b[0:4] and records the change.
func (d *patch) put32(b []byte, v uint32) {
	d.add32(binary.BigEndian.Uint32(b), v)
	binary.BigEndian.PutUint32(b, v)
}

// put16 writes v at b[0:2], which lies at an even offset, and records the change.
func (d *patch) put16(b []byte, v uint16) {
	d.add16(binary.BigEndian.Uint16(b), v)
	binary.BigEndian.PutUint16(b, v)
}

// putOdd16 writes v at b[0:2], which lies at an odd offset of the checksummed
// data, and records the change: there each byte falls into the other half of
// its 16-bit word, so the word's contribution is byte-swapped.
func (d *patch) putOdd16(b []byte, v uint16) {
	old := binary.BigEndian.Uint16(b)
	d.add16(bits.ReverseBytes16(old), bits.ReverseBytes16(v))
	binary.BigEndian.PutUint16(b, v)
}

// sum returns checksum hc updated for the recorded changes.
func (d patch) sum(hc uint16) uint16 {
	s := uint32(^hc) + uint32(d)
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return ^uint16(s)
}

// udpSum is sum for a UDP checksum: 0 means the sender sent none and stays
// 0; a computed 0 is sent as 0xffff, its other one's complement form.
func (d patch) udpSum(hc uint16) uint16 {
	if hc == 0 {
		return 0
	}
	if s := d.sum(hc); s != 0 {
		return s
	}
	return 0xffff
}

// apply updates the checksum stored at b[0:2].
func (d patch) apply(b []byte) {
	binary.BigEndian.PutUint16(b, d.sum(binary.BigEndian.Uint16(b)))
}

// applyUDP updates the UDP checksum stored at b[0:2].
func (d patch) applyUDP(b []byte) {
	binary.BigEndian.PutUint16(b, d.udpSum(binary.BigEndian.Uint16(b)))
}
