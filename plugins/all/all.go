// Package all registers every built-in plugin. The daemon imports it; a program embedding
// the agent can import only the plugin packages it needs and get a smaller binary.
package all

import (
	// Inputs.
	_ "github.com/fluentbit-go/fluentbit-go/inputs/cpu"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/disk"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/dummy"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/exec"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/forward"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/http"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/kmsg"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/mem"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/modbus"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/mqtt"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/netif"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/proc"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/sensors"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/serial"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/syslog"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/systemd"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/tail"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/tcp"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/thermal"
	_ "github.com/fluentbit-go/fluentbit-go/inputs/udp"

	// Filters.
	_ "github.com/fluentbit-go/fluentbit-go/filters/expect"
	_ "github.com/fluentbit-go/fluentbit-go/filters/grep"
	_ "github.com/fluentbit-go/fluentbit-go/filters/lua"
	_ "github.com/fluentbit-go/fluentbit-go/filters/modify"
	_ "github.com/fluentbit-go/fluentbit-go/filters/nest"
	_ "github.com/fluentbit-go/fluentbit-go/filters/parser"
	_ "github.com/fluentbit-go/fluentbit-go/filters/record_modifier"
	_ "github.com/fluentbit-go/fluentbit-go/filters/rewrite_tag"
	_ "github.com/fluentbit-go/fluentbit-go/filters/throttle"

	// Outputs.
	_ "github.com/fluentbit-go/fluentbit-go/outputs/file"
	_ "github.com/fluentbit-go/fluentbit-go/outputs/forward"
	_ "github.com/fluentbit-go/fluentbit-go/outputs/http"
	_ "github.com/fluentbit-go/fluentbit-go/outputs/influxdb"
	_ "github.com/fluentbit-go/fluentbit-go/outputs/loki"
	_ "github.com/fluentbit-go/fluentbit-go/outputs/mqtt"
	_ "github.com/fluentbit-go/fluentbit-go/outputs/nats"
	_ "github.com/fluentbit-go/fluentbit-go/outputs/null"
	_ "github.com/fluentbit-go/fluentbit-go/outputs/opentelemetry"
	_ "github.com/fluentbit-go/fluentbit-go/outputs/prometheus_exporter"
	_ "github.com/fluentbit-go/fluentbit-go/outputs/prometheus_remote_write"
	_ "github.com/fluentbit-go/fluentbit-go/outputs/stdout"
)
