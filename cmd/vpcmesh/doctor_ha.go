package main

// The floating addresses of HA sites: `doctor` shows where each is held and
// whether that agrees with the running gateway.

import (
	"context"
	"fmt"
	"time"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/mesh"
	"github.com/vpcmesh/vpcmesh/routing"
	"github.com/vpcmesh/vpcmesh/routing/doctor"
)

// virtualChecks are one check per site with a virtual_address.
func virtualChecks(cfg *configs.Config) []doctor.Check {
	var checks []doctor.Check
	for _, s := range cfg.Sites {
		if s.VirtualAddress.IsValid() {
			checks = append(checks, func(ctx context.Context) doctor.Finding { return virtualFinding(ctx, cfg.Node.ControlSocket, s) })
		}
	}
	return checks
}

func virtualFinding(ctx context.Context, socket string, s configs.Site) doctor.Finding {
	addr := s.VirtualAddress
	f := doctor.Finding{Name: "virtual address " + addr.String()}
	iface := s.VirtualInterface
	if iface == "" {
		var err error
		if iface, err = routing.InterfaceFor(addr); err != nil {
			f.State = err.Error()
			f.Fix = fmt.Sprintf("give this machine an address in %s's LAN, or set site.virtual_interface", addr)
			return f
		}
	}
	held, err := routing.HasAddress(iface, addr)
	if err != nil {
		f.State = err.Error()
		return f
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, serr := mesh.FetchStatus(ctx, socket)
	var v *mesh.VirtualStatus
	for i := range st.Virtual {
		if st.Virtual[i].Site == s.Name {
			v = &st.Virtual[i]
		}
	}
	release := fmt.Sprintf("ip address del %s/32 dev %s", addr, iface)
	switch {
	case serr != nil && held:
		f.State = "held on " + iface + ", but no gateway answers at " + socket
		f.Fix = "start the gateway (it releases the address unless it is active), or: " + release
	case serr != nil:
		f.OK, f.State = true, "not held here; the gateway is not running"
	case v == nil:
		f.State = "the running gateway does not manage it: its config differs from this file"
		f.Fix = "reload the gateway (systemctl reload vpcmesh)"
	case v.Error != "":
		f.State = v.Error
	case held && v.Held:
		f.OK, f.State = true, "held here on "+iface+": this gateway is the site's active member"
	case !held && !v.Held:
		f.OK, f.State = true, "held by "+orDash(v.Holder)+", not here"
	case held:
		f.State = "held on " + iface + ", but the gateway is not the active member (" + orDash(v.Holder) + " is)"
		f.Fix = release
	default:
		f.State = "not on " + iface + ", though the gateway holds it"
		f.Fix = "the gateway puts it back at its next sync; if not, look for another process removing it"
	}
	return f
}
