package influxdb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/tsdbtest"
	"github.com/fluentbit-go/fluentbit-go/outputs/influxdb"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func TestMain(m *testing.M) { tsdbtest.Main(m) }

// configure makes a registered influxdb output from key, value pairs as the engine does.
func configure(kv ...string) (*influxdb.Output, error) {
	p, _ := pipeline.NewOutput("influxdb")
	var ps []config.Property
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, config.Property{Key: kv[i], Value: kv[i+1], File: "test.conf", Line: i/2 + 1})
	}
	if err := pipeline.Configure(p, ps); err != nil {
		return nil, err
	}
	return p.(*influxdb.Output), nil
}

func newOutput(t *testing.T, kv ...string) *influxdb.Output {
	t.Helper()
	o, err := configure(kv...)
	if err != nil {
		t.Fatalf("configure: %v", err)
	}
	if err := o.Init(context.Background(), pipeline.Env{Name: "influxdb.0"}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

func body(t *testing.T, o *influxdb.Output, tag string, evs ...event.Event) string {
	t.Helper()
	b, _, err := o.Body(nil, pipelinetest.MakeChunk(tag, evs...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLineProtocolAsFluentBitWritesIt(t *testing.T) {
	ts := time.Unix(1796476615, 470828624)
	rec := event.Map{{"s", "x"}, {"i", int64(5)}, {"f", 1.5}, {"b", true}, {"neg", int64(-3)}, {"room", "kit chen"}}
	o := newOutput(t, "tag_keys", "room")
	// Fluent Bit v5.1.1 wrote: sensor.one,_seq=0,room=kit\ chen s="x",i=5,f=1.500000,b=TRUE,neg=-3 1796476615470828624
	want := `sensor.one,_seq=0,room=kit\ chen s="x",i=5,f=1.5,b=true,neg=-3 1796476615470828624` + "\n"
	if got := body(t, o, "sensor.one", event.Event{Time: ts, Record: rec}); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// Fluent Bit v5.1.1 with add_integer_suffix on, auto_tags on, sequence_tag off:
	// "sensor one,s=x i=5i 1796476621474571955" (its measurement left unescaped).
	o = newOutput(t, "add_integer_suffix", "on", "auto_tags", "on", "sequence_tag", "off", "precision", "ms")
	want = `sensor\ one,s=x i=5i,f=2.0 1796476615470` + "\n"
	if got := body(t, o, "sensor one", event.Event{Time: ts, Record: event.Map{{"s", "x"}, {"i", int64(5)}, {"f", 2.0}}}); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestEscaping(t *testing.T) {
	o := newOutput(t, "tag_keys", "t,k t=k", "sequence_tag", "off")
	rec := map[string]any{
		"t,k":   "v a,l=ue",
		"t=k":   `back\`,
		"f k=,": `say "hi" \o/`,
		"nl":    "line1\nline2",
		"nest":  map[string]any{"a": int64(1), "b": map[string]any{"c": "d"}},
		"arr":   []any{int64(1), "x"},
		"nil":   nil,
	}
	got := body(t, o, "m,e as", event.Event{Time: time.Unix(1, 0), Record: event.FromMap(rec)})
	want := `m\,e\ as,t\,k=v\ a\,l\=ue,t\=k=back\\ arr="[1,\"x\"]",f\ k\=\,="say \"hi\" \\o/",nest.a=1,nest.b.c="d",nl="line1` + "\n" + `line2" 1000000000` + "\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestSequenceTagCountsSharedTimestamps(t *testing.T) {
	o := newOutput(t)
	t1, t2 := time.Unix(10, 0), time.Unix(11, 0)
	got := body(t, o, "m",
		event.Event{Time: t1, Record: event.Map{{"v", int64(1)}}},
		event.Event{Time: t1, Record: event.Map{{"v", int64(2)}}},
		event.Event{Time: t1, Record: event.Map{{"v", int64(3)}}},
		event.Event{Time: t2, Record: event.Map{{"v", int64(4)}}})
	want := "m,_seq=0 v=1 10000000000\nm,_seq=1 v=2 10000000000\nm,_seq=2 v=3 10000000000\nm,_seq=0 v=4 11000000000\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestRecordWithoutFieldsIsSkipped(t *testing.T) {
	o := newOutput(t, "auto_tags", "on")
	b, skipped, err := o.Body(nil, pipelinetest.MakeChunk("m",
		event.Event{Time: time.Unix(1, 0), Record: event.Map{{"only", "tags"}}},
		event.Event{Time: time.Unix(1, 0), Record: event.Map{{"v", 1.25}}}))
	if err != nil || skipped != 1 || string(b) != "m,_seq=0 v=1.25 1000000000\n" {
		t.Errorf("got %q, skipped %d, %v", b, skipped, err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct {
		kv  []string
		key string
	}{
		{[]string{"precision", "h"}, "precision"},
		{[]string{"bucket", "b", "org", ""}, "org"},
		{[]string{"database", ""}, "database"},
		{[]string{"http_header", "Bad:Name v"}, "http_header"},
		{[]string{"http_passwd", "p"}, "http_passwd"},
		{[]string{"uri", "write"}, "uri"},
	} {
		_, err := configure(c.kv...)
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%v: error %v does not name %s", c.kv, err, c.key)
		}
	}
}

// The real InfluxDB 1.x takes the points and gives back the same values, tags and
// timestamps.
func TestRealInfluxDB(t *testing.T) {
	srv := tsdbtest.Influx(t)
	tsdbtest.InfluxQuery(t, srv, "", `CREATE DATABASE "telemetry"`)
	o := newOutput(t, "host", "127.0.0.1", "port", fmt.Sprint(srv.Port()), "database", "telemetry",
		"tag_keys", "room", "add_integer_suffix", "on")
	base := time.Now().Add(-time.Minute).Truncate(time.Microsecond).Add(123 * time.Nanosecond)
	cpu := event.Event{Time: base, Record: event.Map{{"cpu_p", 12.5}, {"user_p", 10.25}, {"system_p", 2.25}}}
	mem := event.Event{Time: base.Add(time.Second), Record: event.Map{{"Mem.total", int64(8041472)}, {"Mem.used", int64(2011136)}, {"Swap.free", int64(0)}}}
	sensor := []event.Event{
		{Time: base, Record: event.Map{{"room", "kit chen,1"}, {"temp", 21.5}, {"ok", true}, {"note", `say "hi"` + "\nnow"}}},
		{Time: base, Record: event.Map{{"room", "kit chen,1"}, {"temp", 21.75}, {"ok", false}, {"note", `c:\dir\`}}},
	}
	for _, c := range []*pipeline.Chunk{
		pipelinetest.MakeChunk("cpu.local", cpu),
		pipelinetest.MakeChunk("mem.local", mem),
		pipelinetest.MakeChunk("sensor", sensor...),
	} {
		if err := o.Flush(context.Background(), c); err != nil {
			t.Fatalf("Flush %s: %v", c.Tag, err)
		}
	}
	rows := tsdbtest.InfluxQuery(t, srv, "telemetry", `SELECT * FROM "cpu.local"`).Rows()
	checkRows(t, "cpu", rows, []map[string]any{{"time": base.UnixNano(), "_seq": "0", "cpu_p": 12.5, "user_p": 10.25, "system_p": 2.25}})
	rows = tsdbtest.InfluxQuery(t, srv, "telemetry", `SELECT * FROM "mem.local"`).Rows()
	checkRows(t, "mem", rows, []map[string]any{{"time": base.Add(time.Second).UnixNano(), "_seq": "0", "Mem.total": int64(8041472), "Mem.used": int64(2011136), "Swap.free": int64(0)}})
	// Tags come back in GROUP BY, so ask for them.
	rows = tsdbtest.InfluxQuery(t, srv, "telemetry", `SELECT * FROM "sensor" GROUP BY *`).Rows()
	checkRows(t, "sensor", rows, []map[string]any{
		{"time": base.UnixNano(), "_seq": "0", "room": "kit chen,1", "temp": 21.5, "ok": true, "note": `say "hi"` + "\nnow"},
		{"time": base.UnixNano(), "_seq": "1", "room": "kit chen,1", "temp": 21.75, "ok": false, "note": `c:\dir\`},
	})
}

// checkRows compares rows from the query API with want (json.Number compared as int64 or
// float64 as want has it).
func checkRows(t *testing.T, what string, got []map[string]any, want []map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d rows %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range want {
		for k, wv := range want[i] {
			gv := got[i][k]
			if n, ok := gv.(json.Number); ok {
				switch wv.(type) {
				case int64:
					gv, _ = n.Int64()
				case float64:
					gv, _ = n.Float64()
				}
			}
			if gv != wv {
				t.Errorf("%s row %d: %s = %v (%T), want %v (%T)", what, i, k, gv, gv, wv, wv)
			}
		}
		if len(got[i]) != len(want[i]) {
			t.Errorf("%s row %d: got columns %v, want %v", what, i, got[i], want[i])
		}
	}
}

// A database that does not exist is refused with a 404: the chunk is dropped for this
// output, not retried, and the error names the key to check.
func TestRealInfluxDBUnknownDatabase(t *testing.T) {
	srv := tsdbtest.Influx(t)
	o := newOutput(t, "port", fmt.Sprint(srv.Port()), "database", "nosuchdb")
	err := o.Flush(context.Background(), pipelinetest.MakeChunk("m", event.Event{Time: time.Now(), Record: event.Map{{"v", 1.0}}}))
	if err == nil || pipeline.IsRetry(err) || !strings.Contains(err.Error(), "check database") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("got %v, want a final error naming database", err)
	}
}

// While the server is down, flushes ask for a retry; once it is back, the retried chunk is
// delivered and nothing is lost.
func TestRealInfluxDBDownAndBack(t *testing.T) {
	srv := tsdbtest.Influx(t)
	tsdbtest.InfluxQuery(t, srv, "", `CREATE DATABASE "downback"`)
	o := newOutput(t, "port", fmt.Sprint(srv.Port()), "database", "downback", "net.connect_timeout", "2s")
	ts := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	chunk := pipelinetest.MakeChunk("m",
		event.Event{Time: ts, Record: event.Map{{"v", 1.0}}},
		event.Event{Time: ts.Add(time.Millisecond), Record: event.Map{{"v", 2.0}}})
	srv.Stop()
	err := o.Flush(context.Background(), chunk)
	if startErr := srv.Start(); startErr != nil {
		t.Fatal(startErr)
	}
	if !pipeline.IsRetry(err) {
		t.Fatalf("flush with the server down: %v, want a retry", err)
	}
	if err := o.Flush(context.Background(), chunk); err != nil {
		t.Fatalf("flush after restart: %v", err)
	}
	rows := tsdbtest.InfluxQuery(t, srv, "downback", `SELECT v FROM "m"`).Rows()
	checkRows(t, "m", rows, []map[string]any{{"time": ts.UnixNano(), "v": 1.0}, {"time": ts.Add(time.Millisecond).UnixNano(), "v": 2.0}})
}

// Debian ships no InfluxDB 2, so the 2.x API is checked for what is sent: path, query and
// token, as Fluent Bit v5.1.1 sends them (/api/v2/write?org=o1&bucket=bk&precision=ns,
// Authorization: Token tok).
func TestV2Request(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	o := newOutput(t, "port", fmt.Sprint(port), "bucket", "bk", "org", "o1", "http_token", "tok", "http_user", "ignored")
	if err := o.Flush(context.Background(), pipelinetest.MakeChunk("m", event.Event{Time: time.Unix(1, 0), Record: event.Map{{"v", 1.0}}})); err != nil {
		t.Fatal(err)
	}
	r := <-got
	q := r.URL.Query()
	if r.URL.Path != "/api/v2/write" || q.Get("org") != "o1" || q.Get("bucket") != "bk" || q.Get("precision") != "ns" ||
		r.Header.Get("Authorization") != "Token tok" {
		t.Errorf("got %s %s, Authorization %q", r.Method, r.URL, r.Header.Get("Authorization"))
	}
}
