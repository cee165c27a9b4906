#!/usr/bin/env bash
# Builds the gateway's .deb and .rpm (amd64) with nfpm, run as a Go tool
# pinned in go.mod (`go tool nfpm`, from the module proxy like any module).
#
#   systemd/package.sh [VERSION]     # default: git describe --tags --always --dirty
#   DIST=/tmp/out systemd/package.sh v1.2.3
#
# The binary is the release build (cmd/release.sh: static, -trimpath,
# -s -w, version stamped); packages go to $DIST (default dist/). The binary
# reports VERSION as given; the packages carry it without a leading "v" and
# with "-" turned into "+" (dpkg and rpm both accept that), e.g.
# v1.2.3-4-gabc → 1.2.3+4+gabc.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

VERSION="${1:-${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}}"
DIST="${DIST:-dist}"
mkdir -p "$DIST"
DIST="$(cd "$DIST" && pwd)"

if [ -f cmd/release.sh ]; then
	# Writes dist/vpcmesh-linux-amd64 and checks that it is static.
	bash cmd/release.sh "$VERSION"
	bin="$PWD/dist/vpcmesh-linux-amd64"
else
	bin="$DIST/vpcmesh"
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -trimpath \
		-ldflags "-s -w -X main.version=$VERSION" -o "$bin" ./cmd/vpcmesh
fi

pkgver="${VERSION#v}"
pkgver="${pkgver//-/+}"
# A bare commit hash or "devel" (no tag yet) sorts before any release.
[[ "$pkgver" =~ ^[0-9]+\. ]] || pkgver="0~$pkgver"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
# The unit names the binary where the README's manual install puts it;
# the package puts it in /usr/bin.
sed 's#/usr/local/bin/vpcmesh#/usr/bin/vpcmesh#g' systemd/vpcmesh.service >"$stage/vpcmesh.service"
# A one-entry Debian changelog, dated by the last commit so that the same
# tree gives the same package.
maintainer=$(sed -n 's/^maintainer: *//p' systemd/nfpm.yaml)
when=$(git log -1 --format=%ct 2>/dev/null || date +%s)
cat >"$stage/changelog.Debian" <<CHANGELOG
vpcmesh ($pkgver-1) unstable; urgency=medium

  * vpcmesh $VERSION, built by systemd/package.sh.

 -- $maintainer  $(LC_ALL=C date -u -R -d "@$when")
CHANGELOG
gzip -9n "$stage/changelog.Debian"

export PKG_VERSION="$pkgver" VPCMESH_BIN="$bin" PKG_STAGE="$stage"
for packager in deb rpm; do
	go tool nfpm package --config systemd/nfpm.yaml --packager "$packager" --target "$DIST/" >&2
done

for f in "$DIST"/vpcmesh_"$pkgver"-1_amd64.deb "$DIST"/vpcmesh-"$pkgver"-1.x86_64.rpm; do
	[ -f "$f" ] || { echo "package.sh: $f was not made" >&2; exit 1; }
	size=$(stat -c %s "$f")
	echo "$f: $size bytes ($(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1e6 }'))"
done
