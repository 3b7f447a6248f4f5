// Package loki pushes records to Grafana Loki's push API (/loki/api/v1/push), like Fluent
// Bit's loki output: each record becomes one log line in the stream named by its labels.
//
//	[OUTPUT]
//	    Name        loki
//	    Match       app.*
//	    Host        127.0.0.1
//	    Port        3100
//	    Labels      job=device, $level, $kubernetes['namespace_name']
//	    Label_Keys  $service
//	    Remove_Keys secret
//	    Line_Format json
//
// Labels come from labels (fixed name=value pairs, and record accessors whose value
// becomes a label named after the path: $sub['stream'] gives sub_stream), label_keys
// (record accessors) and label_map_path (a JSON file shaped like the record whose string
// leaves name the labels). A key used as a label or as structured metadata leaves the
// line, as do remove_keys. What remains is the line: the record as JSON, or key_value
// pairs, or with drop_single_key the value of a single remaining key. Entries of one
// stream are sent in time order, as Loki requires.
//
// The body is Loki's PushRequest protobuf, snappy compressed (format protobuf, the
// default), or the JSON push body Fluent Bit sends (format json; chosen by itself when
// compress gzip is set, as gzip applies to JSON). See docs/loki.md for the mapping and
// every difference from Fluent Bit.
//
// Outcomes: 2xx delivers; 408, 429, 5xx and connection errors are retried (Retry-After
// honoured); any other answer (a 400 for an entry too old or bad labels, 401/403, 404) is
// a permanent refusal: the chunk goes the engine's rejected way with Loki's answer.
package loki

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/event/accessor"
	"github.com/fluentbit-go/fluentbit-go/internal/httppost"
	"github.com/fluentbit-go/fluentbit-go/internal/snappy"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

func init() {
	pipeline.RegisterOutput("loki", func() pipeline.Output { return New() })
}

// Output is the loki output.
type Output struct {
	Host               string   `conf:"host"`
	Port               int      `conf:"port"`
	URI                string   `conf:"uri"`
	TenantID           string   `conf:"tenant_id"`
	Labels             []string `conf:"labels"`
	LabelKeys          []string `conf:"label_keys"`
	LabelMapPath       string   `conf:"label_map_path"`
	RemoveKeys         []string `conf:"remove_keys"`
	DropSingleKey      string   `conf:"drop_single_key"`
	LineFormat         string   `conf:"line_format"`
	StructuredMetadata []string `conf:"structured_metadata"`
	User               string   `conf:"http_user"`
	Passwd             string   `conf:"http_passwd"`
	BearerToken        string   `conf:"bearer_token"`
	Headers            []string `conf:"header"`
	Compress           string   `conf:"compress"`
	// Format is protobuf (Loki's PushRequest, snappy) or json; not a Fluent Bit key
	// (Fluent Bit sends JSON only).
	Format string `conf:"format"`

	tlsconf.ClientSettings

	ConnectTimeout time.Duration `conf:"net.connect_timeout"`
	IOTimeout      time.Duration `conf:"net.io_timeout"`

	labels   []field // labels, then label_keys, then the label map, in that order
	metadata []field
	remove   []*accessor.Accessor
	single   singleMode
	kv       bool
	json     bool
	gzip     bool
	url      string
	header   http.Header
	client   *httppost.Client
	log      *slog.Logger
	bufs     sync.Pool
}

type singleMode int

const (
	singleOff singleMode = iota
	singleOn
	singleRaw
)

// field is a label or a structured metadata entry: a fixed value, or the value at path.
type field struct {
	name  string
	value string
	path  *accessor.Accessor // nil: fixed value
}

// New returns an Output with Fluent Bit's defaults.
func New() *Output {
	return &Output{Host: "127.0.0.1", Port: 3100, URI: "/loki/api/v1/push", LineFormat: "json",
		ClientSettings: tlsconf.DefaultClient(), ConnectTimeout: 10 * time.Second, IOTimeout: 60 * time.Second}
}

// splitList splits comma separated values of a repeated key, trimming each.
func splitList(list []string) []string {
	var out []string
	for _, v := range list {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// parseFields reads labels or structured_metadata entries: name=value or $accessor.
func parseFields(key string, list []string, allowFixed bool) ([]field, error) {
	var out []field
	for _, e := range splitList(list) {
		if strings.HasPrefix(e, "$") {
			a, err := accessor.Parse(e)
			if err != nil {
				return nil, config.KeyErrorf(key, "%q: %v", e, err)
			}
			out = append(out, field{name: labelName(a.String()), path: a})
			continue
		}
		name, value, ok := strings.Cut(e, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !allowFixed || !ok {
			if !allowFixed {
				// label_keys: Fluent Bit wants a '$'; a plain key is taken as the record key.
				a, err := accessor.Parse(e)
				if err != nil {
					return nil, config.KeyErrorf(key, "%q: %v", e, err)
				}
				out = append(out, field{name: labelName(e), path: a})
				continue
			}
			return nil, config.KeyErrorf(key, "%q: want name=value or a record accessor ($key)", e)
		}
		if !validLabelName(name) {
			return nil, config.KeyErrorf(key, "%q: label name %q: want [a-zA-Z_][a-zA-Z0-9_]*", e, name)
		}
		out = append(out, field{name: name, value: value})
	}
	return out, nil
}

// labelName makes a Loki label name of a record accessor: $sub['stream'] -> sub_stream,
// every run of characters outside [a-zA-Z0-9_] one '_'.
func labelName(expr string) string {
	expr = strings.TrimPrefix(expr, "$")
	b := make([]byte, 0, len(expr))
	under := false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b = append(b, c)
			under = false
			continue
		}
		if !under && len(b) > 0 {
			b = append(b, '_')
			under = true
		}
	}
	s := strings.TrimRight(string(b), "_")
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	return s
}

func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Validate checks the keys (and reads label_map_path); errors name the key.
func (o *Output) Validate() error {
	if o.Host == "" {
		return config.KeyErrorf("host", "empty host")
	}
	if o.Port < 1 || o.Port > 65535 {
		return config.KeyErrorf("port", "%d: want 1 to 65535", o.Port)
	}
	if o.URI == "" {
		o.URI = "/loki/api/v1/push"
	}
	if !strings.HasPrefix(o.URI, "/") {
		return config.KeyErrorf("uri", "%q: must start with /", o.URI)
	}
	var err error
	o.labels = nil
	if len(o.Labels) > 0 {
		if o.labels, err = parseFields("labels", o.Labels, true); err != nil {
			return err
		}
	}
	keys, err := parseFields("label_keys", o.LabelKeys, false)
	if err != nil {
		return err
	}
	o.labels = append(o.labels, keys...)
	if o.LabelMapPath != "" {
		b, err := os.ReadFile(o.LabelMapPath)
		if err != nil {
			return config.KeyErrorf("label_map_path", "%v", err)
		}
		m, err := event.RecordFromJSON(b)
		if err != nil {
			return config.KeyErrorf("label_map_path", "%s: not a JSON object: %v", o.LabelMapPath, err)
		}
		mapped, err := labelMap(m, "$")
		if err != nil {
			return config.KeyErrorf("label_map_path", "%s: %v", o.LabelMapPath, err)
		}
		o.labels = append(o.labels, mapped...)
	}
	if len(o.Labels) == 0 && len(o.labels) == 0 {
		o.labels = []field{{name: "job", value: "fluent-bit"}}
	}
	if o.metadata, err = parseFields("structured_metadata", o.StructuredMetadata, true); err != nil {
		return err
	}
	o.remove = nil
	for _, k := range splitList(o.RemoveKeys) {
		a, err := accessor.Parse(k)
		if err != nil {
			return config.KeyErrorf("remove_keys", "%q: %v", k, err)
		}
		o.remove = append(o.remove, a)
	}
	switch strings.ToLower(strings.TrimSpace(o.DropSingleKey)) {
	case "", "off", "false", "no", "0":
		o.single = singleOff
	case "on", "true", "yes", "1":
		o.single = singleOn
	case "raw":
		o.single = singleRaw
	default:
		return config.KeyErrorf("drop_single_key", "%q: want on, off or raw", o.DropSingleKey)
	}
	switch strings.ToLower(strings.TrimSpace(o.LineFormat)) {
	case "json", "":
		o.kv = false
	case "key_value":
		o.kv = true
	default:
		return config.KeyErrorf("line_format", "%q: want json or key_value", o.LineFormat)
	}
	switch strings.ToLower(strings.TrimSpace(o.Compress)) {
	case "", "off", "none":
		o.gzip = false
	case "gzip":
		o.gzip = true
	default:
		return config.KeyErrorf("compress", "%q: want gzip", o.Compress)
	}
	switch strings.ToLower(strings.TrimSpace(o.Format)) {
	case "":
		o.json = o.gzip
	case "protobuf":
		if o.gzip {
			return config.KeyErrorf("compress", "gzip applies to format json; protobuf is always snappy compressed")
		}
		o.json = false
	case "json":
		o.json = true
	default:
		return config.KeyErrorf("format", "%q: want protobuf or json", o.Format)
	}
	o.header = http.Header{}
	if err := httppost.ParseHeaders(o.header, o.Headers); err != nil {
		return config.KeyErrorf("header", "%v", err)
	}
	if o.json {
		o.header.Set("Content-Type", "application/json")
		if o.gzip {
			o.header.Set("Content-Encoding", "gzip")
		}
	} else {
		o.header.Set("Content-Type", "application/x-protobuf")
		o.header.Set("Content-Encoding", "snappy")
	}
	if o.header.Get("User-Agent") == "" {
		o.header.Set("User-Agent", "Fluent-Bit")
	}
	if o.TenantID != "" {
		o.header.Set("X-Scope-OrgID", o.TenantID)
	}
	switch {
	case o.User != "":
		o.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(o.User+":"+o.Passwd)))
	case o.Passwd != "":
		return config.KeyErrorf("http_passwd", "set without http_user")
	case o.BearerToken != "":
		o.header.Set("Authorization", "Bearer "+o.BearerToken)
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

// labelMap reads a label map: a JSON object shaped like the record, each string leaf the
// name of the label the value at that place becomes.
func labelMap(m event.Map, prefix string) ([]field, error) {
	var out []field
	for _, kv := range m {
		path := prefix + "['" + strings.ReplaceAll(kv.Key, "'", "''") + "']"
		if prefix == "$" {
			path = "$" + kv.Key
		}
		switch v := kv.Value.(type) {
		case string:
			if !validLabelName(v) {
				return nil, fmt.Errorf("label name %q (at %s): want [a-zA-Z_][a-zA-Z0-9_]*", v, path)
			}
			a, err := accessor.Parse(path)
			if err != nil {
				return nil, fmt.Errorf("key %q: %v", kv.Key, err)
			}
			out = append(out, field{name: v, path: a})
		case event.Map:
			sub, err := labelMap(v, path)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		default:
			return nil, fmt.Errorf("at %s: want a label name (string) or an object", path)
		}
	}
	return out, nil
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

// EncodedSize estimates what Flush builds for c (pipeline.EncodingSizer): the decoded
// streams, their protobuf (or JSON) request and its compressed copy.
func (o *Output) EncodedSize(c *pipeline.Chunk) int { return 3 * len(c.Data) }

// Flush pushes the chunk's records as one request.
func (o *Output) Flush(ctx context.Context, c *pipeline.Chunk) error {
	req, decodeErr := o.Request(c)
	if len(req.Streams) > 0 {
		b, _ := o.bufs.Get().(*buffers)
		if b == nil {
			b = new(buffers)
		}
		defer o.bufs.Put(b)
		body, err := o.encode(b, req)
		if err != nil {
			return fmt.Errorf("loki: %w", err)
		}
		if err := o.client.Post(ctx, "loki", body, hint); err != nil {
			return err
		}
	}
	if decodeErr != nil {
		return fmt.Errorf("loki: chunk %q: records after the damage not sent: %w", c.Tag, decodeErr)
	}
	return nil
}

// buffers are a flush's reused buffers: the encoded request and the compressed body.
type buffers struct {
	raw, body []byte
	zbuf      bytes.Buffer
}

func hint(code int) string {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return "check http_user, http_passwd, bearer_token and tenant_id"
	case http.StatusNotFound:
		return "check uri"
	case http.StatusBadRequest:
		return "Loki refused an entry or a label; see its answer"
	case http.StatusRequestEntityTooLarge:
		return "the chunk is over Loki's request size limit"
	}
	return ""
}

func (o *Output) encode(b *buffers, req *Request) ([]byte, error) {
	if !o.json {
		b.raw = AppendPushRequest(b.raw[:0], req)
		b.body = snappy.Encode(b.body[:0], b.raw)
		return b.body, nil
	}
	b.raw = AppendJSONPush(b.raw[:0], req)
	if !o.gzip {
		return b.raw, nil
	}
	b.zbuf.Reset()
	zw := gzip.NewWriter(&b.zbuf)
	if _, err := zw.Write(b.raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.zbuf.Bytes(), nil
}

// Request maps chunk c's records to streams; with a damaged chunk it holds the records
// before the damage and the error says what happened.
func (o *Output) Request(c *pipeline.Chunk) (*Request, error) {
	req := &Request{}
	byLabels := map[string]*Stream{}
	var lineBuf []byte
	var key []byte
	var labels []Label
	err := c.Events(func(ev event.Event) error {
		var ent Entry
		labels, ent, lineBuf = o.entry(labels[:0], &ev, lineBuf)
		key = appendLabelString(key[:0], labels)
		s := byLabels[string(key)]
		if s == nil {
			s = &Stream{Labels: slices.Clone(labels), LabelString: string(key)}
			if len(req.Streams) == 0 {
				// Most chunks are one stream: room for all its entries at once (only the
				// first stream, so many streams cannot multiply it).
				s.Entries = make([]Entry, 0, c.Records)
			}
			byLabels[s.LabelString] = s
			req.Streams = append(req.Streams, s)
		}
		s.Entries = append(s.Entries, ent)
		return nil
	})
	for _, s := range req.Streams {
		slices.SortStableFunc(s.Entries, func(a, b Entry) int { return a.Time.Compare(b.Time) })
	}
	return req, err
}

// entry maps one record: its stream's labels (sorted by name, as Loki keeps them) and
// its entry.
func (o *Output) entry(labels []Label, ev *event.Event, buf []byte) ([]Label, Entry, []byte) {
	rec := ev.Record
	for _, f := range o.labels {
		v, ok := f.take(&rec)
		if !ok || slices.ContainsFunc(labels, func(l Label) bool { return l.Name == f.name }) {
			continue
		}
		labels = append(labels, Label{f.name, v})
	}
	if len(labels) == 0 {
		labels = append(labels, Label{"job", "fluent-bit"})
	}
	slices.SortStableFunc(labels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	ent := Entry{Time: ev.Time}
	for _, f := range o.metadata {
		if v, ok := f.take(&rec); ok {
			ent.Metadata = append(ent.Metadata, Label{f.name, v})
		}
	}
	for _, a := range o.remove {
		a.Delete(&rec)
	}
	buf = o.appendLine(buf[:0], rec)
	ent.Line = string(buf)
	return labels, ent, buf
}

// take returns the field's value as a label value, removing it from the record.
func (f *field) take(rec *event.Map) (string, bool) {
	if f.path == nil {
		return f.value, true
	}
	v, ok := f.path.Get(*rec)
	if !ok {
		return "", false
	}
	f.path.Delete(rec)
	return labelValue(v)
}

// labelValue is Fluent Bit's text of a label value; maps and arrays are not labels.
func labelValue(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', 6, 64), true
	case nil:
		return "null", true
	}
	return "", false
}

// appendLine appends the log line of what is left of the record.
func (o *Output) appendLine(b []byte, rec event.Map) []byte {
	if o.single != singleOff && len(rec) == 1 {
		v := rec[0].Value
		if s, ok := v.(string); ok && (o.single == singleRaw || o.kv) {
			return append(b, s...)
		}
		if o.kv {
			return appendKVValue(b, v, false)
		}
		return event.AppendJSON(b, v)
	}
	if !o.kv {
		return event.AppendJSON(b, rec)
	}
	for i, kv := range rec {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, kv.Key...)
		b = append(b, '=')
		b = appendKVValue(b, kv.Value, true)
	}
	return b
}

// appendKVValue writes a key_value value as Fluent Bit does: strings in double quotes
// (nothing escaped), maps as map[k:v ...] and arrays as [v ...] in Go's fmt style, themselves
// quoted at the top level.
func appendKVValue(dst []byte, v any, top bool) []byte {
	switch x := v.(type) {
	case string:
		return appendQuoted(dst, x)
	case []byte:
		return appendQuoted(dst, string(x))
	case event.Map, []any:
		inner := appendComposite(nil, x)
		if top {
			return appendQuoted(dst, string(inner))
		}
		return append(dst, inner...)
	case float64:
		return strconv.AppendFloat(dst, x, 'f', -1, 64)
	}
	return event.AppendJSON(dst, v)
}

func appendComposite(dst []byte, v any) []byte {
	switch x := v.(type) {
	case event.Map:
		dst = append(dst, "map["...)
		for i, kv := range x {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, kv.Key...)
			dst = append(dst, ':')
			dst = appendKVValue(dst, kv.Value, false)
		}
		return append(dst, ']')
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = appendKVValue(dst, e, false)
		}
		return append(dst, ']')
	}
	return dst
}

// appendQuoted wraps s in double quotes without escaping anything, as Fluent Bit does.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
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
