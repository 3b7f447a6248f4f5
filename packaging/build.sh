#!/usr/bin/env bash
# Builds fluentbit-go for Linux and packages it as .deb files.
#
#   packaging/build.sh [-o DIR] [ARCH...]
#
# ARCH is any of amd64, arm64, armhf (default: all three). Binaries for linux/amd64,
# linux/arm64, linux/arm GOARM=6 and GOARM=7 go to DIR/bin (default dist/bin), packages to
# DIR. armhf packages carry the GOARM=6 binary: Raspberry Pi OS armhf runs on ARMv6 boards
# (Pi Zero/1), where a GOARM=7 binary refuses to start.
#
# Reproducible: everything derives from the commit and SOURCE_DATE_EPOCH (default: the last
# commit's time); the same commit, Go toolchain and SOURCE_DATE_EPOCH give the same bytes.
# VERSION overrides the Debian version (default: <fluentbit.Version>~git<date>.<commit>).
#
# dpkg-deb rather than nfpm: it is Debian's own tool, already on every Debian machine, and the
# package is simple enough (one binary, one conffile, a unit, maintainer scripts) that a
# generator would add a dependency without removing work.
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist
if [ "${1:-}" = "-o" ]; then out=$2; shift 2; fi
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64 armhf)

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export TZ=UTC LC_ALL=C
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
base=$(sed -n 's/^var Version = "\([0-9][0-9.]*\).*"/\1/p' fluentbit.go)
VERSION=${VERSION:-${base}~git$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d).${commit}}
maintainer="fluentbit-go maintainers <fluentbit-go@users.noreply.github.com>"

mkdir -p "$out/bin"
gobuild() { # goarch goarm output
	CGO_ENABLED=0 GOOS=linux GOARCH=$1 GOARM=$2 go build -trimpath -buildvcs=false \
		-ldflags "-s -w -buildid= -X github.com/fluentbit-go/fluentbit-go.Version=$VERSION" \
		-o "$3" ./cmd/fluentbit
}
gobuild amd64 "" "$out/bin/fluentbit-go-linux-amd64"
gobuild arm64 "" "$out/bin/fluentbit-go-linux-arm64"
gobuild arm 6 "$out/bin/fluentbit-go-linux-armv6"
gobuild arm 7 "$out/bin/fluentbit-go-linux-armv7"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for arch in "${arches[@]}"; do
	case $arch in
	amd64) bin=fluentbit-go-linux-amd64 ;;
	arm64) bin=fluentbit-go-linux-arm64 ;;
	armhf) bin=fluentbit-go-linux-armv6 ;;
	*) echo "build.sh: unknown architecture $arch (amd64, arm64, armhf)" >&2; exit 2 ;;
	esac
	root=$work/$arch
	install -D -m 0755 "$out/bin/$bin" "$root/usr/bin/fluentbit-go"
	install -D -m 0644 packaging/deb/fluentbit-go.yaml "$root/etc/fluentbit-go/fluentbit-go.yaml"
	install -D -m 0644 packaging/deb/fluentbit-go.service "$root/lib/systemd/system/fluentbit-go.service"
	doc=$root/usr/share/doc/fluentbit-go
	install -D -m 0644 packaging/deb/copyright "$doc/copyright"
	gzip -9n <README.md >"$doc/README.md.gz"
	{
		echo "fluentbit-go ($VERSION) unstable; urgency=medium"
		echo
		echo "  * Built from commit $commit."
		echo
		echo " -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
	} | gzip -9n >"$doc/changelog.gz" # a native package: changelog.gz, not changelog.Debian.gz
	chmod 0644 "$doc"/*.gz

	install -d -m 0755 "$root/usr/share/man/man1" "$root/usr/share/lintian/overrides"
	gzip -9n <packaging/deb/fluentbit-go.1 >"$root/usr/share/man/man1/fluentbit-go.1.gz"
	install -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/fluentbit-go"
	chmod 0644 "$root/usr/share/man/man1/fluentbit-go.1.gz"

	install -d -m 0755 "$root/DEBIAN"
	for s in postinst prerm postrm; do
		install -m 0755 "packaging/deb/$s" "$root/DEBIAN/$s"
	done
	echo /etc/fluentbit-go/fluentbit-go.yaml >"$root/DEBIAN/conffiles"
	(cd "$root" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
	cat >"$root/DEBIAN/control" <<CONTROL
Package: fluentbit-go
Version: $VERSION
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: adduser
Section: admin
Priority: optional
Homepage: https://github.com/fluentbit-go/fluentbit-go
Description: telemetry collector and forwarder for small devices
 fluentbit-go collects system metrics, serial port and MQTT data, HTTP and
 Fluentd forward records on a device, filters them, buffers them in memory or
 on disk without losing them, and delivers them to Fluentd or Fluent Bit
 aggregators, HTTP endpoints, MQTT brokers or files. It reads Fluent Bit's
 configuration formats. Installed as /usr/bin/fluentbit-go with the service
 fluentbit-go.service and the configuration /etc/fluentbit-go/fluentbit-go.yaml.
CONTROL
	chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
	find "$root" -type d -exec chmod 0755 {} +
	find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	dpkg-deb --root-owner-group -Zxz --build "$root" "$out/fluentbit-go_${VERSION}_${arch}.deb" >/dev/null
	echo "$out/fluentbit-go_${VERSION}_${arch}.deb"
done
