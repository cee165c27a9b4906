#!/usr/bin/env bash
# Relayed → direct (docs/ARCHITECTURE.md, Paths): runs the NAT-matrix test
# that turns a relayed pair's NAT endpoint-independent N times and prints how
# long after the change both ends went direct, with the median and maximum.
# As root. Usage: e2e/direct-figures.sh [runs, default 10]; about 45 s a run.
set -euo pipefail
cd "$(dirname "$0")/.."
e2e/setup.sh
export PATH="$PATH:/usr/local/go/bin"
log=$(mktemp /tmp/direct-figures.XXXXXX.log)
if ! go test -count="${1:-10}" -timeout 60m -run 'TestRelayFailoverAndGoDirect' -v ./e2e >"$log" 2>&1; then
  tail -n 80 "$log"
  echo "direct-figures: failed; the whole log is $log" >&2
  exit 1
fi
times=$(grep -o 'direct on both ends [0-9.]*m\?s later' "$log" |
  awk '{ v = $5; if (v ~ /ms$/) { sub(/ms$/, "", v); v /= 1000 } else sub(/s$/, "", v); print v }')
echo "$times" | awk '{ print "run " NR ": " $1 " s" }'
echo "$times" | sort -g | awk '{ x[NR] = $1 }
  END { m = (NR % 2) ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2
        printf "relayed -> direct after the NAT change: median %.2f s, max %.2f s (%d runs)\n", m, x[NR], NR }'
rm -f "$log"
