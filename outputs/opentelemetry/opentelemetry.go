// Package opentelemetry sends records to an OpenTelemetry endpoint over OTLP/HTTP, like
// Fluent Bit's opentelemetry output: each chunk is one ExportLogsServiceRequest POSTed to
// host:port/logs_uri (protobuf by default, OTLP/JSON with format json, gzip with compress
// gzip), each record one LogRecord.
//
//	[OUTPUT]
//	    Name                           opentelemetry
//	    Match                          app.*
//	    Host                           127.0.0.1
//	    Port                           4318
//	    Logs_Body_Key                  $message
//	    Logs_Body_Key_Attributes       on
//	    Logs_Severity_Text_Message_Key level
//	    Add_Label                      service.name pump-7
//
// The body is the value of the first logs_body_key found in the record (Fluent Bit's
// default: $log, then $message); with logs_body_key_attributes the other keys become the
// record's attributes. A record with none of the body keys is the body itself, a kvlist in
// record order. Severity, trace and span ids come from the logs_*_message_key record keys
// and from the "otlp" metadata map Fluent Bit's OpenTelemetry input leaves; add_label adds
// resource attributes. Records whose tag matches metrics_match are sent as gauges to
// metrics_uri instead (each numeric field one gauge, as the prometheus outputs map them).
// See docs/opentelemetry.md for the mapping and every difference from Fluent Bit.
//
// Outcomes: 2xx delivers; 408, 429, 5xx and connection errors are retried (Retry-After
// honoured); any other answer is a permanent refusal (the engine's rejected way).
package opentelemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/event/accessor"
	"github.com/fluentbit-go/fluentbit-go/internal/httppost"
	"github.com/fluentbit-go/fluentbit-go/internal/promsample"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

func init() {
	pipeline.RegisterOutput("opentelemetry", func() pipeline.Output { return New() })
}

// Output is the opentelemetry output.
type Output struct {
	Host       string   `conf:"host"`
	Port       int      `conf:"port"`
	LogsURI    string   `conf:"logs_uri"`
	MetricsURI string   `conf:"metrics_uri"`
	Headers    []string `conf:"header"`
	User       string   `conf:"http_user"`
	Passwd     string   `conf:"http_passwd"`
	Compress   string   `conf:"compress"`
	AddLabels  []string `conf:"add_label"` // "NAME VALUE": resource attributes

	LogsBodyKey           []string `conf:"logs_body_key"`
	LogsBodyKeyAttributes bool     `conf:"logs_body_key_attributes"`
	LogsMetadataKey       string   `conf:"logs_metadata_key"`
	SeverityTextKey       string   `conf:"logs_severity_text_message_key"`
	SeverityNumberKey     string   `conf:"logs_severity_number_message_key"`
	TraceIDKey            string   `conf:"logs_trace_id_message_key"`
	SpanIDKey             string   `conf:"logs_span_id_message_key"`

	// Not Fluent Bit keys: the body encoding, and which tags go as metrics.
	Format       string   `conf:"format"`
	MetricsMatch []string `conf:"metrics_match"`

	tlsconf.ClientSettings

	ConnectTimeout time.Duration `conf:"net.connect_timeout"`
	IOTimeout      time.Duration `conf:"net.io_timeout"`

	enc         encoding
	bodyKeys    []*accessor.Accessor
	sevText     *accessor.Accessor
	sevNum      *accessor.Accessor
	traceID     *accessor.Accessor
	spanID      *accessor.Accessor
	resource    []kv
	mapper      *promsample.Mapper
	metricsTags []string
	logs        *httppost.Client
	metrics     *httppost.Client
	log         *slog.Logger
	bufs        sync.Pool
}

type kv struct {
	key   string
	value any
}

// New returns an Output with Fluent Bit's defaults.
func New() *Output {
	return &Output{Host: "127.0.0.1", Port: 80, LogsURI: "/v1/logs", MetricsURI: "/v1/metrics",
		LogsMetadataKey: "otlp", SeverityTextKey: "$SeverityText", SeverityNumberKey: "$SeverityNumber",
		TraceIDKey: "$TraceId", SpanIDKey: "$SpanId",
		ClientSettings: tlsconf.DefaultClient(), ConnectTimeout: 10 * time.Second, IOTimeout: 60 * time.Second}
}

func optionalAccessor(key, expr string) (*accessor.Accessor, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	a, err := accessor.Parse(strings.TrimSpace(expr))
	if err != nil {
		return nil, config.KeyErrorf(key, "%q: %v", expr, err)
	}
	return a, nil
}

// Validate checks the keys without side effects; errors name the key.
func (o *Output) Validate() error {
	if o.Host == "" {
		return config.KeyErrorf("host", "empty host")
	}
	if o.Port < 1 || o.Port > 65535 {
		return config.KeyErrorf("port", "%d: want 1 to 65535", o.Port)
	}
	for key, uri := range map[string]*string{"logs_uri": &o.LogsURI, "metrics_uri": &o.MetricsURI} {
		if !strings.HasPrefix(*uri, "/") {
			return config.KeyErrorf(key, "%q: must start with /", *uri)
		}
	}
	var gz bool
	switch strings.ToLower(strings.TrimSpace(o.Compress)) {
	case "", "off", "none":
	case "gzip":
		gz = true
	default:
		return config.KeyErrorf("compress", "%q: want gzip (zstd is not built in)", o.Compress)
	}
	switch strings.ToLower(strings.TrimSpace(o.Format)) {
	case "", "protobuf":
		o.enc = encoding{json: false, gzip: gz}
	case "json":
		o.enc = encoding{json: true, gzip: gz}
	default:
		return config.KeyErrorf("format", "%q: want protobuf or json", o.Format)
	}
	o.bodyKeys = nil
	keys := o.LogsBodyKey
	if len(keys) == 0 {
		keys = []string{"$log", "$message"}
	}
	for _, v := range keys {
		for _, k := range strings.Split(v, ",") {
			a, err := optionalAccessor("logs_body_key", k)
			if err != nil {
				return err
			}
			if a != nil {
				o.bodyKeys = append(o.bodyKeys, a)
			}
		}
	}
	var err error
	if o.sevText, err = optionalAccessor("logs_severity_text_message_key", o.SeverityTextKey); err != nil {
		return err
	}
	if o.sevNum, err = optionalAccessor("logs_severity_number_message_key", o.SeverityNumberKey); err != nil {
		return err
	}
	if o.traceID, err = optionalAccessor("logs_trace_id_message_key", o.TraceIDKey); err != nil {
		return err
	}
	if o.spanID, err = optionalAccessor("logs_span_id_message_key", o.SpanIDKey); err != nil {
		return err
	}
	o.resource = nil
	for _, l := range o.AddLabels {
		name, value, _ := strings.Cut(strings.TrimSpace(l), " ")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if name == "" || value == "" {
			return config.KeyErrorf("add_label", "%q: want \"NAME VALUE\"", l)
		}
		o.resource = append(o.resource, kv{name, value})
	}
	if o.mapper, err = promsample.New(promsample.Settings{IncludeTag: true}); err != nil {
		return config.KeyErrorf("metrics_match", "%v", err)
	}
	o.metricsTags = nil
	for _, p := range o.MetricsMatch {
		o.metricsTags = append(o.metricsTags, strings.Fields(p)...)
	}
	if len(o.MetricsMatch) > 0 && len(o.metricsTags) == 0 {
		return config.KeyErrorf("metrics_match", "empty pattern")
	}
	if o.User == "" && o.Passwd != "" {
		return config.KeyErrorf("http_passwd", "set without http_user")
	}
	if err := o.ClientSettings.Validate(); err != nil {
		return err
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.IOTimeout <= 0 {
		o.IOTimeout = 60 * time.Second
	}
	h := http.Header{}
	if err := httppost.ParseHeaders(h, o.Headers); err != nil {
		return config.KeyErrorf("header", "%v", err)
	}
	return nil
}

type encoding struct{ json, gzip bool }

func (o *Output) header() http.Header {
	h := http.Header{}
	_ = httppost.ParseHeaders(h, o.Headers) // checked by Validate
	if o.enc.json {
		h.Set("Content-Type", "application/json")
	} else {
		h.Set("Content-Type", "application/x-protobuf")
	}
	if o.enc.gzip {
		h.Set("Content-Encoding", "gzip")
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", "Fluent-Bit")
	}
	if o.User != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(o.User+":"+o.Passwd)))
	}
	return h
}

// Init builds the HTTP clients (reading the TLS files).
func (o *Output) Init(_ context.Context, env pipeline.Env) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o.log = env.Logger
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	scheme := "http"
	if o.TLS {
		scheme = "https"
	}
	base := scheme + "://" + net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	var err error
	if o.logs, err = httppost.ForOutput(base+o.LogsURI, o.header(), &o.ClientSettings, o.Host, o.ConnectTimeout, o.IOTimeout); err != nil {
		return err
	}
	o.metrics, err = httppost.ForOutput(base+o.MetricsURI, o.header(), &o.ClientSettings, o.Host, o.ConnectTimeout, o.IOTimeout)
	return err
}

// Close lets idle connections go.
func (o *Output) Close(context.Context) error {
	o.logs.CloseIdle()
	o.metrics.CloseIdle()
	return nil
}

func (o *Output) isMetrics(tag string) bool {
	for _, p := range o.metricsTags {
		if pipeline.MatchTag(p, tag) {
			return true
		}
	}
	return false
}

// EncodedSize estimates what Flush builds for c (pipeline.EncodingSizer): the OTLP
// request (protobuf or JSON) and, with compress gzip, its compressed copy.
func (o *Output) EncodedSize(c *pipeline.Chunk) int { return 3 * len(c.Data) }

// Flush sends the chunk as one export request.
func (o *Output) Flush(ctx context.Context, c *pipeline.Chunk) error {
	bp, _ := o.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer o.bufs.Put(bp)
	var body []byte
	var decodeErr error
	client := o.logs
	if o.isMetrics(c.Tag) {
		client = o.metrics
		var samples []promsample.Sample
		decodeErr = c.Events(func(ev event.Event) error {
			samples = o.mapper.Append(samples, c.Tag, &ev)
			return nil
		})
		if len(samples) > 0 {
			body = o.MetricsRequest((*bp)[:0], samples)
		}
	} else {
		var n int
		body, n, decodeErr = o.LogsRequest((*bp)[:0], c)
		if n == 0 {
			body = nil
		}
	}
	if body != nil {
		*bp = body
		if o.enc.gzip {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(body)
			if err := zw.Close(); err != nil {
				return fmt.Errorf("opentelemetry: gzip: %w", err)
			}
			body = buf.Bytes()
		}
		if err := client.Post(ctx, "opentelemetry", body, hint); err != nil {
			return err
		}
	}
	if decodeErr != nil {
		return fmt.Errorf("opentelemetry: chunk %q: records after the damage not sent: %w", c.Tag, decodeErr)
	}
	return nil
}

func hint(code int) string {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return "check http_user, http_passwd and header"
	case http.StatusNotFound:
		return "check logs_uri and metrics_uri"
	case http.StatusUnsupportedMediaType:
		return "check format"
	}
	return ""
}

// logRecord is one record mapped to the OTLP log data model.
type logRecord struct {
	time, observed time.Time
	sevNum         int64
	sevText        string
	body           any
	attrs          event.Map
	flags          uint32
	traceID        []byte
	spanID         []byte
}

// mapRecord maps one event as described in the package comment.
func (o *Output) mapRecord(ev *event.Event) logRecord {
	r := logRecord{time: ev.Time}
	rec := ev.Record
	if v, ok := get(o.sevText, rec); ok {
		if s, ok := v.(string); ok {
			r.sevText = s
		}
	}
	if v, ok := get(o.sevNum, rec); ok {
		r.sevNum, _ = severityNumber(v)
	}
	if v, ok := get(o.traceID, rec); ok {
		r.traceID = id(v, 16)
	}
	if v, ok := get(o.spanID, rec); ok {
		r.spanID = id(v, 8)
	}
	r.body = rec
	for _, a := range o.bodyKeys {
		v, ok := a.Get(rec)
		if !ok {
			continue
		}
		r.body = v
		if o.LogsBodyKeyAttributes {
			rest := rec // the event is the chunk's decoded copy: it may change
			a.Delete(&rest)
			r.attrs = rest
		}
		break
	}
	if m, ok := ev.Metadata.Value(o.LogsMetadataKey).(event.Map); ok {
		o.fromMetadata(&r, m)
	}
	return r
}

// fromMetadata takes the fields of the "otlp" metadata map Fluent Bit's OpenTelemetry
// input writes (severity_number, severity_text, timestamp, observed_timestamp,
// attributes, trace_id, span_id, trace_flags); they win over the record's.
func (o *Output) fromMetadata(r *logRecord, m event.Map) {
	for _, f := range m {
		switch f.Key {
		case "severity_number":
			if n, ok := severityNumber(f.Value); ok {
				r.sevNum = n
			}
		case "severity_text":
			if s, ok := f.Value.(string); ok {
				r.sevText = s
			}
		case "timestamp", "observed_timestamp":
			var t time.Time
			switch x := f.Value.(type) {
			case int64:
				t = time.Unix(0, x)
			case uint64:
				t = time.Unix(0, int64(x))
			default:
				continue
			}
			if f.Key == "timestamp" {
				r.time = t
			} else {
				r.observed = t
			}
		case "attributes":
			if a, ok := f.Value.(event.Map); ok {
				r.attrs = append(r.attrs, a...)
			}
		case "trace_id":
			r.traceID = id(f.Value, 16)
		case "span_id":
			r.spanID = id(f.Value, 8)
		case "trace_flags":
			if n, ok := promsample.Number(f.Value); ok && n >= 0 && n <= 0xffffffff {
				r.flags = uint32(n)
			}
		}
	}
}

func get(a *accessor.Accessor, rec event.Map) (any, bool) {
	if a == nil {
		return nil, false
	}
	return a.Get(rec)
}

func severityNumber(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, x >= 0 && x <= 24
	case uint64:
		return int64(x), x <= 24
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil && n >= 0 && n <= 24
	}
	return 0, false
}

// id reads a trace or span id: n raw bytes, or 2n hex digits.
func id(v any, n int) []byte {
	switch x := v.(type) {
	case []byte:
		if len(x) == n {
			return x
		}
		v = string(x)
	}
	s, ok := v.(string)
	if !ok || len(s) != 2*n {
		return nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Output      = (*Output)(nil)
	_ pipeline.Validator   = (*Output)(nil)
	_ pipeline.Initializer = (*Output)(nil)
	_ pipeline.Closer      = (*Output)(nil)
)

// The engine counts its encoding against the memory budget.
var _ pipeline.EncodingSizer = (*Output)(nil)
