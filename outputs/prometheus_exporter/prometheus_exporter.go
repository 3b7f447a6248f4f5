// Package prometheus_exporter serves records as Prometheus metrics on a scrape endpoint
// (GET /metrics on host:port, our embedhttp server), like Fluent Bit's output of this name
// but for records: they are mapped to samples by package internal/promsample (the same
// mapping as prometheus_remote_write; see docs/prometheus.md). The page holds the last
// value of each series; a series no record has updated for stale_after is dropped from it.
// With add_timestamp on, each line carries the record's time.
package prometheus_exporter

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/embedhttp"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/promsample"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

func init() {
	pipeline.RegisterOutput("prometheus_exporter", func() pipeline.Output { return New() })
}

// Output is the prometheus_exporter output.
type Output struct {
	Host         string        `conf:"host"`
	Port         int           `conf:"port"`
	AddTimestamp bool          `conf:"add_timestamp"`
	StaleAfter   time.Duration `conf:"stale_after"`

	promsample.Settings // add_label, metric_prefix, include_tag, label_keys

	mapper *promsample.Mapper
	srv    *embedhttp.Server
	log    *slog.Logger

	mu     sync.Mutex
	series map[string]entry
	now    func() time.Time
}

type entry struct {
	s        promsample.Sample
	received time.Time
}

// New returns an Output with Fluent Bit's defaults (0.0.0.0:2021) and stale_after 5m.
func New() *Output {
	return &Output{Host: "0.0.0.0", Port: 2021, StaleAfter: 5 * time.Minute, Settings: promsample.DefaultSettings()}
}

// Validate checks the keys without side effects; errors name the key.
func (o *Output) Validate() error {
	if o.Host == "" {
		return config.KeyErrorf("host", "empty host")
	}
	if o.Port < 0 || o.Port > 65535 {
		return config.KeyErrorf("port", "%d: want 0 to 65535", o.Port)
	}
	if o.StaleAfter <= 0 {
		return config.KeyErrorf("stale_after", "%v: want a positive duration", o.StaleAfter)
	}
	m, err := promsample.New(o.Settings)
	if err != nil {
		ke := err.(*promsample.KeyError)
		return config.KeyErrorf(ke.Key, "%s", ke.Msg)
	}
	o.mapper = m
	return nil
}

// Init starts the scrape endpoint.
func (o *Output) Init(_ context.Context, env pipeline.Env) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o.log = env.Logger
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	o.series = map[string]entry{}
	o.srv = &embedhttp.Server{Addr: net.JoinHostPort(o.Host, strconv.Itoa(o.Port)), Handler: embedhttp.HandlerFunc(o.serve),
		Workers: 1, Logger: o.log}
	if err := o.srv.Start(context.Background()); err != nil {
		return fmt.Errorf("prometheus_exporter: %w", err)
	}
	return nil
}

// Addr is where the endpoint listens (useful with port 0).
func (o *Output) Addr() net.Addr { return o.srv.ListenAddr() }

// Close stops the endpoint.
func (o *Output) Close(ctx context.Context) error {
	if o.srv == nil {
		return nil
	}
	return o.srv.Shutdown(ctx)
}

// Flush keeps the last value of each series in the chunk.
func (o *Output) Flush(_ context.Context, c *pipeline.Chunk) error {
	var samples []promsample.Sample
	decodeErr := c.Events(func(ev event.Event) error {
		samples = o.mapper.Append(samples, c.Tag, &ev)
		return nil
	})
	now := o.now()
	var key []byte
	o.mu.Lock()
	for i := range samples {
		key = promsample.SeriesKey(key[:0], &samples[i])
		if old, ok := o.series[string(key)]; ok && old.s.Time.After(samples[i].Time) {
			continue // an older record (a backlog) does not replace a newer value
		}
		o.series[string(key)] = entry{s: samples[i], received: now}
	}
	o.mu.Unlock()
	if decodeErr != nil {
		return fmt.Errorf("prometheus_exporter: chunk %q: records after the damage not kept: %w", c.Tag, decodeErr)
	}
	return nil
}

func (o *Output) serve(w *embedhttp.Response, r *embedhttp.Request) {
	if p := string(r.Path()); p != "/metrics" && p != "/" {
		w.SetStatus(404)
		return
	}
	w.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	w.Write(o.Page(nil))
}

// Page appends the exposition text of the current series, dropping stale ones first.
func (o *Output) Page(dst []byte) []byte {
	now := o.now()
	o.mu.Lock()
	list := make([]promsample.Sample, 0, len(o.series))
	for k, e := range o.series {
		if now.Sub(e.received) > o.StaleAfter {
			delete(o.series, k)
			continue
		}
		list = append(list, e.s)
	}
	o.mu.Unlock()
	var keys [][]byte
	for i := range list {
		keys = append(keys, promsample.SeriesKey(nil, &list[i]))
	}
	idx := make([]int, len(list))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(string(keys[a]), string(keys[b])) })
	last := ""
	for _, i := range idx {
		s := &list[i]
		if s.Name != last {
			dst = append(dst, "# TYPE "...)
			dst = append(dst, s.Name...)
			dst = append(dst, " gauge\n"...)
			last = s.Name
		}
		dst = append(dst, s.Name...)
		if len(s.Labels) > 0 {
			dst = append(dst, '{')
			for j, l := range s.Labels {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, l.Name...)
				dst = append(dst, '=', '"')
				dst = appendLabelValue(dst, l.Value)
				dst = append(dst, '"')
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ' ')
		dst = promsample.FormatValue(dst, s.Value)
		if o.AddTimestamp {
			dst = append(dst, ' ')
			dst = strconv.AppendInt(dst, s.Time.UnixMilli(), 10)
		}
		dst = append(dst, '\n')
	}
	return dst
}

// appendLabelValue escapes a label value as the text format wants: \\, \" and \n.
func appendLabelValue(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			dst = append(dst, `\\`...)
		case '"':
			dst = append(dst, `\"`...)
		case '\n':
			dst = append(dst, `\n`...)
		default:
			dst = append(dst, v[i])
		}
	}
	return dst
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Output      = (*Output)(nil)
	_ pipeline.Validator   = (*Output)(nil)
	_ pipeline.Initializer = (*Output)(nil)
	_ pipeline.Closer      = (*Output)(nil)
)
