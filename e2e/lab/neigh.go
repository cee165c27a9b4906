package lab

import (
	"context"
	"encoding/json"
	"fmt"
)

// MAC is the hardware address of an interface in the namespace.
func (n *NS) MAC(ifname string) (string, error) {
	out, err := run("ip", "-n", n.Name, "-j", "link", "show", "dev", ifname)
	if err != nil {
		return "", err
	}
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return "", fmt.Errorf("%s: ip link show %s: %q %v", n.Role, ifname, out, err)
	}
	return links[0].Address, nil
}

// Neighbour is the namespace's ARP entry for addr: the MAC it sends to and
// the entry's state ("" for both when there is none).
func (n *NS) Neighbour(ctx context.Context, addr string) (mac, state string, err error) {
	out, err := n.Exec(ctx, "ip", "-j", "-4", "neigh", "show", addr)
	if err != nil {
		return "", "", err
	}
	var entries []struct {
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		return "", "", fmt.Errorf("%s: ip neigh show %s: %q: %w", n.Role, addr, out, err)
	}
	if len(entries) == 0 {
		return "", "", nil
	}
	if len(entries[0].State) > 0 {
		state = entries[0].State[0]
	}
	return entries[0].LLAddr, state, nil
}

// HasAddr says whether an interface of the namespace holds addr.
func (n *NS) HasAddr(ifname, addr string) bool { return n.hasAddr(ifname, addr) }
