package systemd

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// BenchmarkExportToRecords parses a journal export stream of typical entries (a dozen
// fields, as journald stores for a service's line) and builds their records.
func BenchmarkExportToRecords(b *testing.B) {
	var stream []byte
	const n = 1000
	for i := 0; i < n; i++ {
		stream = appendExport(stream, kv(
			"__CURSOR", fmt.Sprintf("s=935ba6dea7c34800b57a2727882aef6;i=%x;b=0123456789abcdef0123456789abcdef;m=%x;t=60a24181e4001;x=3eaf06ce30a0e3cc", i, i),
			"__REALTIME_TIMESTAMP", fmt.Sprint(baseUsec+i), "__MONOTONIC_TIMESTAMP", fmt.Sprint(i),
			"_BOOT_ID", bootID, "_TRANSPORT", "stdout", "PRIORITY", "6", "SYSLOG_FACILITY", "3",
			"SYSLOG_IDENTIFIER", "app", "_PID", "1234", "_UID", "0", "_GID", "0", "_COMM", "app",
			"_SYSTEMD_UNIT", "app.service", "_HOSTNAME", "device-0042",
			"MESSAGE", fmt.Sprintf("request %d served in 12ms status=200 path=/api/v1/items", i)))
	}
	in := New()
	in.tag = "host.*"
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		p := newExportParser(bytes.NewReader(stream))
		for {
			e, err := p.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			in.record(e)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}
