// Package influxdb writes records to InfluxDB as line protocol over HTTP, like Fluent Bit's
// influxdb output: one POST per chunk to the 1.x API (/write?db=, basic authentication) or,
// when bucket is set, the 2.x API (/api/v2/write?org=&bucket=, token authentication).
//
//	[OUTPUT]
//	    Name      influxdb
//	    Match     sensor.*
//	    Host      127.0.0.1
//	    Port      8086
//	    Database  telemetry
//	    Tag_Keys  room device
//
// Each record is one point: the measurement is the tag; tag_keys (and, with auto_tags, every
// string field) become tags; the other fields become fields (strings quoted, integers as
// numbers, with add_integer_suffix as integers "5i", booleans true/false, nested maps
// flattened with "." in the key, arrays as their JSON text); the record's time is the
// timestamp in precision's units. sequence_tag (default _seq, "off" for none) is a tag that
// counts up while consecutive records of one measurement share a timestamp and is 0
// otherwise, so such points do not overwrite each other. See docs/influxdb.md for the keys
// and every difference from Fluent Bit.
//
// Outcomes: 2xx delivers; 408, 429, 5xx and connection errors are retried (Retry-After is
// honoured); other answers drop the chunk for this output with an error that names the key
// to check (a 404 is an unknown database or bucket, 401 and 403 the credentials).
package influxdb

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/httppost"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

func init() {
	pipeline.RegisterOutput("influxdb", func() pipeline.Output { return New() })
}

// Output is the influxdb output.
type Output struct {
	Host             string   `conf:"host"`
	Port             int      `conf:"port"`
	Database         string   `conf:"database"`
	Bucket           string   `conf:"bucket"`
	Org              string   `conf:"org"`
	SequenceTag      string   `conf:"sequence_tag"`
	User             string   `conf:"http_user"`
	Passwd           string   `conf:"http_passwd"`
	Token            string   `conf:"http_token"`
	Headers          []string `conf:"http_header"`
	TagKeys          []string `conf:"tag_keys"`
	AutoTags         bool     `conf:"auto_tags"`
	URI              string   `conf:"uri"`
	AddIntegerSuffix bool     `conf:"add_integer_suffix"`
	Precision        string   `conf:"precision"`

	tlsconf.ClientSettings // tls, tls.verify, tls.ca_file, tls.ca_path, tls.crt_file, tls.key_file, tls.vhost, tls.debug

	ConnectTimeout time.Duration `conf:"net.connect_timeout"`
	IOTimeout      time.Duration `conf:"net.io_timeout"`

	url     string
	header  http.Header
	unit    time.Duration
	tagKeys map[string]bool
	seqTag  string
	client  *httppost.Client
	log     *slog.Logger

	mu   sync.Mutex
	last map[string]seqState // measurement -> last timestamp and its sequence
}

type seqState struct {
	t   int64
	seq int
}

// New returns an Output with Fluent Bit's defaults.
func New() *Output {
	return &Output{
		Host: "127.0.0.1", Port: 8086, Database: "fluentbit", Org: "fluent", SequenceTag: "_seq",
		Precision: "ns", ClientSettings: tlsconf.DefaultClient(),
		ConnectTimeout: 10 * time.Second, IOTimeout: 60 * time.Second,
	}
}

// Validate checks the keys without side effects; errors name the key.
func (o *Output) Validate() error {
	if o.Host == "" {
		return config.KeyErrorf("host", "empty host")
	}
	if o.Port < 1 || o.Port > 65535 {
		return config.KeyErrorf("port", "%d: want 1 to 65535", o.Port)
	}
	var v1, v2 string
	switch strings.ToLower(strings.TrimSpace(o.Precision)) {
	case "ns", "n", "":
		o.unit, v1, v2 = time.Nanosecond, "n", "ns"
	case "us", "u":
		o.unit, v1, v2 = time.Microsecond, "u", "us"
	case "ms":
		o.unit, v1, v2 = time.Millisecond, "ms", "ms"
	case "s":
		o.unit, v1, v2 = time.Second, "s", "s"
	default:
		return config.KeyErrorf("precision", "%q: want ns, us, ms or s", o.Precision)
	}
	q := url.Values{}
	path := "/write"
	if o.Bucket != "" {
		path = "/api/v2/write"
		if o.Org == "" {
			return config.KeyErrorf("org", "empty org: the 2.x API (bucket is set) needs one")
		}
		q.Set("org", o.Org)
		q.Set("bucket", o.Bucket)
		q.Set("precision", v2)
	} else {
		if o.Database == "" {
			return config.KeyErrorf("database", "empty database")
		}
		q.Set("db", o.Database)
		q.Set("precision", v1)
	}
	if o.URI != "" {
		if !strings.HasPrefix(o.URI, "/") {
			return config.KeyErrorf("uri", "%q: must start with /", o.URI)
		}
		path = o.URI
	}
	o.header = http.Header{}
	if err := httppost.ParseHeaders(o.header, o.Headers); err != nil {
		return config.KeyErrorf("http_header", "%v", err)
	}
	o.header.Set("Content-Type", "text/plain; charset=utf-8")
	if o.header.Get("User-Agent") == "" {
		o.header.Set("User-Agent", "Fluent-Bit")
	}
	switch {
	case o.Token != "":
		o.header.Set("Authorization", "Token "+o.Token)
	case o.User != "":
		o.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(o.User+":"+o.Passwd)))
	case o.Passwd != "":
		return config.KeyErrorf("http_passwd", "set without http_user")
	}
	o.tagKeys = map[string]bool{}
	for _, v := range o.TagKeys {
		for _, k := range strings.Fields(v) {
			o.tagKeys[k] = true
		}
	}
	o.seqTag = o.SequenceTag
	switch strings.ToLower(o.seqTag) {
	case "off", "false", "no", "none":
		o.seqTag = ""
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
	scheme := "http"
	if o.TLS {
		scheme = "https"
	}
	o.url = scheme + "://" + net.JoinHostPort(o.Host, strconv.Itoa(o.Port)) + path + "?" + q.Encode()
	if _, err := url.Parse(o.url); err != nil {
		return config.KeyErrorf("uri", "%q: %v", o.URI, err)
	}
	return nil
}

// Init builds the HTTP client (reading the TLS files).
func (o *Output) Init(_ context.Context, env pipeline.Env) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o.log = env.Logger
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	c, err := httppost.ForOutput(o.url, o.header, &o.ClientSettings, o.Host, o.ConnectTimeout, o.IOTimeout)
	if err != nil {
		return err
	}
	o.client = c
	o.last = map[string]seqState{}
	return nil
}

// Close lets idle connections go.
func (o *Output) Close(context.Context) error {
	o.client.CloseIdle()
	return nil
}

// EncodedSize estimates the line protocol body Flush builds for c
// (pipeline.EncodingSizer).
func (o *Output) EncodedSize(c *pipeline.Chunk) int { return 2 * len(c.Data) }

// Flush writes the chunk's records as one line protocol body.
func (o *Output) Flush(ctx context.Context, c *pipeline.Chunk) error {
	body, skipped, decodeErr := o.Body(nil, c)
	if skipped > 0 {
		o.log.Warn("records without fields skipped (a point needs one)", "tag", c.Tag, "records", skipped)
	}
	if len(body) > 0 {
		if err := o.client.Post(ctx, "influxdb", body, o.hint); err != nil {
			return err
		}
	}
	if decodeErr != nil {
		return fmt.Errorf("influxdb: chunk %q: records after the damage not sent: %w", c.Tag, decodeErr)
	}
	return nil
}

func (o *Output) hint(code int) string {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		if o.Token != "" {
			return "check http_token"
		}
		return "check http_user and http_passwd"
	case http.StatusNotFound:
		if o.Bucket != "" {
			return "check bucket, org and uri"
		}
		return "check database and uri"
	case http.StatusBadRequest:
		return "the server refused a point; see its answer"
	case http.StatusRequestEntityTooLarge:
		return "the chunk is over the server's max-body-size"
	}
	return ""
}

// Body appends the line protocol of chunk c to dst. skipped counts records that had no
// field; with a damaged chunk, the body holds the records before the damage.
func (o *Output) Body(dst []byte, c *pipeline.Chunk) (_ []byte, skipped int, _ error) {
	var tags []field
	err := c.Events(func(ev event.Event) error {
		var ok bool
		dst, tags, ok = o.appendPoint(dst, c.Tag, &ev, tags[:0])
		if !ok {
			skipped++
		}
		return nil
	})
	return dst, skipped, err
}

// appendPoint writes one line; ok is false (and nothing written) when the record has no
// field.
func (o *Output) appendPoint(dst []byte, measurement string, ev *event.Event, tags []field) ([]byte, []field, bool) {
	start := len(dst)
	dst = appendName(dst, measurement, specialMeasurement)
	nfields := 0
	var fieldBuf []byte
	walkRecord(ev.Record, "", 0, func(k string, v any) {
		if s, isStr := v.(string); o.tagKeys[k] || (o.AutoTags && isStr) {
			if !isStr {
				s = tagText(v)
			}
			if s != "" && k != "" {
				tags = append(tags, field{k, s})
			}
			return
		}
		if k == "" {
			return
		}
		mark := len(fieldBuf)
		if nfields > 0 {
			fieldBuf = append(fieldBuf, ',')
		}
		fieldBuf = appendName(fieldBuf, k, specialKey)
		fieldBuf = append(fieldBuf, '=')
		var ok bool
		if fieldBuf, ok = appendFieldValue(fieldBuf, v, o.AddIntegerSuffix); !ok {
			fieldBuf = fieldBuf[:mark]
			return
		}
		nfields++
	})
	if nfields == 0 {
		return dst[:start], tags, false
	}
	if o.seqTag != "" {
		tags = append(tags, field{o.seqTag, strconv.Itoa(o.sequence(measurement, ev.Time))})
	}
	slices.SortFunc(tags, func(a, b field) int { return strings.Compare(a.key, b.key) })
	for _, t := range tags {
		dst = append(dst, ',')
		dst = appendName(dst, t.key, specialKey)
		dst = append(dst, '=')
		dst = appendName(dst, t.val.(string), specialKey)
	}
	dst = append(dst, ' ')
	dst = append(dst, fieldBuf...)
	dst = append(dst, ' ')
	dst = appendTimestamp(dst, ev.Time, o.unit)
	return append(dst, '\n'), tags, true
}

// sequence returns the sequence tag's value for a point of measurement at t.
func (o *Output) sequence(measurement string, t time.Time) int {
	ts := t.UnixNano()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last == nil {
		o.last = map[string]seqState{}
	}
	s := o.last[measurement]
	if s.t == ts {
		s.seq++
	} else {
		s = seqState{t: ts}
	}
	if len(o.last) > 4096 {
		clear(o.last) // bound the memory a tag explosion could take
	}
	o.last[measurement] = s
	return s.seq
}

func tagText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case nil:
		return ""
	}
	return string(event.AppendJSON(nil, v))
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
