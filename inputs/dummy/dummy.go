// Package dummy generates fixed records at a steady pace, like Fluent Bit's dummy input: for
// testing pipelines, benchmarking outputs and getting started. It reads nothing from the
// outside world.
//
//	[INPUT]
//	    Name   dummy
//	    Tag    dummy.log
//	    Dummy  {"message":"custom dummy"}
//	    Rate   1000
//
// Keys:
//
//   - dummy: the record, a JSON object, or a JSON array of objects (each object is one
//     record of every generation). Default {"message":"dummy"}.
//   - metadata: a JSON object sent as the records' metadata (Fluent Bit's v2 event format,
//     [[time, metadata], record]). Default none: classic [time, record] entries.
//   - rate: generations per second (default 1).
//   - interval_sec, interval_nsec: the period between generations; when either is set it
//     overrides rate. interval_sec takes seconds (1, 0.5) or a Go duration (500ms);
//     interval_nsec takes whole nanoseconds and is added to it.
//   - copies: how many times the dummy records are repeated in every generation (default 1).
//   - samples: stop after this many generations (default 0: never stop). As in Fluent Bit
//     a generation is copies × (objects in dummy) records, so samples 3 with copies 2 emits
//     6 records. When the last one is emitted the input finishes (Run returns nil).
//   - start_time_sec, start_time_nsec: the time of the first generation (default -1: now).
//     Later generations are later by the time that passed, as in Fluent Bit.
//   - fixed_timestamp on|off: every record carries the start time (start_time_sec/nsec, or
//     the time the input started), so output is reproducible. Default off.
//   - flush_on_startup on|off: generate once when the input starts instead of waiting one
//     period first. Default off.
//
// Differences from Fluent Bit: a value it would replace silently by its default (invalid
// JSON, a negative interval, rate or copies below 1) is an error here, naming the key. Each
// record carries the time its generation was due rather than the time the timer fired, so
// records are evenly spaced even at high rates. Records are encoded once and handed to the
// engine in batches, so rates of hundreds of thousands per second are cheap; if the engine
// holds the input back (mem_buf_limit), at most one second of missed generations is caught
// up when it resumes, the rest are skipped, as Fluent Bit's paused collector skips them.
package dummy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// DefaultRecord is the record the input generates when dummy is not set.
const DefaultRecord = `{"message":"dummy"}`

// Input is the dummy input. Set the fields (or let the engine decode them), then call Init.
type Input struct {
	Dummy          string        `conf:"dummy"`           // JSON object or array of objects
	Metadata       string        `conf:"metadata"`        // JSON object; "" for none
	Rate           int           `conf:"rate"`            // generations per second
	IntervalSec    time.Duration `conf:"interval_sec"`    // overrides rate when non-zero
	IntervalNsec   int64         `conf:"interval_nsec"`   // added to IntervalSec
	Copies         int           `conf:"copies"`          // repeats per generation
	Samples        int64         `conf:"samples"`         // generations before finishing; 0: no limit
	StartTimeSec   int64         `conf:"start_time_sec"`  // -1: now
	StartTimeNsec  int64         `conf:"start_time_nsec"` // -1: now (0 when only start_time_sec is set)
	FixedTimestamp bool          `conf:"fixed_timestamp"`
	FlushOnStartup bool          `conf:"flush_on_startup"`

	log       *slog.Logger
	period    time.Duration
	start     time.Time // start_time, when set
	startSet  bool
	base      time.Time // when Init ran: the fixed timestamp when start_time is not set
	perGen    int       // records per generation
	rest      [][]byte  // per record: what follows the time in an entry (metadata?, body)
	withMeta  bool
	generated int64 // generations emitted, across restarts of Run
	buf       []byte
}

// New returns an Input with Fluent Bit's defaults.
func New() *Input {
	return &Input{Dummy: DefaultRecord, Rate: 1, Copies: 1, StartTimeSec: -1, StartTimeNsec: -1}
}

func init() { pipeline.RegisterInput("dummy", func() pipeline.Input { return New() }) }

// maxBatchBytes bounds one EmitRaw call, so a batch does not overshoot a chunk's size limit
// or the input's mem_buf_limit by much.
const maxBatchBytes = 128 << 10

// minWake is the shortest sleep between batches: at high rates every wake-up emits the
// generations that fell due since the last one, instead of one timer per record.
const minWake = 5 * time.Millisecond

// Validate checks the keys and encodes the records once, without side effects, so that
// mistakes show up when the configuration is loaded (and at --dry-run). Errors are
// config.KeyErrorf errors naming the key at fault. It may be called more than once.
func (in *Input) Validate() error {
	switch {
	case in.IntervalSec < 0:
		return config.KeyErrorf("interval_sec", "%v: want 0 or more", in.IntervalSec)
	case in.IntervalNsec < 0:
		return config.KeyErrorf("interval_nsec", "%d: want 0 or more", in.IntervalNsec)
	case in.Copies < 1:
		return config.KeyErrorf("copies", "%d: want 1 or more", in.Copies)
	case in.Samples < 0:
		return config.KeyErrorf("samples", "%d: want 0 (no limit) or more", in.Samples)
	case in.StartTimeSec < -1:
		return config.KeyErrorf("start_time_sec", "%d: want -1 (now) or a Unix time", in.StartTimeSec)
	case in.StartTimeNsec < -1 || in.StartTimeNsec >= 1e9:
		return config.KeyErrorf("start_time_nsec", "%d: want -1 (now) or 0 to 999999999", in.StartTimeNsec)
	}
	period := in.IntervalSec + time.Duration(in.IntervalNsec)
	if period == 0 {
		if in.Rate < 1 {
			return config.KeyErrorf("rate", "%d: want 1 or more generations per second", in.Rate)
		}
		period = time.Second / time.Duration(in.Rate)
		if period == 0 {
			return config.KeyErrorf("rate", "%d: want at most 1000000000 per second", in.Rate)
		}
	}

	src := in.Dummy
	if src == "" {
		src = DefaultRecord
	}
	recs, err := event.RecordsFromJSON([]byte(src))
	if err != nil {
		return config.KeyErrorf("dummy", "want a JSON object or an array of objects: %v", err)
	}
	if len(recs) == 0 {
		return config.KeyErrorf("dummy", "the array holds no object, so nothing would be generated")
	}
	var meta []byte
	withMeta := in.Metadata != ""
	if withMeta {
		md, err := event.RecordFromJSON([]byte(in.Metadata))
		if err != nil {
			return config.KeyErrorf("metadata", "want a JSON object: %v", err)
		}
		if meta, err = event.AppendOrderedMap(nil, md); err != nil {
			return config.KeyErrorf("metadata", "%v", err)
		}
	}
	rest := make([][]byte, 0, len(recs))
	for i, r := range recs {
		body, err := event.AppendOrderedMap(append([]byte(nil), meta...), r)
		if err != nil {
			return config.KeyErrorf("dummy", "object %d: %v", i, err)
		}
		rest = append(rest, body)
	}
	in.period, in.withMeta, in.rest = period, withMeta, rest
	in.perGen = len(recs) * in.Copies
	in.startSet = in.StartTimeSec >= 0 || in.StartTimeNsec >= 0
	in.start = time.Unix(max(in.StartTimeSec, 0), max(in.StartTimeNsec, 0))
	return nil
}

// Init validates the keys again (the fields may have been set since Configure) and
// records the time the input starts.
func (in *Input) Init(_ context.Context, env pipeline.Env) error {
	in.log = env.Logger
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if err := in.Validate(); err != nil {
		return err
	}
	in.base = time.Now()
	return nil
}

// Run emits generations as they fall due until ctx is done, the engine stops, or samples
// are all out (then it returns nil and the engine does not restart it).
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	// Tick k (k >= 1) falls due at base + k*period; with flush_on_startup tick 0 is due at
	// once. done is the next tick to emit.
	base := time.Now()
	done := int64(1)
	if in.FlushOnStartup && in.generated == 0 {
		done = 0
	}
	// Catch up at most one second (or one tick) after the engine held us back.
	maxLag := max(int64(time.Second/in.period), 1)
	timer := time.NewTimer(time.Duration(done) * in.period)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		now := time.Now()
		due := int64(now.Sub(base) / in.period) // last tick that is due
		if lag := due - done + 1; lag > maxLag {
			in.log.Debug("skipping generations the engine held back", "skipped", lag-maxLag)
			done += lag - maxLag
		}
		for done <= due {
			if in.Samples > 0 && in.generated >= in.Samples {
				return nil
			}
			n := due - done + 1
			if in.Samples > 0 {
				n = min(n, in.Samples-in.generated)
			}
			sent, err := in.emitBatch(emit, base, done, n)
			in.generated += sent
			done += sent
			if err != nil {
				if errors.Is(err, pipeline.ErrStopped) {
					return nil
				}
				return fmt.Errorf("dummy: emit: %w", err)
			}
			if ctx.Err() != nil {
				return nil
			}
		}
		if in.Samples > 0 && in.generated >= in.Samples {
			return nil
		}
		next := base.Add(time.Duration(done) * in.period)
		timer.Reset(max(time.Until(next), minWake))
	}
}

// emitBatch encodes up to n generations starting at tick first, in one EmitRaw call of at
// most about maxBatchBytes, and reports how many generations it emitted.
func (in *Input) emitBatch(emit pipeline.Emitter, base time.Time, first, n int64) (int64, error) {
	b := in.buf[:0]
	var k int64
	for k = 0; k < n && (k == 0 || len(b) < maxBatchBytes); k++ {
		t := in.timeOf(base, first+k)
		for c := 0; c < in.Copies; c++ {
			for _, rest := range in.rest {
				b = msgp.AppendArrayHeader(b, 2)
				if in.withMeta {
					b = msgp.AppendArrayHeader(b, 2)
				}
				b = event.AppendTime(b, t)
				b = append(b, rest...)
			}
		}
	}
	in.buf = b
	if err := emit.EmitRaw("", b, int(k)*in.perGen); err != nil {
		return 0, err
	}
	return k, nil
}

// timeOf is the time records of tick k carry.
func (in *Input) timeOf(base time.Time, k int64) time.Time {
	switch {
	case in.FixedTimestamp && in.startSet:
		return in.start
	case in.FixedTimestamp:
		return in.base
	case in.startSet:
		// As Fluent Bit: the start time plus the time passed since the input started.
		return in.start.Add(base.Sub(in.base) + time.Duration(k)*in.period)
	}
	return base.Add(time.Duration(k) * in.period)
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
)
