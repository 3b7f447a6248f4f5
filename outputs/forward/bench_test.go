package forward

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// discardServer accepts connections and throws away what they send.
func discardServer(b *testing.B) int {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// BenchmarkFlush sends a chunk of 2000 records (about 180 KB) per op to a server that
// discards it. "baseline" writes the chunk's bytes to a socket directly: the output's
// cost is the difference, and ratio-to-baseline is reported for each setting.
func BenchmarkFlush(b *testing.B) {
	device := func(i int) string { return fmt.Sprintf("dev-%d", i%50) }
	c := pipelinetest.MakeChunk("bench", sample(2000, device)...)
	port := discardServer(b)
	var base float64
	b.Run("baseline", func(b *testing.B) {
		conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		b.SetBytes(int64(len(c.Data)))
		for i := 0; i < b.N; i++ {
			if _, err := conn.Write(c.Data); err != nil {
				b.Fatal(err)
			}
		}
		base = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	up := writeUpstreamPortsB(b, discardServer(b), discardServer(b), discardServer(b))
	for _, tc := range []struct {
		name string
		kv   []string
	}{
		{"packed", nil},
		{"forward_mode", []string{"forward_mode forward"}},
		{"time_as_integer", []string{"time_as_integer on"}},
		{"gzip", []string{"compress gzip"}},
		{"hash_3_nodes", []string{"upstream_mode hash", "upstream_hash_key device_id"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			kv := append([]string{"port " + strconv.Itoa(port)}, tc.kv...)
			if tc.name == "hash_3_nodes" {
				kv = append(kv, "upstream "+up)
			}
			o, err := configure(kv...)
			if err != nil {
				b.Fatal(err)
			}
			if err := o.Init(context.Background(), (&pipelinetest.Logs{}).Env("forward.0")); err != nil {
				b.Fatal(err)
			}
			defer o.Close(context.Background())
			b.SetBytes(int64(len(c.Data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := o.Flush(context.Background(), c); err != nil {
					b.Fatal(err)
				}
			}
			if base > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/base, "x-baseline")
			}
		})
	}
}
