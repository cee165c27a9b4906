#!/usr/bin/env bash
# Builds the release gateway binary: static (CGO_ENABLED=0), without local
# paths or symbols, with its version stamped in (`vpcmesh version`, status,
# vpcmesh_build_info).
#
#   cmd/release.sh [VERSION]     # default: git describe --tags --always --dirty
#
# Writes dist/vpcmesh-linux-amd64, prints its size, and fails unless it is
# statically linked (no ELF interpreter, no dynamic section).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
VERSION="${1:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}"
OUT=dist/vpcmesh-linux-amd64
mkdir -p dist
GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$OUT" ./cmd/vpcmesh

size=$(stat -c %s "$OUT")
echo "$OUT: version $VERSION, $size bytes ($(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1e6 }'))"

# Static: no PT_INTERP program header and no .dynamic section, read with
# Go's debug/elf so no binutils are needed.
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
cat >"$check/main.go" <<'GO'
package main

import (
	"debug/elf"
	"fmt"
	"os"
)

func main() {
	f, err := elf.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			fmt.Fprintf(os.Stderr, "%s: dynamically linked (%s)\n", os.Args[1], p.Type)
			os.Exit(1)
		}
	}
	fmt.Printf("%s: statically linked\n", os.Args[1])
}
GO
bin="$PWD/$OUT"
(cd "$check" && go run main.go "$bin")
