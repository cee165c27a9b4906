package lab

import "fmt"

// Partition makes the internet drop everything it routes between the
// segments a and b (e.g. "198.51.100.0/24" and "203.0.113.0/24"), both
// ways, until heal is called. Hosts inside one segment still reach each
// other: the segment is one bridge.
func (l *Lab) Partition(a, b string) (heal func() error, err error) {
	inet, err := l.Internet()
	if err != nil {
		return nil, err
	}
	script := fmt.Sprintf(`add table ip partition
add chain ip partition forward { type filter hook forward priority 0; policy accept; }
add rule ip partition forward ip saddr %[1]s ip daddr %[2]s drop
add rule ip partition forward ip saddr %[2]s ip daddr %[1]s drop
`, a, b)
	if err := inet.nft(script); err != nil {
		return nil, err
	}
	return func() error { return inet.nft("delete table ip partition\n") }, nil
}
