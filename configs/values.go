package configs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// isLabel says whether s is a DNS label: names end up in DNS-like places
// (gossip records, status, log keys), so they follow its rule.
func isLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkIfname applies the kernel's rule for interface names
// (dev_valid_name): under 16 bytes, not . or .., no '/', ':' or spaces.
func checkIfname(s string) error {
	switch {
	case s == "":
		return errors.New("required")
	case len(s) > 15:
		return fmt.Errorf("%q is longer than 15 bytes", s)
	case s == "." || s == "..":
		return fmt.Errorf("%q is not an interface name", s)
	case strings.ContainsFunc(s, badIfnameRune):
		return fmt.Errorf("%q has '/', ':', a space or a control character", s)
	}
	return nil
}

func badIfnameRune(r rune) bool {
	return r == '/' || r == ':' || unicode.IsSpace(r) || unicode.IsControl(r)
}

// checkHostPort accepts host:port where host is an IP address or a DNS
// name, as peers' endpoints and join addresses are written.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var aerr *net.AddrError
		if errors.As(err, &aerr) {
			err = errors.New(aerr.Err)
		}
		return fmt.Errorf("%q is not host:port: %v", s, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' {
		return fmt.Errorf("%q: port %q is not 1..65535", s, port)
	}
	if _, err := netip.ParseAddr(host); err != nil && !isHostname(host) {
		return fmt.Errorf("%q: host %q is neither an IP address nor a DNS name", s, host)
	}
	return nil
}

// isHostname checks the shape of a DNS name (RFC 1123), allowing one
// trailing dot; an all-numeric last label would be a mistyped address.
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if !isHostLabel(l) {
			return false
		}
	}
	return strings.ContainsFunc(labels[len(labels)-1], func(r rune) bool { return r < '0' || r > '9' })
}

func isHostLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range []byte(l) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkPublicKey accepts a WireGuard key as `wg pubkey` prints it: the
// padded standard base64 of 32 bytes, nothing else (the decoder alone
// would skip newlines).
func checkPublicKey(s string) error {
	if s == "" {
		return errors.New("required")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 32 || len(s) != 44 {
		return fmt.Errorf("%q is not a WireGuard public key (the base64 of 32 bytes, as `wg pubkey` prints)", s)
	}
	return nil
}
