package proc

import (
	"context"
	"os"
	"path/filepath"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"testing"
)

// BenchmarkCollect measures one interval's work watching the test binary: with the pid
// found last time checked first, against the baseline of scanning /proc every interval
// (what Fluent Bit does).
func BenchmarkCollect(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("no /proc")
	}
	for _, bc := range []struct {
		name string
		scan bool
	}{{"cached-pid", false}, {"baseline-scan-every-interval", true}} {
		b.Run(bc.name, func(b *testing.B) {
			in := New()
			in.ProcName = filepath.Base(os.Args[0])
			if err := in.Init(context.Background(), pipeline.Env{}); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if bc.scan {
					in.pid = 0
				}
				if rec := in.collect(ctx); rec.Value("alive") != true {
					b.Fatalf("record %v", rec)
				}
			}
		})
	}
}
