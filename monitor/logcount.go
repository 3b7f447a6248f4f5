package monitor

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// LogCounter counts the log lines an agent writes, by level, for Fluent Bit's
// fluentbit_logger_logs_total. Wrap the handler of the agent's logger with it and pass it
// in Options.Logs. The zero value is ready to use.
type LogCounter struct {
	counts [5]atomic.Uint64 // error, warn, info, debug, trace (Fluent Bit's order)
}

// LogLevels are the message_type label values, in Fluent Bit's order.
var LogLevels = [5]string{"error", "warn", "info", "debug", "trace"}

// Counts returns the lines written per level, in LogLevels order.
func (c *LogCounter) Counts() [5]uint64 {
	var out [5]uint64
	for i := range c.counts {
		out[i] = c.counts[i].Load()
	}
	return out
}

// Wrap returns h counting each record it handles.
func (c *LogCounter) Wrap(h slog.Handler) slog.Handler { return &countingHandler{h: h, c: c} }

func (c *LogCounter) add(l slog.Level) {
	i := 4 // below debug: trace
	switch {
	case l >= slog.LevelError:
		i = 0
	case l >= slog.LevelWarn:
		i = 1
	case l >= slog.LevelInfo:
		i = 2
	case l >= slog.LevelDebug:
		i = 3
	}
	c.counts[i].Add(1)
}

type countingHandler struct {
	h slog.Handler
	c *LogCounter
}

func (ch *countingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return ch.h.Enabled(ctx, l)
}

func (ch *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	ch.c.add(r.Level)
	return ch.h.Handle(ctx, r)
}

func (ch *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &countingHandler{h: ch.h.WithAttrs(as), c: ch.c}
}

func (ch *countingHandler) WithGroup(name string) slog.Handler {
	return &countingHandler{h: ch.h.WithGroup(name), c: ch.c}
}
