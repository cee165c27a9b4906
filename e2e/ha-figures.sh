#!/usr/bin/env bash
# The HA figures (docs/guides/ha.md, Measured): ping gaps over N rounds of
# kill -9, clean stop and failback with default settings in the LAN HA lab,
# probe packets per second measured there, and computed for larger meshes.
# As root. Usage: e2e/ha-figures.sh [rounds, default 10]; about 50 s a round.
set -euo pipefail
cd "$(dirname "$0")/.."
e2e/setup.sh
export PATH="$PATH:/usr/local/go/bin"
go test -count=1 -run 'TestProbeRateScales' -v ./mesh | grep -E 'liveness_test|ok|FAIL'
log=$(mktemp /tmp/ha-figures.XXXXXX.log)
if ! VPCMESH_HA_RUNS="${1:-10}" go test -count=1 -timeout 60m -run 'TestHAFigures' -v ./e2e >"$log" 2>&1; then
  tail -n 80 "$log"
  echo "ha-figures: failed; the whole log is $log" >&2
  exit 1
fi
grep -E 'hafigures_test|^(ok|---)' "$log"
rm -f "$log"
