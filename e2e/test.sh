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
go test -count=1 -timeout 25m "$@" ./...
echo "test suite took $(( $(date +%s) - start ))s"
