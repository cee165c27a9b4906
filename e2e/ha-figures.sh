#!/usr/bin/env bash
# The HA figures (docs/guides/ha.md, Measured): ping gaps over N rounds of
# kill -9, clean stop and failback with default settings in the LAN HA lab,
# probe packets per second measured there, and computed for larger meshes.
# As root. Usage: e2e/ha-figures.sh [rounds, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
e2e/setup.sh
export PATH="$PATH:/usr/local/go/bin"
go test -count=1 -run 'TestProbeRateScales' -v ./mesh | grep -E 'liveness_test|ok|FAIL'
VPCMESH_HA_RUNS="${1:-10}" go test -count=1 -timeout 60m -run 'TestHAFigures' -v ./e2e | grep -E 'hafigures_test|^(ok|FAIL|---)'
