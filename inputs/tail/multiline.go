package tail

import (
	"bytes"
	"strings"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// The built-in multiline parsers (multiline.parser): container runtimes split long
// messages into partial lines, which are joined back into one record.
const (
	mlDocker = "docker" // {"log":"...","stream":..,"time":..}: a log without a final \n continues
	mlCRI    = "cri"    // <time> <stream> <P|F> <log>: P continues, F ends
)

// mlLimit bounds a message joined by a regex multiline parser: Fluent Bit's
// multiline_buffer_limit default (2M); the lines after it make messages of their own.
const mlLimit = 2 << 20

// mlFlushAfter is how long a partial message waits for its end before it is emitted as
// it is (Fluent Bit's flush_timeout for these parsers).
const mlFlushAfter = 4 * time.Second

// mlState is a file's message being joined.
type mlState struct {
	kind  string
	rec   event.Map // the first line's fields
	log   strings.Builder
	time  time.Time
	off   int64     // where its first line starts: the offset to save until it is emitted
	since time.Time // when it began
}

// parseCRI reads a CRI-O/containerd log line: time, stream, P or F, and the message.
func parseCRI(line []byte) (rec event.Map, t time.Time, partial bool, ok bool) {
	f := bytes.SplitN(line, []byte(" "), 4)
	if len(f) < 3 {
		return nil, t, false, false
	}
	stream, tag := string(f[1]), string(f[2])
	if (stream != "stdout" && stream != "stderr") || (tag != "P" && tag != "F") {
		return nil, t, false, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(f[0]))
	if err != nil {
		return nil, time.Time{}, false, false
	}
	msg := ""
	if len(f) == 4 {
		msg = string(f[3])
	}
	return event.Map{{"time", string(f[0])}, {"stream", stream}, {"_p", tag}, {"log", msg}}, t, tag == "P", true
}

// parseDocker reads a line of Docker's json-file log driver.
func parseDocker(line []byte) (rec event.Map, t time.Time, partial bool, ok bool) {
	if len(line) == 0 || line[0] != '{' {
		return nil, t, false, false
	}
	rec, err := event.RecordFromJSON(line)
	if err != nil {
		return nil, t, false, false
	}
	msg, isStr := rec.Value("log").(string)
	if !isStr {
		return nil, t, false, false
	}
	if ts, ok := rec.Value("time").(string); ok {
		t, _ = time.Parse(time.RFC3339Nano, ts)
	}
	return rec, t, !strings.HasSuffix(msg, "\n"), true
}

// multiline runs a line through the file's multiline parsers. It returns the record to
// emit now (nil: none yet, the line was kept, or no parser reads it and handled is
// false).
func (in *Input) multiline(f *file, off int64, line []byte) (rec event.Map, t time.Time, handled bool) {
	for _, kind := range in.MultilineParser {
		var partial, ok bool
		var r event.Map
		var lt time.Time
		switch kind {
		case mlCRI:
			r, lt, partial, ok = parseCRI(line)
		case mlDocker:
			r, lt, partial, ok = parseDocker(line)
		}
		if !ok {
			continue
		}
		msg, _ := r.Value("log").(string)
		if f.ml != nil && f.ml.kind == kind {
			f.ml.log.WriteString(msg)
			if partial {
				return nil, t, true
			}
			rec, t := f.mlTake()
			return rec, t, true
		}
		if partial {
			f.ml = &mlState{kind: kind, rec: r, time: lt, off: off, since: in.now()}
			f.ml.log.WriteString(msg)
			return nil, t, true
		}
		return r, lt, true
	}
	return nil, t, false
}

// mlTake ends f's joined message and returns its record and time.
func (f *file) mlTake() (event.Map, time.Time) {
	m := f.ml
	m.rec.Set("log", m.log.String())
	f.ml = nil
	return m.rec, m.time
}

// savePoint is the offset to save for f: where its pending joined message began, or
// where its next line begins.
func (f *file) savePoint() int64 {
	if f.ml != nil {
		return f.ml.off
	}
	if f.mls != nil {
		if mark, ok := f.mls.Pending(); ok {
			return mark
		}
	}
	return f.lineStart
}

// flushMultiline emits f's joined message as it is, when it has waited long enough for
// its end (or always, when force).
func (in *Input) flushMultiline(emit pipeline.Emitter, f *file, force bool) error {
	if f.mls != nil {
		m, ok := f.mls.Flush(in.now(), force)
		if !ok {
			return nil
		}
		t := in.now()
		if err := in.addEntry(emit, f, func(dst []byte) []byte { return in.appendRecord(dst, t, f.path, m.Mark, m.Text) }); err != nil {
			return err
		}
		in.touched[f] = f.savePoint()
		return nil
	}
	if f.ml == nil || (!force && in.now().Sub(f.ml.since) < mlFlushAfter) {
		return nil
	}
	off := f.ml.off
	rec, t := f.mlTake()
	if err := in.addEntry(emit, f, func(dst []byte) []byte { return in.appendFields(dst, t, f.path, off, rec) }); err != nil {
		return err
	}
	in.touched[f] = f.savePoint()
	return nil
}
