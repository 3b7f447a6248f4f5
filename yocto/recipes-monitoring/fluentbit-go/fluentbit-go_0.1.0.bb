SUMMARY = "Telemetry collector and forwarder for small devices, Fluent Bit compatible"
DESCRIPTION = "fluentbit-go collects system metrics, serial, MQTT, HTTP and Fluentd forward \
records, filters and buffers them without losing them, and delivers them to aggregators, \
HTTP endpoints, MQTT brokers or files. It reads Fluent Bit's configuration formats."
HOMEPAGE = "https://github.com/fluentbit-go/fluentbit-go"
SECTION = "console/utils"
# The agent's own license; fluentbit-go-licenses.inc adds those of the Go modules it links
# (Apache-2.0, BSD-2-Clause, BSD-3-Clause, MIT, and EPL-2.0 or BSD-3-Clause for paho) and a
# LIC_FILES_CHKSUM entry for each module's license file in ${S}/pkg/mod.
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://src/${GO_IMPORT}/LICENSE;md5=3b83ef96387f14655fc854ddc3c6bd57"

GO_IMPORT = "github.com/fluentbit-go/fluentbit-go"
GO_INSTALL = "${GO_IMPORT}/cmd/fluentbit"

# SRCREV is pinned, so parsing needs no network and a build is reproducible; the two .inc
# files below are generated from this commit's go.mod. Bump all three with one command in the
# repository: go run ./packaging/yoctomods -bump (CI checks they agree). To follow main
# instead, see the layer's README.md ("Following main"): AUTOREV is an opt-in in local.conf.
SRC_URI = "git://github.com/fluentbit-go/fluentbit-go.git;protocol=https;branch=main;destsuffix=${GO_SRCURI_DESTSUFFIX}"
SRCREV = "374f0f94669e2e0fcc62d5f43bdf112ccb1ec751"
PV = "0.1.0+git"

# The Go modules, fetched by the gomod:// fetcher, and their licenses.
require ${BPN}-go-mods.inc
require ${BPN}-licenses.inc

inherit go-mod systemd useradd

# One static-ish executable: no shared Go runtime.
GO_LINKSHARED = ""
# Version stamp. Do not add -s -w: the go class leaves stripping to the build, and Yocto's
# QA refuses binaries that arrive already stripped. Do not set CGO_ENABLED = "0" either:
# the go class builds position-independent executables, and on 32-bit ARM -buildmode=pie
# needs cgo's external linker.
GO_EXTRA_LDFLAGS:append = " -X ${GO_IMPORT}.Version=${PV}"

USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system fluentbit-go"
USERADD_PARAM:${PN} = "--system --no-create-home --home-dir ${localstatedir}/lib/fluentbit-go --shell /sbin/nologin --gid fluentbit-go --groups dialout fluentbit-go"

SYSTEMD_SERVICE:${PN} = "fluentbit-go.service"
CONFFILES:${PN} = "${sysconfdir}/fluentbit-go/fluentbit-go.yaml"

do_install:append() {
    # Named apart from the C Fluent Bit (fluent-bit in meta-oe).
    mv ${D}${bindir}/fluentbit ${D}${bindir}/fluentbit-go
    install -d ${D}${sysconfdir}/fluentbit-go
    install -m 0640 -g fluentbit-go ${S}/src/${GO_IMPORT}/packaging/deb/fluentbit-go.yaml ${D}${sysconfdir}/fluentbit-go/fluentbit-go.yaml
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/src/${GO_IMPORT}/packaging/deb/fluentbit-go.service ${D}${systemd_system_unitdir}/fluentbit-go.service
}

FILES:${PN} += "${systemd_system_unitdir}/fluentbit-go.service"
