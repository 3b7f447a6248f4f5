#!/usr/bin/env bash
# Tests the packages and the ARM binaries the way a device gets them. Run as root on a
# Debian machine (CI does, from .ci/run): it installs, upgrades, removes and purges the
# amd64 package on this machine, and runs the ARM binaries under qemu-user.
#
# Needs: dpkg-dev, lintian, qemu-user, systemd (systemd-analyze), adduser.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "packaging/test.sh: run as root (it installs the package)" >&2; exit 1; }
[ "$(dpkg --print-architecture)" = amd64 ] || { echo "packaging/test.sh: expects an amd64 machine" >&2; exit 1; }

work=$(mktemp -d)
agent_pid=
cleanup() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
	if dpkg -s fluentbit-go >/dev/null 2>&1; then dpkg -P fluentbit-go >/dev/null 2>&1 || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
base=$(sed -n 's/^var Version = "\([0-9][0-9.]*\).*"/\1/p' fluentbit.go)
V1="${base}~test1"
V2="${base}~test2"

step "build (twice, for reproducibility)"
VERSION=$V1 packaging/build.sh -o "$work/a" >/dev/null
VERSION=$V1 packaging/build.sh -o "$work/b" amd64 >/dev/null
cmp "$work/a/fluentbit-go_${V1}_amd64.deb" "$work/b/fluentbit-go_${V1}_amd64.deb" ||
	fail "two builds of the same commit differ"
for f in "$work"/a/bin/*; do
	printf '   %-28s %8d bytes\n' "$(basename "$f")" "$(stat -c %s "$f")"
done

step "lintian (no errors)"
for arch in amd64 arm64 armhf; do
	lintian --fail-on error "$work/a/fluentbit-go_${V1}_${arch}.deb" 2>&1 | grep -v 'root privileges' || true
	lintian --fail-on error "$work/a/fluentbit-go_${V1}_${arch}.deb" >/dev/null 2>&1 || fail "lintian errors in the $arch package"
done

step "install"
dpkg -i "$work/a/fluentbit-go_${V1}_amd64.deb" >/dev/null
getent passwd fluentbit-go >/dev/null || fail "user fluentbit-go not created"
id -nG fluentbit-go | grep -qw dialout || fail "fluentbit-go is not in group dialout"
[ "$(stat -c %U:%a /var/lib/fluentbit-go)" = fluentbit-go:750 ] || fail "/var/lib/fluentbit-go: $(stat -c %U:%a /var/lib/fluentbit-go)"
[ "$(stat -c %U:%G:%a /etc/fluentbit-go/fluentbit-go.yaml)" = root:fluentbit-go:640 ] || fail "config owner/mode: $(stat -c %U:%G:%a /etc/fluentbit-go/fluentbit-go.yaml)"
fluentbit-go -V | grep -q "$V1" || fail "installed binary is not version $V1: $(fluentbit-go -V)"
fluentbit-go --dry-run -c /etc/fluentbit-go/fluentbit-go.yaml || fail "the packaged configuration does not load"

step "systemd unit"
unit=/lib/systemd/system/fluentbit-go.service
errs=$(systemd-analyze verify "$unit" 2>&1 >/dev/null | grep -v -e 'Cannot add dependency job' -e 'Failed to connect to bus' || true)
# verify prints problems on stderr but exits 0 on unknown keys: its stderr must be empty.
[ -z "$errs" ] || fail "systemd-analyze verify: $errs"
score=$(systemd-analyze security --offline=true "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for fluentbit-go.service: \([0-9.]*\).*/\1/p')
echo "   systemd-analyze security: $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.5) }' || fail "exposure score $score > 2.5"

step "upgrade keeps an edited config"
echo "# edited by the operator" >>/etc/fluentbit-go/fluentbit-go.yaml
VERSION=$V2 packaging/build.sh -o "$work/c" amd64 >/dev/null
dpkg -i --force-confold "$work/c/fluentbit-go_${V2}_amd64.deb" >/dev/null
fluentbit-go -V | grep -q "$V2" || fail "upgrade did not replace the binary"
grep -q "edited by the operator" /etc/fluentbit-go/fluentbit-go.yaml || fail "upgrade lost the edited config"

step "remove keeps config and data, purge removes them"
touch /var/lib/fluentbit-go/buffered
dpkg -r fluentbit-go >/dev/null
[ ! -e /usr/bin/fluentbit-go ] || fail "binary still there after remove"
[ -f /etc/fluentbit-go/fluentbit-go.yaml ] || fail "remove deleted the config"
dpkg -P fluentbit-go >/dev/null
[ ! -e /etc/fluentbit-go/fluentbit-go.yaml ] || fail "purge left the config"
[ ! -e /var/lib/fluentbit-go ] || fail "purge left /var/lib/fluentbit-go"
! getent passwd fluentbit-go >/dev/null || fail "purge left the user"

step "ARM binaries under qemu-user"
smoke() { # name qemu-command...
	local name=$1; shift
	local dir=$work/smoke-$name port=$((39000 + RANDOM % 1000))
	mkdir -p "$dir/out"
	cat >"$dir/agent.yaml" <<YAML
service:
  flush: 0.2
pipeline:
  inputs:
    - name: http
      listen: 127.0.0.1
      port: $port
  outputs:
    - name: file
      match: '*'
      path: $dir/out
      format: plain
YAML
	"$@" -c "$dir/agent.yaml" 2>"$dir/log" &
	agent_pid=$!
	for _ in $(seq 1 300); do grep -q "fluentbit-go started" "$dir/log" && break; sleep 0.1; done
	grep -q "fluentbit-go started" "$dir/log" || { cat "$dir/log"; fail "$name: agent did not start"; }
	local body='{"device":"pi-zero","temp":41.5}'
	exec 3<>"/dev/tcp/127.0.0.1/$port"
	printf 'POST /smoke.%s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
		"$name" "${#body}" "$body" >&3
	local status
	status=$(head -n1 <&3 | tr -d '\r')
	exec 3<&-
	case $status in "HTTP/1.1 20"*) ;; *) fail "$name: POST answered '$status'" ;; esac
	for _ in $(seq 1 300); do grep -qs '"pi-zero"' "$dir/out/smoke.$name" && break; sleep 0.1; done
	grep -qs '"pi-zero"' "$dir/out/smoke.$name" || { cat "$dir/log"; fail "$name: record not in the file output"; }
	kill -TERM "$agent_pid"
	wait "$agent_pid" || fail "$name: agent exited with an error"
	agent_pid=
	echo "   $name: started, took a record over HTTP, wrote it, stopped"
}
smoke armv6 qemu-arm -cpu arm1176 "$work/a/bin/fluentbit-go-linux-armv6"
smoke arm64 qemu-aarch64 "$work/a/bin/fluentbit-go-linux-arm64"

# The board inputs on an ARMv6 CPU: the sensors input reads the Raspberry Pi 4 fixture tree
# (its cpu_thermal reads 48686 millidegrees, its DS18B20 23125) and the stdout output
# prints the records.
sensors_smoke() {
	local dir=$work/smoke-sensors
	mkdir -p "$dir"
	qemu-arm -cpu arm1176 "$work/a/bin/fluentbit-go-linux-armv6" -f 0.2 \
		-i sensors -p sysfs_root=inputs/sensors/testdata/rpi4/sys -p interval_sec=0.2 -t board \
		-o stdout -m '*' -p format=json_lines >"$dir/out" 2>"$dir/log" &
	agent_pid=$!
	for _ in $(seq 1 300); do grep -qs '"temp_celsius":23.125' "$dir/out" && break; sleep 0.1; done
	kill -TERM "$agent_pid"
	wait "$agent_pid" || { cat "$dir/log"; fail "sensors: agent exited with an error"; }
	agent_pid=
	grep -qs '"temp1_celsius":48.686' "$dir/out" || { cat "$dir/log" "$dir/out"; fail "sensors: no cpu_thermal reading of 48.686"; }
	grep -qs '"temp_celsius":23.125' "$dir/out" || { cat "$dir/log" "$dir/out"; fail "sensors: no DS18B20 reading of 23.125"; }
	echo "   armv6: the sensors input read the Pi 4 fixture tree ($(grep -c . "$dir/out") records)"
}
sensors_smoke

# A GOARM=7 binary needs VFPv3, which an ARMv6 CPU (arm1176: Raspberry Pi Zero/1) lacks:
# the Go runtime refuses to start. That is why the armhf package carries GOARM=6.
if out=$(qemu-arm -cpu arm1176 "$work/a/bin/fluentbit-go-linux-armv7" -V 2>&1); then
	fail "the GOARM=7 binary ran on an ARMv6 CPU: $out"
fi
echo "   armv7 binary on ARMv6: refused ($(echo "$out" | head -n1))"
qemu-arm -cpu arm1176 "$work/a/bin/fluentbit-go-linux-armv6" -V >/dev/null || fail "the GOARM=6 binary does not run on ARMv6"

echo "packaging: all checks passed"
