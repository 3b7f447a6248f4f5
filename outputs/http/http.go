// Package http sends chunks to an HTTP server, like Fluent Bit's http output: one POST per
// chunk, its records in one of Fluent Bit's body formats, with Go's net/http client
// (keep-alive, TLS, proxies).
//
//	[OUTPUT]
//	    Name        http
//	    Match       *
//	    Host        logs.example.com
//	    Port        443
//	    URI         /ingest
//	    Format      json_lines
//	    Header      Authorization Bearer xyz
//	    Compress    gzip
//	    tls         on
//
// Keys:
//
//   - host (default 127.0.0.1), port (default 80, or 443 with tls on when port is not
//     given), uri (default /).
//   - format msgpack|json|json_lines|json_stream|gelf (default json, as Fluent Bit v5;
//     case-insensitive). Content-Type: application/msgpack, application/json,
//     application/x-ndjson, application/json, application/json (gelf: one GELF object per
//     line) — what Fluent Bit sends. A `header Content-Type ...` replaces it (Fluent Bit
//     sends both).
//   - http_method POST|PUT (default POST).
//   - body_key $KEY and headers_key $KEY: each record becomes a request of its own, its
//     KEY value (a string or binary) the body and its headers_key map the extra headers.
//   - oauth2.enable, oauth2.token_url, oauth2.client_id, oauth2.client_secret, oauth2.scope,
//     oauth2.audience, oauth2.resource, oauth2.auth_method basic|post,
//     oauth2.refresh_skew_seconds (60), oauth2.timeout, oauth2.connect_timeout,
//     oauth2.user_agent: a Bearer token from the client-credentials grant, cached until it
//     expires and fetched again on a 401 (see OAuth2).
//   - http.response_timeout (default 60s): how long to wait for the answer's headers.
//   - json_date_key NAME (default date; false, off or no leave it out) and
//     json_date_format double|epoch|epoch_ms|iso8601|java_sql_timestamp (default double):
//     the event time in the JSON formats, written as the stdout output writes it.
//   - header "Name value": a request header; repeat the key for more. allow_duplicated_headers
//     (default on): when off, a later header of the same name replaces an earlier one.
//   - header_tag NAME: send the chunk's tag in this request header.
//   - http_user, http_passwd: basic authentication.
//   - compress gzip: gzip the body (Content-Encoding: gzip). "" or none: no compression.
//   - tls on|off (default off), tls.verify on|off (default on), tls.ca_file, tls.ca_path
//     (a directory: OpenSSL hash links such as 1a2b3c4d.0 and *.pem / *.crt files; see
//     package internal/tlsconf), tls.crt_file and tls.key_file (a client certificate),
//     tls.vhost (the server name to verify and send in SNI), tls.debug (accepted, no effect).
//   - proxy http://HOST:PORT: send through this HTTP proxy (for https, with CONNECT).
//     Without it, no proxy is used (the environment's HTTP_PROXY is ignored, as in Fluent Bit).
//   - gelf_timestamp_key, gelf_host_key, gelf_short_message_key (default short_message),
//     gelf_full_message_key, gelf_level_key: the record keys GELF's fields come from.
//   - net.connect_timeout (default 10s): how long to wait for the TCP (and TLS) connection.
//   - net.io_timeout (default 60s): how long the whole request may take.
//   - log_response_payload on|off (default on): log the body of a refused request (its
//     first 512 bytes).
//
// Outcomes: a 2xx answer delivers the chunk. 408, 429 and 5xx answers and connection
// errors ask the engine to retry; a Retry-After header (seconds or an HTTP date) sets the
// least wait (the engine caps it at scheduler.cap). Other answers (3xx, other 4xx) mean the
// server will never take this chunk: Flush returns a permanent error carrying the answer,
// and the engine logs and counts the chunk and, with storage.keep.rejected, keeps it.
//
// GELF: each record becomes {"version":"1.1","host":...,"short_message":...,
// "full_message":...,"timestamp":...,"level":...} and its other keys, prefixed with "_"
// (nested maps flattened with "_": {"a":{"b":1}} is "_a_b":1). host defaults to the
// machine's host name. A record without the short message key is skipped and logged, as
// Fluent Bit does.
//
// Differences from Fluent Bit: record keys come out sorted (records are Go maps); the
// environment's proxy variables are ignored unless proxy is set, as in Fluent Bit, but
// https proxies are refused at start rather than silently used as plain HTTP; gelf lines
// are newline-separated.
package http

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/outputs/internal/render"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

func init() {
	pipeline.RegisterOutput("http", func() pipeline.Output { return New() })
}

// Output is the http output.
type Output struct {
	Host            string   `conf:"host"`
	Port            int      `conf:"port"`
	URI             string   `conf:"uri"`
	Format          string   `conf:"format"`
	JSONDateKey     string   `conf:"json_date_key"`
	JSONDateFormat  string   `conf:"json_date_format"`
	Headers         []string `conf:"header"`
	AllowDupHeaders bool     `conf:"allow_duplicated_headers"`
	HeaderTag       string   `conf:"header_tag"`
	User            string   `conf:"http_user"`
	Passwd          string   `conf:"http_passwd"`
	Compress        string   `conf:"compress"`

	tlsconf.ClientSettings // tls, tls.verify, tls.debug, tls.ca_file, tls.ca_path, tls.crt_file, tls.key_file, tls.vhost

	Proxy             string        `conf:"proxy"`
	GelfTimestampKey  string        `conf:"gelf_timestamp_key"`
	GelfHostKey       string        `conf:"gelf_host_key"`
	GelfShortKey      string        `conf:"gelf_short_message_key"`
	GelfFullKey       string        `conf:"gelf_full_message_key"`
	GelfLevelKey      string        `conf:"gelf_level_key"`
	ConnectTimeout    time.Duration `conf:"net.connect_timeout"`
	IOTimeout         time.Duration `conf:"net.io_timeout"`
	Keepalive         bool          `conf:"net.keepalive"`
	LogResponsePaylod bool          `conf:"log_response_payload"`
	ResponseTimeout   time.Duration `conf:"http.response_timeout"`
	Method            string        `conf:"http_method"`
	BodyKey           string        `conf:"body_key"`
	HeadersKey        string        `conf:"headers_key"`

	OAuth2 // oauth2.enable, oauth2.token_url, oauth2.client_id, oauth2.client_secret, oauth2.scope, ...

	format      format
	dateKey     string
	dateFormat  render.DateFormat
	header      http.Header
	url         string
	gzip        bool
	proxyURL    *url.URL
	client      *http.Client
	log         *slog.Logger
	hostname    string
	contentType string
	bodyField   string // body_key without its $
	headersFld  string // headers_key without its $
	tokens      *tokenSource
	bufs        sync.Pool
}

type format int

const (
	formatMsgpack format = iota
	formatJSON
	formatJSONLines
	formatJSONStream
	formatGELF
)

var contentTypes = [...]string{
	formatMsgpack:    "application/msgpack",
	formatJSON:       "application/json",
	formatJSONLines:  "application/x-ndjson",
	formatJSONStream: "application/json", // as Fluent Bit sends it (its in_http refuses stream+json)
	formatGELF:       "application/json",
}

// New returns an Output with Fluent Bit's defaults.
func New() *Output {
	return &Output{
		Host: "127.0.0.1", URI: "/", Format: "json", JSONDateKey: "date", JSONDateFormat: "double",
		AllowDupHeaders: true, ClientSettings: tlsconf.DefaultClient(), GelfShortKey: "short_message",
		ConnectTimeout: 10 * time.Second, IOTimeout: 60 * time.Second, Keepalive: true, LogResponsePaylod: true,
		ResponseTimeout: 60 * time.Second, Method: http.MethodPost,
		OAuth2: OAuth2{AuthMethod: "basic", RefreshSkew: 60},
	}
}

// Validate checks the keys without side effects; errors name the key.
func (o *Output) Validate() error {
	switch render.Lower(o.Format) {
	case "msgpack", "":
		o.format = formatMsgpack
	case "json":
		o.format = formatJSON
	case "json_lines":
		o.format = formatJSONLines
	case "json_stream":
		o.format = formatJSONStream
	case "gelf":
		o.format = formatGELF
	default:
		return config.KeyErrorf("format", "%q: want msgpack, json, json_lines, json_stream or gelf", o.Format)
	}
	o.contentType = contentTypes[o.format]
	df, ok := render.ParseDateFormat(o.JSONDateFormat)
	if !ok {
		return config.KeyErrorf("json_date_format", "%q: want double, epoch, epoch_ms, iso8601 or java_sql_timestamp", o.JSONDateFormat)
	}
	o.dateFormat = df
	switch {
	case render.DateKeyOff(o.JSONDateKey):
		o.dateKey = ""
	case o.JSONDateKey == "":
		o.dateKey = "date"
	default:
		o.dateKey = o.JSONDateKey
	}
	switch render.Lower(strings.TrimSpace(o.Compress)) {
	case "", "none", "off":
		o.gzip = false
	case "gzip":
		o.gzip = true
	default:
		return config.KeyErrorf("compress", "%q: want gzip or none", o.Compress)
	}
	if o.Host == "" {
		return config.KeyErrorf("host", "empty host")
	}
	if o.Port == 0 {
		o.Port = 80
		if o.TLS {
			o.Port = 443
		}
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
	o.header = http.Header{}
	for _, h := range o.Headers {
		name, value, _ := strings.Cut(strings.TrimSpace(h), " ")
		name = strings.TrimSpace(name)
		if name == "" || strings.ContainsAny(name, ":\r\n\t") || strings.ContainsAny(value, "\r\n") {
			return config.KeyErrorf("header", "%q: want \"Name value\"", h)
		}
		if o.AllowDupHeaders {
			o.header.Add(name, strings.TrimSpace(value))
		} else {
			o.header.Set(name, strings.TrimSpace(value))
		}
	}
	o.proxyURL = nil
	if o.Proxy != "" {
		u, err := url.Parse(o.Proxy)
		if err != nil || u.Host == "" {
			return config.KeyErrorf("proxy", "%q: want http://HOST:PORT", o.Proxy)
		}
		if u.Scheme != "http" {
			return config.KeyErrorf("proxy", "%q: only http:// proxies are supported", o.Proxy)
		}
		o.proxyURL = u
	}
	if err := o.ClientSettings.Validate(); err != nil {
		return err
	}
	switch m := strings.ToUpper(strings.TrimSpace(o.Method)); m {
	case "", http.MethodPost:
		o.Method = http.MethodPost
	case http.MethodPut:
		o.Method = m
	default:
		return config.KeyErrorf("http_method", "%q: want POST or PUT", o.Method)
	}
	var err error
	if o.bodyField, err = topLevelKey("body_key", o.BodyKey); err != nil {
		return err
	}
	if o.headersFld, err = topLevelKey("headers_key", o.HeadersKey); err != nil {
		return err
	}
	if o.headersFld != "" && o.bodyField == "" {
		return config.KeyErrorf("headers_key", "needs body_key: each record is then sent as its own request")
	}
	if err := o.OAuth2.validate(); err != nil {
		return err
	}
	if o.OAuth2.Enable && o.User != "" {
		return config.KeyErrorf("http_user", "with oauth2.enable on the Authorization header carries the token: leave out http_user")
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = 60 * time.Second
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
	if _, err := url.Parse(o.url); err != nil {
		return config.KeyErrorf("uri", "%q: %v", o.URI, err)
	}
	return nil
}

// Init builds the client: TLS settings (reading the CA and certificate files) and proxy.
func (o *Output) Init(_ context.Context, env pipeline.Env) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o.log = env.Logger
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	o.hostname, _ = os.Hostname()
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		DisableKeepAlives:     !o.Keepalive,
		DisableCompression:    true,
		ResponseHeaderTimeout: min(o.ResponseTimeout, o.IOTimeout),
	}
	if o.proxyURL != nil {
		tr.Proxy = http.ProxyURL(o.proxyURL)
	}
	if o.TLS {
		tc, err := o.ClientSettings.Config(o.Host)
		if err != nil {
			return err
		}
		tr.TLSClientConfig = tc
	}
	if o.OAuth2.Enable {
		o.tokens = newTokenSource(o.OAuth2, tr)
	}
	o.client = &http.Client{
		Transport: tr,
		Timeout:   o.IOTimeout,
		// A redirect is an answer of its own: not followed, the chunk is not delivered.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return nil
}

// Close lets idle connections go.
func (o *Output) Close(context.Context) error {
	if o.client != nil {
		o.client.CloseIdleConnections()
	}
	return nil
}

// EncodedSize estimates the body Flush builds for c (pipeline.EncodingSizer): JSON is
// about twice the msgpack it comes from, with the body buffer's growth; gzip adds its
// output beside it.
func (o *Output) EncodedSize(c *pipeline.Chunk) int {
	n := 2 * len(c.Data)
	if strings.EqualFold(o.Format, "msgpack") {
		n = len(c.Data)
	}
	if strings.EqualFold(o.Compress, "gzip") {
		n += n / 2
	}
	return n
}

// Flush sends the chunk: one request (POST, or http_method), or with body_key one request
// per record.
func (o *Output) Flush(ctx context.Context, c *pipeline.Chunk) error {
	if o.bodyField != "" {
		return o.flushPerRecord(ctx, c)
	}
	bp, _ := o.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer func() {
		if cap(*bp) <= 4<<20 {
			o.bufs.Put(bp)
		}
	}()
	body, decodeErr := o.body((*bp)[:0], c)
	*bp = body[:0]
	if len(body) == 0 {
		if decodeErr != nil {
			return fmt.Errorf("http: chunk %q: %w", c.Tag, decodeErr)
		}
		return nil // nothing to send (e.g. gelf records without short_message)
	}
	if err := o.send(ctx, c.Tag, body, nil); err != nil {
		return err
	}
	if decodeErr != nil {
		return fmt.Errorf("http: chunk %q: records after the damage not sent: %w", c.Tag, decodeErr)
	}
	return nil
}

// flushPerRecord sends each record's body_key value as the body of a request of its own,
// with the headers in its headers_key map, as Fluent Bit does. A record without a usable
// body is skipped and logged; a failed request fails the chunk (records before it are sent
// again on a retry: at-least-once).
func (o *Output) flushPerRecord(ctx context.Context, c *pipeline.Chunk) error {
	skipped := 0
	err := c.Events(func(ev event.Event) error {
		v, _ := recordField(&ev, o.bodyField)
		var body []byte
		switch b := v.(type) {
		case string:
			body = []byte(b)
		case []byte:
			body = b
		default:
			skipped++
			return nil
		}
		var extra http.Header
		if o.headersFld != "" {
			if hm, ok := recordField(&ev, o.headersFld); ok {
				extra = headersOf(hm)
			}
		}
		return o.send(ctx, c.Tag, body, extra)
	})
	if skipped > 0 {
		o.log.Warn("body_key: records without a string or binary body skipped", "key", o.BodyKey, "records", skipped, "tag", c.Tag)
	}
	return err
}

// recordField reads a top-level key of the record.
func recordField(ev *event.Event, key string) (any, bool) {
	return ev.Record.Get(key)
}

// headersOf reads a headers_key value: a map of header names to values.
func headersOf(v any) http.Header {
	var m event.Map
	switch x := v.(type) {
	case map[string]any:
		m = event.FromMap(x)
	case event.Map:
		m = x
	default:
		return nil
	}
	h := http.Header{}
	for k, x := range m.All() {
		val := stringOf(x)
		if k == "" || strings.ContainsAny(k, ":\r\n\t ") || strings.ContainsAny(val, "\r\n") {
			continue
		}
		h.Set(k, val)
	}
	return h
}

// topLevelKey reads a record accessor key ($name) given for key; only a top-level name is
// supported.
func topLevelKey(key, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	name := strings.TrimPrefix(v, "$")
	if name == "" || strings.ContainsAny(name, "[]'\" ") {
		return "", config.KeyErrorf(key, "%q: want a top-level record key ($name)", v)
	}
	return name, nil
}

// send makes one request with body and reads the answer into the engine's outcomes. With
// oauth2 a 401 fetches a new token and tries once more at once.
func (o *Output) send(ctx context.Context, tag string, body []byte, extra http.Header) error {
	if o.gzip {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		if _, err := zw.Write(body); err != nil {
			return fmt.Errorf("http: gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("http: gzip: %w", err)
		}
		body = zb.Bytes()
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, o.Method, o.url, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		for k, v := range o.header {
			req.Header[k] = v
		}
		// A header Content-Type of the configuration replaces the format's.
		if len(o.header["Content-Type"]) == 0 {
			req.Header.Set("Content-Type", o.contentType)
		}
		if req.Header.Get("User-Agent") == "" {
			req.Header.Set("User-Agent", "Fluent-Bit")
		}
		if o.gzip {
			req.Header.Set("Content-Encoding", "gzip")
		}
		if o.HeaderTag != "" {
			req.Header.Set(o.HeaderTag, tag)
		}
		if o.User != "" {
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(o.User+":"+o.Passwd)))
		}
		for k, v := range extra {
			req.Header[k] = v
		}
		token := ""
		if o.tokens != nil {
			if token, err = o.tokens.get(ctx); err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if o.TLSVhost != "" {
			req.Host = o.TLSVhost
		}
		resp, err := o.client.Do(req)
		if err != nil {
			return pipeline.Retry(fmt.Errorf("http: %s %s: %w", o.Method, o.url, err))
		}
		payload, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		resp.Body.Close()
		switch code := resp.StatusCode; {
		case code >= 200 && code < 300:
			return nil
		case code == http.StatusUnauthorized && o.tokens != nil:
			o.tokens.invalidate(token)
			if attempt == 0 {
				continue
			}
			// A fresh token refused too: the credentials may be being rotated; keep the
			// chunk and try again later rather than give it up.
			return pipeline.Retry(fmt.Errorf("http: %s %s: %s with a fresh oauth2 token%s", o.Method, o.url, resp.Status, o.payloadNote(payload)))
		case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
			err := fmt.Errorf("http: %s %s: %s%s", o.Method, o.url, resp.Status, o.payloadNote(payload))
			if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				return pipeline.RetryAfter(err, d)
			}
			return pipeline.Retry(err)
		default:
			// The engine logs, counts and (storage.keep.rejected) keeps the chunk.
			return fmt.Errorf("http: %s %s: %s: chunk refused%s", o.Method, o.url, resp.Status, o.payloadNote(payload))
		}
	}
}

func (o *Output) payloadNote(p []byte) string {
	if !o.LogResponsePaylod || len(p) == 0 {
		return ""
	}
	return ": " + strings.TrimSpace(string(p))
}

// maxRetryAfter is the longest Retry-After taken, in seconds (30 days).
const maxRetryAfter = 30 * 24 * 3600

// retryAfter reads a Retry-After value: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0, false
		}
		// Cap before multiplying: a huge value must not overflow into a negative wait
		// (the engine caps the wait at scheduler.cap anyway).
		return time.Duration(min(s, maxRetryAfter)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// body renders the chunk in the configured format. With a damaged chunk, it holds the
// records before the damage and the error says what was cut.
func (o *Output) body(dst []byte, c *pipeline.Chunk) ([]byte, error) {
	if o.format == formatMsgpack {
		_, valid, err := event.Count(c.Data)
		return append(dst, c.Data[:valid]...), err
	}
	var keys []string
	if o.format == formatJSON {
		dst = append(dst, '[')
	}
	n := 0
	skipped := 0
	err := c.Events(func(ev event.Event) error {
		switch o.format {
		case formatJSON:
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = render.AppendRecordJSON(dst, &ev, o.dateKey, o.dateFormat, &keys)
		case formatJSONLines:
			dst = render.AppendRecordJSON(dst, &ev, o.dateKey, o.dateFormat, &keys)
			dst = append(dst, '\n')
		case formatJSONStream:
			dst = render.AppendRecordJSON(dst, &ev, o.dateKey, o.dateFormat, &keys)
		case formatGELF:
			var ok bool
			if dst, ok = o.appendGELF(dst, &ev); !ok {
				skipped++
				return nil
			}
			dst = append(dst, '\n')
		}
		n++
		return nil
	})
	if skipped > 0 {
		o.log.Warn("gelf: records without the short message key skipped", "key", o.GelfShortKey, "records", skipped, "tag", c.Tag)
	}
	if o.format == formatJSON {
		if n == 0 {
			return dst[:0], err
		}
		dst = append(dst, ']')
	}
	return dst, err
}

// appendGELF writes one GELF 1.1 object; ok is false when the record has no short message.
func (o *Output) appendGELF(dst []byte, ev *event.Event) ([]byte, bool) {
	rec := ev.Record
	short, ok := rec.Get(o.GelfShortKey)
	if !ok {
		return dst, false
	}
	used := map[string]bool{o.GelfShortKey: true}
	dst = append(dst, `{"version":"1.1","short_message":`...)
	dst = event.AppendJSON(dst, stringOf(short))
	host := o.hostname
	if o.GelfHostKey != "" {
		if v, ok := rec.Get(o.GelfHostKey); ok {
			host, used[o.GelfHostKey] = stringOf(v), true
		}
	}
	dst = append(dst, `,"host":`...)
	dst = event.AppendJSON(dst, host)
	if o.GelfFullKey != "" {
		if v, ok := rec.Get(o.GelfFullKey); ok {
			used[o.GelfFullKey] = true
			dst = append(dst, `,"full_message":`...)
			dst = event.AppendJSON(dst, stringOf(v))
		}
	}
	ts := any(nil)
	if o.GelfTimestampKey != "" {
		if v, ok := rec.Get(o.GelfTimestampKey); ok {
			used[o.GelfTimestampKey] = true
			ts = v
		}
	}
	dst = append(dst, `,"timestamp":`...)
	switch v := ts.(type) {
	case int64, float64, uint64:
		dst = event.AppendJSON(dst, v)
	case time.Time:
		dst = render.AppendDouble(dst, render.TimeDouble(v))
	default:
		// Seconds with milliseconds, as Fluent Bit's GELF encoder writes them.
		if ms := ev.Time.UnixMilli(); ms >= 0 {
			dst = strconv.AppendInt(dst, ms/1000, 10)
			dst = append(dst, '.', byte('0'+ms%1000/100), byte('0'+ms%100/10), byte('0'+ms%10))
		} else {
			dst = strconv.AppendFloat(dst, float64(ms)/1000, 'f', 3, 64)
		}
	}
	if o.GelfLevelKey != "" {
		if v, ok := rec.Get(o.GelfLevelKey); ok {
			used[o.GelfLevelKey] = true
			dst = append(dst, `,"level":`...)
			switch x := v.(type) {
			case int64, uint64, float64:
				dst = event.AppendJSON(dst, x)
			default:
				if n, err := strconv.Atoi(stringOf(v)); err == nil {
					dst = strconv.AppendInt(dst, int64(n), 10)
				} else {
					dst = event.AppendJSON(dst, stringOf(v))
				}
			}
		}
	}
	for _, kv := range rec {
		if used[kv.Key] {
			continue
		}
		dst = appendGELFField(dst, "_"+kv.Key, kv.Value, 0)
	}
	return append(dst, '}'), true
}

func appendGELFField(dst []byte, name string, v any, depth int) []byte {
	if m, ok := v.(event.Map); ok && depth < 16 {
		for _, kv := range m {
			dst = appendGELFField(dst, name+"_"+kv.Key, kv.Value, depth+1)
		}
		return dst
	}
	dst = append(dst, ',')
	dst = event.AppendJSON(dst, name)
	dst = append(dst, ':')
	switch v.(type) {
	case int64, uint64, float64, string:
		return event.AppendJSON(dst, v)
	}
	// GELF fields are strings or numbers: anything else is written as its JSON text.
	return event.AppendJSON(dst, string(event.AppendJSON(nil, v)))
}

func stringOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
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
