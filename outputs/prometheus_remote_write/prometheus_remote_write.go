// Package prometheus_remote_write sends records to a Prometheus remote-write 1.0 receiver:
// each chunk's records mapped to samples (package internal/promsample: numeric and boolean
// fields become samples named metric_prefix + tag + key path, labels from label_keys and
// add_label, the record's time as the timestamp), as one WriteRequest protobuf, snappy
// compressed, POSTed to host:port/uri. Fluent Bit's output of this name takes only its
// metrics events; ours takes records. See docs/prometheus.md.
//
// Outcomes: 2xx delivers; 408, 429, 5xx and connection errors are retried (Retry-After
// honoured); other answers (a 400 for out-of-order or too old samples) drop the chunk for
// this output with the server's answer in the error.
package prometheus_remote_write

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/httppost"
	"github.com/fluentbit-go/fluentbit-go/internal/promsample"
	"github.com/fluentbit-go/fluentbit-go/internal/snappy"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

func init() {
	pipeline.RegisterOutput("prometheus_remote_write", func() pipeline.Output { return New() })
}

// Output is the prometheus_remote_write output.
type Output struct {
	Host    string   `conf:"host"`
	Port    int      `conf:"port"`
	URI     string   `conf:"uri"`
	Headers []string `conf:"header"`
	User    string   `conf:"http_user"`
	Passwd  string   `conf:"http_passwd"`

	promsample.Settings // add_label, metric_prefix, include_tag, label_keys
	tlsconf.ClientSettings

	ConnectTimeout time.Duration `conf:"net.connect_timeout"`
	IOTimeout      time.Duration `conf:"net.io_timeout"`

	mapper *promsample.Mapper
	url    string
	header http.Header
	client *httppost.Client
	log    *slog.Logger
}

// New returns an Output with Fluent Bit's defaults.
func New() *Output {
	return &Output{Host: "127.0.0.1", Port: 80, URI: "/", Settings: promsample.DefaultSettings(),
		ClientSettings: tlsconf.DefaultClient(), ConnectTimeout: 10 * time.Second, IOTimeout: 60 * time.Second}
}

// Validate checks the keys without side effects; errors name the key.
func (o *Output) Validate() error {
	if o.Host == "" {
		return config.KeyErrorf("host", "empty host")
	}
	if o.Port < 1 || o.Port > 65535 {
		return config.KeyErrorf("port", "%d: want 1 to 65535", o.Port)
	}
	if o.URI == "" {
		o.URI = "/"
	}
	if !strings.HasPrefix(o.URI, "/") {
		return config.KeyErrorf("uri", "%q: must start with /", o.URI)
	}
	m, err := promsample.New(o.Settings)
	if err != nil {
		ke := err.(*promsample.KeyError)
		return config.KeyErrorf(ke.Key, "%s", ke.Msg)
	}
	o.mapper = m
	o.header = http.Header{}
	if err := httppost.ParseHeaders(o.header, o.Headers); err != nil {
		return config.KeyErrorf("header", "%v", err)
	}
	o.header.Set("Content-Type", "application/x-protobuf")
	o.header.Set("Content-Encoding", "snappy")
	o.header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	if o.header.Get("User-Agent") == "" {
		o.header.Set("User-Agent", "Fluent-Bit")
	}
	if o.User != "" {
		o.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(o.User+":"+o.Passwd)))
	} else if o.Passwd != "" {
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
	scheme := "http"
	if o.TLS {
		scheme = "https"
	}
	o.url = scheme + "://" + net.JoinHostPort(o.Host, strconv.Itoa(o.Port)) + o.URI
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
	return nil
}

// Close lets idle connections go.
func (o *Output) Close(context.Context) error {
	o.client.CloseIdle()
	return nil
}

// EncodedSize estimates what Flush builds for c (pipeline.EncodingSizer): the series, the
// WriteRequest protobuf and its snappy copy.
func (o *Output) EncodedSize(c *pipeline.Chunk) int { return 3 * len(c.Data) }

// Flush sends the chunk's samples as one WriteRequest.
func (o *Output) Flush(ctx context.Context, c *pipeline.Chunk) error {
	var samples []promsample.Sample
	decodeErr := c.Events(func(ev event.Event) error {
		samples = o.mapper.Append(samples, c.Tag, &ev)
		return nil
	})
	if len(samples) > 0 {
		pb := AppendWriteRequest(nil, samples)
		body := snappy.Encode(make([]byte, 0, snappy.MaxEncodedLen(len(pb))), pb)
		if err := o.client.Post(ctx, "prometheus_remote_write", body, nil); err != nil {
			return err
		}
	}
	if decodeErr != nil {
		return fmt.Errorf("prometheus_remote_write: chunk %q: records after the damage not sent: %w", c.Tag, decodeErr)
	}
	return nil
}

// AppendWriteRequest appends the protobuf encoding of a remote-write 1.0 WriteRequest
// holding samples, grouped into one TimeSeries per series (in time order within each, as
// the receiver requires), to dst. Hand-encoded: the message is four small types.
//
//	WriteRequest { repeated TimeSeries timeseries = 1; }
//	TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//	Label        { string name = 1; string value = 2; }
//	Sample       { double value = 1; int64 timestamp = 2; }  // milliseconds
func AppendWriteRequest(dst []byte, samples []promsample.Sample) []byte {
	type series struct {
		labels []promsample.Label
		idx    []int
	}
	var order []*series
	byKey := map[string]*series{}
	var key []byte
	for i := range samples {
		key = promsample.SeriesKey(key[:0], &samples[i])
		s := byKey[string(key)]
		if s == nil {
			ls := append([]promsample.Label{{Name: "__name__", Value: samples[i].Name}}, samples[i].Labels...)
			slices.SortFunc(ls, func(a, b promsample.Label) int { return strings.Compare(a.Name, b.Name) })
			s = &series{labels: ls}
			byKey[string(key)] = s
			order = append(order, s)
		}
		s.idx = append(s.idx, i)
	}
	var ts, item []byte
	for _, s := range order {
		slices.SortStableFunc(s.idx, func(a, b int) int { return samples[a].Time.Compare(samples[b].Time) })
		ts = ts[:0]
		for _, l := range s.labels {
			item = appendString(item[:0], 1, l.Name)
			item = appendString(item, 2, l.Value)
			ts = appendBytes(ts, 1, item)
		}
		for _, i := range s.idx {
			item = append(item[:0], 1<<3|1) // field 1, 64-bit
			item = binary.LittleEndian.AppendUint64(item, math.Float64bits(samples[i].Value))
			item = append(item, 2<<3|0) // field 2, varint
			item = binary.AppendUvarint(item, uint64(samples[i].Time.UnixMilli()))
			ts = appendBytes(ts, 2, item)
		}
		dst = appendBytes(dst, 1, ts)
	}
	return dst
}

func appendBytes(dst []byte, field int, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(field<<3|2))
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, field int, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(field<<3|2))
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
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
