package pipelinetest

import (
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

func TestRecorderKeepsACopyWithEngineTypes(t *testing.T) {
	var r Recorder
	rec := map[string]any{"n": 1, "list": []string{"a"}}
	if err := r.Emit("app", event.Event{Time: time.Unix(10, 5), Record: event.FromMap(rec)}); err != nil {
		t.Fatal(err)
	}
	rec["n"] = 2 // the input reuses its map after Emit returned

	got := r.Records()
	if len(got) != 1 || got[0].Tag != "app" {
		t.Fatalf("records = %+v", got)
	}
	want := map[string]any{"n": int64(1), "list": []any{"a"}}
	if !reflect.DeepEqual(got[0].Event.Record.ToMap(), want) {
		t.Errorf("record = %#v, want %#v", got[0].Event.Record, want)
	}
	if !got[0].Event.Time.Equal(time.Unix(10, 5)) {
		t.Errorf("time = %v", got[0].Event.Time)
	}
}

func TestRecorderZeroTimeBecomesNow(t *testing.T) {
	r := NewRecorder()
	before := time.Now()
	if err := r.Emit("", event.Event{Record: event.Map{}}); err != nil {
		t.Fatal(err)
	}
	if ts := r.Records()[0].Event.Time; ts.Before(before.Truncate(time.Second)) {
		t.Errorf("time = %v, want about now", ts)
	}
}

func TestRecorderEmitRaw(t *testing.T) {
	c := MakeChunk("t",
		event.Event{Time: time.Unix(1, 0), Record: event.Map{{"a", "x"}}},
		event.Event{Time: time.Unix(2, 0), Metadata: event.Map{{"m", true}}, Record: event.Map{{"a", "y"}}},
	)
	r := NewRecorder()
	if err := r.EmitRaw("raw", c.Data, 3); err == nil {
		t.Error("EmitRaw with a wrong count: no error")
	}
	if err := r.EmitRaw("raw", c.Data[:len(c.Data)-1], 2); err == nil {
		t.Error("EmitRaw with a cut entry: no error")
	}
	if r.Len() != 0 {
		t.Fatalf("bad EmitRaw calls recorded %d records", r.Len())
	}
	if err := r.EmitRaw("raw", c.Data, c.Records); err != nil {
		t.Fatal(err)
	}
	got := r.Records()
	if len(got) != 2 || got[1].Event.Record.Value("a") != "y" || got[1].Event.Metadata.Value("m") != true {
		t.Errorf("records = %+v", got)
	}
	if r.Calls() != 1 {
		t.Errorf("calls = %d, want 1", r.Calls())
	}
}

func TestRecorderWaitSeesConcurrentEmits(t *testing.T) {
	r := NewRecorder()
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_ = r.Emit("t", event.Event{Record: event.Map{{"i", i}}})
			}
		}()
	}
	if !r.Wait(workers*each, 10*time.Second) {
		t.Fatalf("Wait: only %d records", r.Len())
	}
	wg.Wait()
	if r.Len() != workers*each {
		t.Errorf("len = %d", r.Len())
	}
}

func TestRecorderWaitTimesOut(t *testing.T) {
	r := NewRecorder()
	_ = r.Emit("t", event.Event{Record: event.Map{}})
	if r.Wait(2, 10*time.Millisecond) {
		t.Error("Wait(2) = true with one record")
	}
	if !r.Wait(1, 0) {
		t.Error("Wait(1) = false with one record")
	}
}

func TestRecorderFailWithAndPaused(t *testing.T) {
	r := NewRecorder()
	r.FailWith(pipeline.ErrStopped)
	if err := r.Emit("t", event.Event{Record: event.Map{}}); !errors.Is(err, pipeline.ErrStopped) {
		t.Errorf("Emit = %v, want ErrStopped", err)
	}
	r.FailWith(nil)
	if err := r.Emit("t", event.Event{Record: event.Map{}}); err != nil {
		t.Error(err)
	}
	if r.Paused() {
		t.Error("paused by default")
	}
	r.SetPaused(true)
	if !r.Paused() {
		t.Error("SetPaused(true) not reported")
	}
}

func TestMakeChunkRoundTrips(t *testing.T) {
	evs := []event.Event{
		{Time: time.Unix(1700000000, 1), Record: event.Map{{"message", "dummy"}}},
		{Time: time.Unix(1700000001, 2), Metadata: event.Map{}, Record: event.Map{{"n", int64(3)}}},
	}
	c := MakeChunk("tag", evs...)
	if c.Tag != "tag" || c.Records != 2 {
		t.Fatalf("chunk = %q/%d", c.Tag, c.Records)
	}
	var got []event.Event
	if err := c.Events(func(ev event.Event) error { got = append(got, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if !got[i].Time.Equal(evs[i].Time) || !reflect.DeepEqual(got[i].Record, evs[i].Record) {
			t.Errorf("event %d = %+v, want %+v", i, got[i], evs[i])
		}
	}
	if got[0].Metadata != nil || got[1].Metadata == nil {
		t.Errorf("metadata = %v, %v", got[0].Metadata, got[1].Metadata)
	}
}

func TestMakeChunkPanicsOnUnencodable(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	MakeChunk("t", event.Event{Record: event.Map{{"c", make(chan int)}}})
}

func TestLogs(t *testing.T) {
	var l Logs
	env := l.Env("cpu.0")
	env.Logger.Info("hello")
	env.Logger.With("k", 1).Warn("careful")
	if env.Name != "cpu.0" || len(l.Records()) != 2 {
		t.Fatalf("env = %+v, records = %d", env, len(l.Records()))
	}
	if n := l.Count(slog.LevelWarn); n != 1 {
		t.Errorf("warnings = %d, want 1", n)
	}
}
