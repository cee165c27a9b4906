#!/bin/sh
# vpcmesh prerm: on removal (not on upgrade) stops a running gateway, as
# Debian's dh_installsystemd would: its SIGTERM removes the routes and the
# interface it installed, which would otherwise outlive the removed binary
# and unit. Disables nothing; an upgrade leaves the running gateway to the
# admin (`systemctl restart vpcmesh`).
set -e
case "$1" in
remove | 0) # dpkg's "remove", rpm's count of versions left
	if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
		# deb-systemd-invoke honours policy-rc.d (image builds); an rpm
		# system has only systemctl.
		if command -v deb-systemd-invoke >/dev/null 2>&1; then
			deb-systemd-invoke stop vpcmesh.service || true
		else
			systemctl stop vpcmesh.service || true
		fi
	fi
	;;
esac
exit 0
