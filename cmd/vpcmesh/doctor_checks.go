package main

// The local checks of `vpcmesh doctor`. Each reads and changes nothing;
// cloud checks are appended to the same list by their own packages.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vpcmesh/vpcmesh/configs"
	"github.com/vpcmesh/vpcmesh/mesh"
	"github.com/vpcmesh/vpcmesh/routing"
	"github.com/vpcmesh/vpcmesh/routing/doctor"
)

// bootFix is how a kernel setting survives a reboot.
const bootFix = "; to keep it: install systemd/99-vpcmesh.conf in /etc/sysctl.d/"

// localDoctor lists the checks of this machine for the gateway configured
// in file. When the file does not load, the checks after it use the
// defaults (port, interface, MTU, control socket).
func localDoctor(file string) doctor.Doctor {
	cfg, err := configs.Load(file)
	checks := []doctor.Check{configCheck(file, err)}
	if err != nil {
		cfg = &configs.Config{Node: configs.Node{ListenPort: configs.DefaultListenPort,
			Interface: configs.DefaultInterface, ControlSocket: configs.DefaultControlSocket}}
	}
	checks = append(checks, forwardingCheck)
	checks = append(checks, rpFilterChecks(cfg)...)
	checks = append(checks, tunCheck, portCheck(cfg.Node), mtuCheck(cfg.Node.MTU))
	if err == nil {
		checks = append(checks, virtualChecks(cfg)...)
		checks = append(checks, dnsChecks(cfg)...)
		checks = append(checks, ec2Checks(cfg)...)
	}
	return doctor.Doctor{Checks: checks}
}

func configCheck(file string, err error) doctor.Check {
	return func(context.Context) doctor.Finding {
		f := doctor.Finding{Name: "config", OK: err == nil, State: file + " loads"}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			f.State, f.Fix = file+" does not exist", "write it from configs/examples/, or give -c FILE"
		case err != nil:
			first, _, _ := strings.Cut(err.Error(), "\n")
			f.State, f.Fix = "invalid: "+first, "vpcmesh check -c "+file+" lists every problem"
		}
		return f
	}
}

func forwardingCheck(context.Context) doctor.Finding {
	f := doctor.Finding{Name: "ip forwarding"}
	on, err := routing.Forwarding()
	switch {
	case err != nil:
		f.State = err.Error()
	case on:
		f.OK, f.State = true, "on ("+routing.ForwardingKey+"=1)"
	default:
		f.State = "off (" + routing.ForwardingKey + "=0)"
		f.Fix = "sysctl -w " + routing.ForwardingKey + "=1 (vpcmesh run sets it at start)" + bootFix
	}
	return f
}

// rpFilterChecks are one check per link the gateway forwards across.
func rpFilterChecks(cfg *configs.Config) []doctor.Check {
	links, err := mesh.ForwardingLinks(cfg)
	if err != nil {
		return []doctor.Check{func(context.Context) doctor.Finding {
			return doctor.Finding{Name: "rp_filter", State: "links unknown: " + err.Error()}
		}}
	}
	var checks []doctor.Check
	for _, l := range links {
		checks = append(checks, func(context.Context) doctor.Finding { return rpFilterFinding(l) })
	}
	return checks
}

func rpFilterFinding(link string) doctor.Finding {
	f := doctor.Finding{Name: "rp_filter " + link}
	r, err := routing.ReadRPFilter(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f.OK, f.State = true, link+" absent: vpcmesh run makes it loose if strict"
	case err != nil:
		f.State = err.Error()
	default:
		f.OK = r.Effective() != routing.RPFilterStrict
		f.State = fmt.Sprintf("%s (all=%d, %s=%d)", r.Mode(), r.All, link, r.Own)
		if !f.OK {
			f.Fix = "sysctl -w " + routing.RPFilterKey(link) + "=2 (vpcmesh run sets it at start)" + bootFix
		}
	}
	return f
}

func tunCheck(context.Context) doctor.Finding {
	const dev = "/dev/net/tun"
	f := doctor.Finding{Name: "tun device"}
	t, err := os.OpenFile(dev, os.O_RDWR, 0)
	switch {
	case err == nil:
		t.Close()
		f.OK, f.State = true, dev+" opens"
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV):
		f.State, f.Fix = dev+" missing", "modprobe tun; if still missing: mkdir -p /dev/net && mknod /dev/net/tun c 10 200"
	case errors.Is(err, fs.ErrPermission):
		f.State, f.Fix = dev+": permission denied", "run as root or with CAP_NET_ADMIN (systemd/vpcmesh.service grants it)"
	default:
		f.State = err.Error()
	}
	return f
}

// portCheck binds the WireGuard port; when that fails because it is in
// use, it asks the control socket whether a vpcmesh gateway holds it.
func portCheck(node configs.Node) doctor.Check {
	return func(ctx context.Context) doctor.Finding {
		port := strconv.Itoa(node.ListenPort)
		f := doctor.Finding{Name: "udp port " + port}
		c, err := net.ListenPacket("udp", ":"+port)
		switch {
		case err == nil:
			c.Close()
			f.OK, f.State = true, "free"
		case errors.Is(err, syscall.EADDRINUSE):
			return portInUse(ctx, f, node)
		case errors.Is(err, syscall.EACCES):
			f.State, f.Fix = "binding needs privilege", "run as root or with CAP_NET_BIND_SERVICE, or set node.listen_port >= 1024"
		default:
			f.State = err.Error()
		}
		return f
	}
}

func portInUse(ctx context.Context, f doctor.Finding, node configs.Node) doctor.Finding {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := mesh.FetchStatus(ctx, node.ControlSocket)
	if err == nil && st.ListenPort == node.ListenPort {
		f.OK = true
		f.State = "in use by the running vpcmesh gateway " + st.Node
		return f
	}
	f.State = "in use by another process (no vpcmesh gateway on it answers at " + node.ControlSocket + ")"
	if err == nil {
		f.State = fmt.Sprintf("in use by another process (vpcmesh gateway %s listens on %d)", st.Node, st.ListenPort)
	}
	f.Fix = fmt.Sprintf("find it with: ss -ulpn 'sport = :%d'; stop it or set node.listen_port", node.ListenPort)
	return f
}

// mtuCheck compares the tunnel MTU, as `run` derives it, with the underlay
// link's: the tunnel's packets plus WireGuard's overhead must fit.
func mtuCheck(configured int) doctor.Check {
	return func(context.Context) doctor.Finding {
		f := doctor.Finding{Name: "mtu"}
		link, under, err := routing.Underlay()
		mtu, overhead := mesh.TunnelMTU(configured, under), mesh.WireGuardOverhead
		source := "derived"
		if configured > 0 {
			source = "node.mtu"
		}
		switch {
		case err != nil:
			f.State = err.Error()
		case under == 0:
			f.OK, f.State = true, fmt.Sprintf("no default route: tunnel %d (the fallback)", mtu)
		case mtu+overhead <= under:
			f.OK, f.State = true, fmt.Sprintf("tunnel %d (%s) + %d overhead fits %s %d", mtu, source, overhead, link, under)
		default:
			f.State = fmt.Sprintf("tunnel %d (%s) + %d overhead exceeds %s %d", mtu, source, overhead, link, under)
			f.Fix = fmt.Sprintf("ip link set dev %s mtu %d", link, mtu+overhead)
			if fit := under - overhead; configured > 0 && fit >= 1280 {
				f.Fix = fmt.Sprintf("set node.mtu = %d or less, or remove it to derive it", fit)
			}
		}
		return f
	}
}
