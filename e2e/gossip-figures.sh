#!/usr/bin/env bash
# The 1,000-gateway figures (docs/ARCHITECTURE.md, Gossip at scale): N gateways
# gossip in one process on memberlist's in-memory network (every record
# everywhere after the last join and after one late join, steady-state
# bytes and CPU per gateway, heap per gateway), then, as root, 999
# WireGuard peers on a real TUN (apply time, a one-peer change, memory per
# peer). Root is needed only for the second part.
# Usage: e2e/gossip-figures.sh [gateways, default 1000]; with
# VPCMESH_SCALE_START=seeded every gateway starts holding every record (a
# mesh restarting from its state files) before the joins. On 2 cores all
# gateways' memberlist rounds share the CPUs: 400 take about 5 min; 1000
# do not finish (the joins through one gateway time out past 800).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
n="${1:-1000}"
log=$(mktemp /tmp/gossip-figures.XXXXXX.log)
if ! VPCMESH_SCALE="$n" go test -count=1 -timeout 120m -run '^TestGossipFiguresAtScale$' -v ./discovery >"$log" 2>&1; then
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
