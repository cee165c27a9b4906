package lab

import (
	"os"
	"path/filepath"
)

// SetResolver makes addr the DNS server of programs run by Exec in the
// namespace: `ip netns exec` mounts /etc/netns/<name>/resolv.conf over
// /etc/resolv.conf. Close removes the file.
func (n *NS) SetResolver(addr string) error {
	dir := filepath.Join("/etc/netns", n.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	n.lab.addFile(dir) // removed after the file, once empty
	f := filepath.Join(dir, "resolv.conf")
	n.lab.addFile(f)
	return os.WriteFile(f, []byte("nameserver "+addr+"\noptions timeout:2 attempts:1\n"), 0o644)
}
