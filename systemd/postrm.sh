#!/bin/sh
# vpcmesh postrm: tells a running systemd that the unit file is gone (prerm
# stopped the gateway). /etc/vpcmesh keeps whatever the admin put there
# (config, keys) on remove and on purge: dpkg and rpm remove only an empty
# directory.
set -e
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
