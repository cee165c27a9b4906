package cert

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Validate checks a body's fields on their own, without any key: version
// and kind known, names DNS labels, keys of the right size, an IPv4
// overlay address for a gateway, NotBefore before NotAfter, exports inside
// their site's CIDRs with a wire prefix of the same length. Issuer may be
// empty in a body not yet signed. The error wraps ErrMalformed and names
// every bad field, on one line.
func (b Body) Validate() error {
	var probs []string
	add := func(field, format string, args ...any) {
		probs = append(probs, field+": "+fmt.Sprintf(format, args...))
	}
	if b.Version != Version {
		add("v", "version %d, this vpcmesh reads %d", b.Version, Version)
	}
	label(add, "mesh", b.Mesh)
	label(add, "name", b.Name)
	if len(b.SigningKey) != 32 {
		add("signing_key", "%d bytes, want an ed25519 public key (32)", len(b.SigningKey))
	}
	switch {
	case b.NotBefore.IsZero() || b.NotAfter.IsZero():
		add("not_before", "validity window unset")
	case !b.NotBefore.Before(b.NotAfter):
		add("not_after", "%s is not after not_before %s", stamp(b.NotAfter), stamp(b.NotBefore))
	}
	if b.Issuer != "" && !isKeyID(b.Issuer) {
		add("issuer", "%q is not a key id (32 hex digits)", b.Issuer)
	}
	switch b.Kind {
	case KindGateway:
		b.validateGateway(add)
	case KindAuthority:
		b.validateAuthority(add)
	default:
		add("kind", "%q is neither %q nor %q", b.Kind, KindGateway, KindAuthority)
	}
	if len(probs) > 0 {
		// One line, whatever the number of problems: it ends up in logs.
		return fmt.Errorf("%w: %s", ErrMalformed, strings.Join(probs, "; "))
	}
	return nil
}

type adder func(field, format string, args ...any)

func (b Body) validateGateway(add adder) {
	if k, err := base64.StdEncoding.Strict().DecodeString(b.WireGuardKey); err != nil || len(k) != 32 {
		add("wg_key", "%q is not a WireGuard public key (the base64 of 32 bytes)", b.WireGuardKey)
	}
	switch {
	case !b.Overlay.IsValid():
		add("overlay", "required for a gateway")
	case !b.Overlay.Is4():
		add("overlay", "%s is not an IPv4 address", b.Overlay)
	}
	names := map[string]bool{}
	for i, s := range b.Sites {
		f := fmt.Sprintf("sites[%d]", i)
		label(add, f+".name", s.Name)
		if names[s.Name] {
			add(f+".name", "duplicate site %q", s.Name)
		}
		names[s.Name] = true
		if len(s.CIDRs) == 0 {
			add(f+".cidrs", "at least one CIDR required")
		}
		for j, p := range s.CIDRs {
			prefix4(add, fmt.Sprintf("%s.cidrs[%d]", f, j), p)
		}
		if s.Priority < 1 || s.Priority > 1000 {
			add(f+".priority", "%d is out of range 1..1000", s.Priority)
		}
		for j, e := range s.Exports {
			fe := fmt.Sprintf("%s.exports[%d]", f, j)
			label(add, fe+".project", e.Project)
			cidrOK := prefix4(add, fe+".cidr", e.CIDR)
			wireOK := prefix4(add, fe+".wire", e.Wire)
			if cidrOK && !insideAny(e.CIDR, s.CIDRs) {
				add(fe+".cidr", "%s is not inside the site's cidrs", e.CIDR)
			}
			if cidrOK && wireOK && e.Wire.Bits() != e.CIDR.Bits() {
				add(fe+".wire", "length /%d differs from cidr %s", e.Wire.Bits(), e.CIDR)
			}
		}
	}
	for i, s := range b.Sites {
		for j, p := range s.Members {
			label(add, fmt.Sprintf("sites[%d].members[%d]", i, j), p)
		}
	}
	if len(b.Projects) > 0 || len(b.Prefixes) > 0 || len(b.Wires) > 0 || len(b.NamePrefixes) > 0 || len(b.SitePrefixes) > 0 || len(b.Overlays) > 0 {
		add("projects", "a gateway certificate carries no authority (projects, prefixes, wires, names, sites, overlays)")
	}
}

func (b Body) validateAuthority(add adder) {
	if b.WireGuardKey != "" || b.Overlay.IsValid() || len(b.Sites) > 0 {
		add("kind", "an authority certificate carries no gateway fields (wg_key, overlay, sites)")
	}
	if len(b.Projects) == 0 {
		add("projects", "an authority needs at least one project")
	}
	for i, p := range b.Projects {
		f := fmt.Sprintf("projects[%d]", i)
		label(add, f, p)
		if slices.Contains(b.Projects[:i], p) {
			add(f, "duplicate project %q", p)
		}
	}
	if len(b.Prefixes) == 0 {
		add("prefixes", "an authority needs at least one prefix")
	}
	for i, p := range b.Prefixes {
		prefix4(add, fmt.Sprintf("prefixes[%d]", i), p)
	}
	for i, p := range b.Wires {
		prefix4(add, fmt.Sprintf("wires[%d]", i), p)
	}
	for i, p := range b.Overlays {
		prefix4(add, fmt.Sprintf("overlays[%d]", i), p)
	}
	for _, f := range []struct {
		field    string
		prefixes []string
	}{{"name_prefixes", b.NamePrefixes}, {"site_prefixes", b.SitePrefixes}} {
		for i, p := range f.prefixes {
			if p == "" || !isLabel(p+"x") {
				add(fmt.Sprintf("%s[%d]", f.field, i), "%q is not the start of a name (a-z, 0-9, '-')", p)
			}
		}
	}
}

// label checks a DNS label, the rule configs applies to every name.
func label(add adder, field, s string) {
	if !isLabel(s) {
		add(field, "%q is not a valid name: 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'", s)
	}
}

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

// prefix4 checks that p is an IPv4 prefix without host bits, as configs
// accepts them; the mesh is IPv4 inside.
func prefix4(add adder, field string, p netip.Prefix) bool {
	switch {
	case !p.IsValid():
		add(field, "required: a CIDR")
	case !p.Addr().Is4():
		add(field, "%s is not an IPv4 prefix", p)
	case p.Masked() != p:
		add(field, "%s has host bits set", p)
	default:
		return true
	}
	return false
}

func isKeyID(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 16 && hex.EncodeToString(b) == s
}

// inside says whether p lies within q.
func inside(p, q netip.Prefix) bool {
	return q.Bits() <= p.Bits() && q.Contains(p.Addr())
}

func insideAny(p netip.Prefix, qs []netip.Prefix) bool {
	return slices.ContainsFunc(qs, func(q netip.Prefix) bool { return inside(p, q) })
}

func stamp(t time.Time) string {
	return t.Format(time.RFC3339)
}
