#!/bin/sh
# vpcmesh postinst. Enables and starts nothing: the gateway needs
# /etc/vpcmesh/vpcmesh.toml (its keys, peers and sites) before it can run,
# and starting it changes the host's routes and forwarding, so the admin
# runs `systemctl enable --now vpcmesh` once the config is in place. Only
# tells a running systemd that the unit file is there (or changed).
set -e
if [ "$1" = configure ] || [ "$1" = 1 ] || [ "$1" = 2 ]; then
	# Not when installing into another root (dpkg --root,
	# --force-script-chrootless): the running systemd is not that root's.
	if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
	fi
fi
exit 0
