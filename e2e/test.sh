#!/usr/bin/env bash
# The whole test suite: formatting, vet, unit tests, and the network-
# namespace tier (needs root). Prints go test's summary lines.
set -euo pipefail
cd "$(dirname "$0")/.."
e2e/setup.sh
export PATH="$PATH:/usr/local/go/bin"

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[ -z "$unformatted" ] || { echo "gofmt would change:"; echo "$unformatted"; exit 1; }
go vet ./...

start=$(date +%s)
# One package at a time: the namespace tier and the 200-gateway gossip test
# time what they measure, and on 2 cores they starve each other otherwise.
go test -count=1 -p 1 -timeout 25m "$@" ./...
echo "test suite took $(( $(date +%s) - start ))s"
