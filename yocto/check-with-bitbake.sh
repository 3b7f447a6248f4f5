#!/usr/bin/env bash
# check-with-bitbake.sh: try this layer with a real BitBake, as a Yocto user would, and
# show that it parses, fetches and unpacks offline and passes yocto-check-layer.
#
#   yocto/check-with-bitbake.sh [WORK_DIR]        (default WORK_DIR: $HOME/fluentbit-go-yocto)
#
# Run it as an ordinary user: BitBake refuses root. It needs git, Go is not needed, and the
# host packages openembedded-core lists for Debian/Ubuntu: build-essential chrpath cpio
# diffstat file gawk lz4 zstd xz-utils unzip python3 wget locales (with en_US.UTF-8 generated).
# Too heavy for CI (it parses all of openembedded-core several times: 70 minutes here on two
# busy shared cores, 18 of them yocto-check-layer's tests); .ci/run checks what can be checked without BitBake (packaging/yoctomods).
#
# In WORK_DIR it
#   1. clones openembedded-core and BitBake of $SERIES (once; shallow),
#   2. pushes the commit the recipe's SRCREV pins to a bare repository, as branch main,
#      and points the recipe's Git URL at it with PREMIRRORS, so the layer is tried with
#      this checkout's commit (which need not be published yet),
#   3. sets up build/ for MACHINE qemux86-64 with INIT_MANAGER systemd and
#      BB_NO_NETWORK = "1" in local.conf,
#   4. fills the download directory once with the network allowed (the gomod:// fetcher
#      downloads the modules from the Go module proxy, $GO_MOD_PROXY, proxy.golang.org by
#      default; the Go source comes from the local bare repository),
#   5. then offline: bitbake -e (the SRCREV, PV and LICENSE lines), -c fetch and -c unpack
#      (forced, so they run again from the download directory), checks each module license
#      file's md5 in the fetched zips against LIC_FILES_CHKSUM, and runs yocto-check-layer
#      (which wants the layer out of bblayers.conf; it adds it itself).
#
# Settings, from the environment:
#   SERIES            openembedded-core branch (default wrynose); BITBAKE_BRANCH follows it
#   OE_CORE_URL       default https://git.openembedded.org/openembedded-core
#   BITBAKE_URL       default https://git.openembedded.org/bitbake
#   GO_MOD_PROXY      Go module proxy host for the gomod:// fetcher (default proxy.golang.org)
#   UNINATIVE=1       keep the uninative loader (fetched from downloads.yoctoproject.org;
#                     off by default, this check builds nothing native to share)
#   SKIP_ONLINE=1     do not fill the download directory (it must be filled already)
#   SKIP_CHECK_LAYER=1  stop before yocto-check-layer
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
work=${1:-$HOME/fluentbit-go-yocto}
series=${SERIES:-wrynose}
oe_core_url=${OE_CORE_URL:-https://git.openembedded.org/openembedded-core}
bitbake_url=${BITBAKE_URL:-https://git.openembedded.org/bitbake}
recipe=$here/recipes-monitoring/fluentbit-go/fluentbit-go_0.1.0.bb

if [ "$(id -u)" = 0 ]; then
  echo "check-with-bitbake: run as an ordinary user; BitBake refuses to run as root" >&2
  exit 1
fi
case $series in
  walnascar) bb_branch=2.12 ;;
  whinlatter) bb_branch=2.16 ;;
  wrynose) bb_branch=2.18 ;;
  blacksail | master) series=master bb_branch=master ;;
  *) echo "check-with-bitbake: unknown series $series" >&2; exit 1 ;;
esac
bb_branch=${BITBAKE_BRANCH:-$bb_branch}
export LANG=en_US.UTF-8 LC_ALL=en_US.UTF-8

srcrev=$(sed -n 's/^SRCREV = "\([0-9a-f]\{40\}\)"$/\1/p' "$recipe")
if [ -z "$srcrev" ]; then
  echo "check-with-bitbake: $recipe has no SRCREV = \"<40-hex commit>\"" >&2
  exit 1
fi

step() { printf '\n== %s\n' "$*"; }

mkdir -p "$work"
cd "$work"
step "openembedded-core $series, bitbake $bb_branch"
[ -d openembedded-core ] || git clone -q --depth 1 --branch "$series" "$oe_core_url" openembedded-core
[ -d bitbake ] || git clone -q --depth 1 --branch "$bb_branch" "$bitbake_url" bitbake
echo "openembedded-core $(git -C openembedded-core rev-parse HEAD)"
echo "bitbake           $(git -C bitbake rev-parse HEAD)"

step "the pinned source: $srcrev as main of $work/fluentbit-go.git"
[ -d fluentbit-go.git ] || git init -q --bare fluentbit-go.git
git -C "$repo" push -q --force "$work/fluentbit-go.git" "$srcrev:refs/heads/main"

step "build directory $work/build"
set +u
# shellcheck disable=SC1091
. "$work/openembedded-core/oe-init-build-env" "$work/build" >/dev/null
set -u
if ! grep -q '^# fluentbit-go check' conf/local.conf; then
  cat >>conf/local.conf <<EOF

# fluentbit-go check (check-with-bitbake.sh)
MACHINE = "qemux86-64"
INIT_MANAGER = "systemd"
DL_DIR = "$work/downloads"
BB_NUMBER_THREADS = "2"
BB_NUMBER_PARSE_THREADS = "2"
# Offline unless a command asks otherwise (-R conf/online.conf).
BB_NO_NETWORK = "1"
GO_MOD_PROXY = "${GO_MOD_PROXY:-proxy.golang.org}"
$(if [ "${UNINATIVE:-}" != 1 ]; then
  echo '# No uninative loader (downloads.yoctoproject.org): nothing native is shared here.'
  echo 'INHERIT_DISTRO:remove = "uninative"'
fi)
# The project's repository: the local bare copy stands in for the public URL.
PREMIRRORS:prepend = "git://github.com/fluentbit-go/fluentbit-go.git git://$work/fluentbit-go.git;protocol=file \\n"
EOF
fi
echo 'BB_NO_NETWORK = "0"' >conf/online.conf
# yocto-check-layer adds the layer itself and refuses it when it is in BBLAYERS already.
bitbake-layers remove-layer "$here" >/dev/null 2>&1 || true
bitbake-layers add-layer "$here"

if [ "${SKIP_ONLINE:-}" != 1 ]; then
  step "fill the download directory (network allowed: the Go module proxy)"
  # BitBake updates a clone it already has from the upstream URL, not from PREMIRRORS: drop
  # the project's clone so a new SRCREV comes from the local bare copy again.
  rm -rf "$work/downloads/git2/github.com.fluentbit-go.fluentbit-go.git" "$work/downloads/git2/github.com.fluentbit-go.fluentbit-go.git.done"
  bitbake -R conf/online.conf -c fetch fluentbit-go
fi

step "offline: bitbake -e fluentbit-go"
bitbake -e fluentbit-go >"$work/bitbake-e.txt"
grep -E '^(BB_NO_NETWORK|SRCREV|PV|LICENSE|GO_MOD_PROXY|LAYERSERIES_COMPAT_fluentbit-go)=' "$work/bitbake-e.txt"
echo "gomod:// entries in SRC_URI: $(grep '^SRC_URI=' "$work/bitbake-e.txt" | grep -o 'gomod://' | wc -l)"

step "offline: bitbake -f -c fetch fluentbit-go"
bitbake -f -c fetch fluentbit-go

step "offline: bitbake -f -c unpack fluentbit-go"
bitbake -f -c unpack fluentbit-go

step "module license files in the fetched zips against LIC_FILES_CHKSUM"
s=$(sed -n 's/^S="\(.*\)"$/\1/p' "$work/bitbake-e.txt")
lic=$(sed -n 's/^LIC_FILES_CHKSUM="\(.*\)"$/\1/p' "$work/bitbake-e.txt")
bad=0 n=0
for entry in $lic; do
  path=${entry#file://}
  path=${path%%;*}
  want=$(sed -n 's/.*;md5=\([0-9a-f]*\).*/\1/p' <<<"$entry")
  case $path in
    pkg/mod/*)
      # pkg/mod/<module>@<version>/<file>: the go-mod class unpacks the zip at do_compile;
      # read the file out of the fetched zip instead.
      rel=${path#pkg/mod/}
      mod=${rel%%@*}
      rest=${rel#*@}
      ver=${rest%%/*}
      zip="$s/pkg/mod/cache/download/$mod/@v/$ver.zip"
      # Inside the zip the path is not case-escaped: !x is X.
      got=$(unzip -p "$zip" "$(sed 's/!\([a-z]\)/\U\1/g' <<<"$rel")" | md5sum | cut -d' ' -f1)
      ;;
    *) got=$(md5sum <"$s/$path" | cut -d' ' -f1) ;;
  esac
  n=$((n + 1))
  if [ "$got" != "$want" ]; then
    echo "MISMATCH $path: md5 $got, recipe says $want"
    bad=1
  fi
done
echo "$n license files checked"
[ $bad = 0 ]

if [ "${SKIP_CHECK_LAYER:-}" != 1 ]; then
  step "offline: yocto-check-layer $here"
  bitbake-layers remove-layer "$here"
  trap 'bitbake-layers add-layer "$here" >/dev/null 2>&1 || true' EXIT
  yocto-check-layer --output-log "$work/yocto-check-layer.log" "$here"
fi
