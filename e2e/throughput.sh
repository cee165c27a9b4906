#!/usr/bin/env bash
# The throughput comparison (docs/ARCHITECTURE.md, Measuring; issue 4): one
# TCP stream with iperf3 over raw veth, the reference wireguard-go, vpcmesh
# with translation and the ACL on the path, OpenVPN, Nebula and Tailscale
# (with headscale), in interleaved rounds; prints every run, the medians,
# every leg's ratios to the reference wireguard-go and the verdict on
# vpcmesh / reference. As root. The first run builds Nebula, Tailscale and
# headscale (e2e/setup-peers.sh), which takes minutes.
# Arguments go to the program, e.g.: e2e/throughput.sh -rounds 9 -seconds 10
# or, a fixed byte count per run: e2e/throughput.sh -rounds 5 -bytes 4G
set -euo pipefail
cd "$(dirname "$0")/.."
e2e/setup.sh
e2e/setup-peers.sh
export PATH="$PATH:/usr/local/go/bin"
mkdir -p bin
go build -o bin/vpcmesh ./cmd/vpcmesh
go build -o bin/throughput ./e2e/throughput
exec bin/throughput -vpcmesh bin/vpcmesh "$@"
