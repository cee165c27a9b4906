#!/usr/bin/env bash
# Builds the peers that e2e/throughput compares vpcmesh with beyond WireGuard
# and OpenVPN, as root: Nebula (nebula, nebula-cert) and Tailscale (tailscaled,
# tailscale) with headscale as the lab's control server. Each is built from
# the Go module proxy at a pinned version into $(go env GOPATH)/bin, where the
# throughput program looks first; the version is recorded beside the binaries
# so that a second run rebuilds only what changed. Not part of e2e/setup.sh:
# CI does not need these legs, and the builds take minutes on 2 cores.
set -euo pipefail

die() { echo "setup-peers: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root: the lab creates network namespaces"

export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || die "Go 1.26 or newer is needed"

# The newest versions that build here with Go 1.26.8: nebula v1.12.0 needs
# Go 1.27.3 and v1.11.2 a module the proxy does not serve
# (github.com/DefinedNet/netlink); tailscale.com v1.104 needs Go 1.27;
# headscale v0.29.3 declares go 1.26.5 (the proxy refuses v0.29.4, v0.30.0).
nebula_ver=v1.11.1
tailscale_ver=v1.102.5
headscale_ver=v0.29.3

gobin=$(go env GOPATH)/bin

# build NAME VERSION BINARIES... PACKAGES...: go install the packages at
# VERSION unless every binary is there and NAME's recorded version matches.
build() {
  local name=$1 ver=$2 stamp="$gobin/.$1-version"
  shift 2
  local bins=() pkgs=()
  for a in "$@"; do
    case $a in
      */*) pkgs+=("$a@$ver") ;;
      *) bins+=("$a") ;;
    esac
  done
  local ok=1
  for b in "${bins[@]}"; do [ -x "$gobin/$b" ] || ok=0; done
  if [ $ok = 1 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ver" ]; then
    return
  fi
  echo "setup-peers: building $name $ver (${bins[*]})"
  if [ "$name" = headscale ]; then
    # `go install pkg@version` first asks the proxy for the module's version
    # list (for deprecation notices), which it refuses for headscale. A
    # throw-away module that requires headscale at $ver resolves the same
    # versions as headscale's own go.mod (it has no replace directives).
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && go mod init peers.local/build >/dev/null 2>&1 &&
      GOFLAGS=-mod=mod go get "${pkgs[@]}" &&
      go build -o "$gobin/" "${pkgs[@]%@*}") || { rm -rf "$tmp"; die "building $name $ver failed"; }
    rm -rf "$tmp"
  else
    # Outside any module, so that no go.mod is read or touched.
    (cd / && GOFLAGS=-mod=mod go install "${pkgs[@]}")
  fi
  echo "$ver" > "$stamp"
}

build nebula "$nebula_ver" nebula nebula-cert \
  github.com/slackhq/nebula/cmd/nebula github.com/slackhq/nebula/cmd/nebula-cert
build tailscale "$tailscale_ver" tailscaled tailscale \
  tailscale.com/cmd/tailscaled tailscale.com/cmd/tailscale
build headscale "$headscale_ver" headscale \
  github.com/juanfont/headscale/cmd/headscale
