#!/usr/bin/env bash
# Installs what the demo and the test suite need on a Debian machine, as
# root: the lab's tools from apt, the Go modules, and the reference
# wireguard-go binary the tests compare against. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "setup: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root: the lab creates network namespaces"

# tool → Debian package
declare -A pkgs=(
  [ip]=iproute2 [nft]=nftables [ping]=iputils-ping [traceroute]=traceroute
  [wg]=wireguard-tools [iperf3]=iperf3 [openvpn]=openvpn [conntrack]=conntrack
  [sysctl]=procps [git]=git [systemd-analyze]=systemd [dot]=graphviz
  [lintian]=lintian [cloud-init]=cloud-init [dig]=bind9-dnsutils
  # dnsmasq-base: the binary alone; the dnsmasq package would start a
  # resolver on this machine.
  [dnsmasq]=dnsmasq-base
)
# cloud-init only checks the EC2 user-data example here: disabled before it is
# installed, so that it never configures this machine at boot.
if ! command -v cloud-init >/dev/null 2>&1; then
  mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled
fi
missing=()
for tool in "${!pkgs[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${pkgs[$tool]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || die "Go 1.26 or newer is needed (https://go.dev/doc/install)"
go mod download

# The reference wireguard-go, at the version vpcmesh embeds, so that the
# comparison is of the same WireGuard code.
wgver=$(go list -m -f '{{.Version}}' golang.zx2c4.com/wireguard)
gobin=$(go env GOPATH)/bin
if [ ! -x "$gobin/wireguard" ] || [ "$(cat "$gobin/.wireguard-version" 2>/dev/null)" != "$wgver" ]; then
  echo "setup: building reference wireguard-go $wgver"
  go install "golang.zx2c4.com/wireguard@$wgver"
  echo "$wgver" > "$gobin/.wireguard-version"
fi
