#!/usr/bin/env bash
# The demo: builds the lab, starts the gateways, shows the scenario working,
# tears everything down. Extra arguments go to `vpcmesh-demo` (e.g. --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
e2e/setup.sh
export PATH="$PATH:/usr/local/go/bin"
mkdir -p bin
go build -o bin/vpcmesh ./cmd/vpcmesh
go build -o bin/vpcmesh-demo ./cmd/vpcmesh-demo
exec bin/vpcmesh-demo --vpcmesh bin/vpcmesh "$@"
