#!/usr/bin/env bash
# The throughput comparison (docs/ARCHITECTURE.md, Measuring; issue 4): one
# TCP stream with iperf3 over raw veth, the reference wireguard-go, vpcmesh
# with translation and the ACL on the path, and OpenVPN, in interleaved
# rounds; prints every run, the medians and the ratio vpcmesh / reference
# wireguard-go. As root.
# Arguments go to the program, e.g.: e2e/throughput.sh -rounds 9 -seconds 10
set -euo pipefail
cd "$(dirname "$0")/.."
e2e/setup.sh
export PATH="$PATH:/usr/local/go/bin"
mkdir -p bin
go build -o bin/vpcmesh ./cmd/vpcmesh
go build -o bin/throughput ./e2e/throughput
exec bin/throughput -vpcmesh bin/vpcmesh "$@"
