#!/usr/bin/env bash
# The 1,000-gateway figures (docs/ARCHITECTURE.md, Gossip at scale): N gateways'
# gossip in one process on memberlist's in-memory network (every record
# everywhere after the last join and after one late join, record updates,
# steady-state bytes and CPU per gateway, heap per gateway), then, as root,
# 999 WireGuard peers on a real TUN (apply time, a one-peer change, memory
# per peer). Root is needed only for the second part.
# Usage: e2e/gossip-figures.sh [gateways, default 1000] [started|seeded]
#   started (default): all start together, each joining through the first.
#   seeded: every gateway holds every record before the joins, as in a
#   mesh that has run a while; skips the mass start's record storm.
# N gateways in one process need about N x 0.7 ms of CPU per second once up,
# several times that while joins settle. On 2 cores: 200 started together
# take ~4 minutes, 400 seeded ~6; 1000 seeded join in ~22 minutes and then
# starve: their memberlists miss the 500 ms probe timeout and declare each
# other dead. VPCMESH_SCALE_PROBES=k makes the probe period and timeout k
# times longer for the run (the figures then say so).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
n="${1:-1000}"
mode="${2:-started}"
log=$(mktemp /tmp/gossip-figures.XXXXXX.log)
if ! VPCMESH_SCALE="$n" VPCMESH_SCALE_START="$mode" go test -count=1 -timeout 120m \
  -run '^TestGossipFiguresAtScale$' -v ./discovery >"$log" 2>&1; then
  tail -n 40 "$log"
  echo "gossip-figures: the gossip test failed; the whole log is $log" >&2
  exit 1
fi
grep -E '^ +scalefigures_test\.go' "$log" | sed -E 's/^ +scalefigures_test\.go:[0-9]+: /gossip: /'
if [ "$(id -u)" != 0 ]; then
  echo "wireguard: 999 peers on a real TUN need root; run as root for those figures"
  rm -f "$log"
  exit 0
fi
if ! go test -count=1 -timeout 5m -run '^TestSetPeers999OnRealTUN$' -v ./tunnel >"$log" 2>&1 ||
  ! go test -count=1 -timeout 5m -run '^$' -bench '^BenchmarkSetPeers999$' -benchtime 20x ./tunnel >>"$log" 2>&1; then
  tail -n 40 "$log"
  echo "gossip-figures: the WireGuard test failed; the whole log is $log" >&2
  exit 1
fi
grep -E '^ +scale_test\.go' "$log" | sed -E 's/^ +scale_test\.go:[0-9]+: /wireguard: /'
grep -E '^BenchmarkSetPeers999' "$log" | awk '{ printf "wireguard: %s %.1f ms per SetPeers\n", $1, $3 / 1e6 }'
rm -f "$log"
