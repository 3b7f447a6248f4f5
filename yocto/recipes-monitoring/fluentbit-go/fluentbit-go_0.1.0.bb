SUMMARY = "Telemetry collector and forwarder for small devices, Fluent Bit compatible"
DESCRIPTION = "fluentbit-go collects system metrics, serial, MQTT, HTTP and Fluentd forward \
records, filters and buffers them without losing them, and delivers them to aggregators, \
HTTP endpoints, MQTT brokers or files. It reads Fluent Bit's configuration formats."
HOMEPAGE = "https://github.com/fluentbit-go/fluentbit-go"
SECTION = "console/utils"
# The agent's own license; the Go modules it links are MIT, BSD-3-Clause and Apache-2.0
# licensed (see fluentbit-go-go-mods.inc for the list).
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://src/${GO_IMPORT}/LICENSE;md5=3b83ef96387f14655fc854ddc3c6bd57"

GO_IMPORT = "github.com/fluentbit-go/fluentbit-go"
GO_INSTALL = "${GO_IMPORT}/cmd/fluentbit"

# A release of the layer pins SRCREV to the release commit; a development build follows main.
SRC_URI = "git://github.com/fluentbit-go/fluentbit-go.git;protocol=https;branch=main;destsuffix=${GO_SRCURI_DESTSUFFIX}"
SRCREV = "${AUTOREV}"
PV = "0.1.0+git"

# The Go modules, fetched by the gomod:// fetcher (generated: go run ./packaging/yoctomods -write).
require ${BPN}-go-mods.inc

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
