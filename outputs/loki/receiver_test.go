package loki_test

// A Loki push receiver for the tests. Debian's "loki" package is not Grafana Loki (it is
// an unrelated program of the same name), and Grafana Loki is not packaged, so no real
// Loki runs here: the tests decode what is sent with decoders independent of the output's
// encoder (klauspost/compress's snappy, the protobuf module's wire reader, encoding/json)
// into one form, the same for the protobuf and the JSON body, and the peer Fluent Bit's
// JSON pushes are decoded the same way to compare.

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/encoding/protowire"
)

// stream is a decoded stream: its labels and entries.
type stream struct {
	Labels  map[string]string
	Entries []entry
}

type entry struct {
	TS   int64 // Unix nanoseconds
	Line string
	Meta map[string]string
}

// push is one decoded request.
type push struct {
	Path    string
	Header  http.Header
	Streams []stream
	Err     error
}

type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	pushes []push
	// answer, when set, gives the status and headers of the next answers; nil: 204.
	answer func(n int) (int, http.Header)
	notify chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{notify: make(chan struct{}, 1)}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

// newReceiverAt starts a receiver on addr (a port a closed receiver had).
func newReceiverAt(t *testing.T, addr string) *receiver {
	t.Helper()
	r := &receiver{notify: make(chan struct{}, 1)}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	var err error
	for range 50 { // the old socket may linger a moment
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			r.Listener.Close()
			r.Listener = l
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) port() string {
	return strconv.Itoa(r.Listener.Addr().(*net.TCPAddr).Port)
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	p := push{Path: req.URL.Path, Header: req.Header.Clone(), Err: err}
	if err == nil {
		p.Streams, p.Err = decodePush(req.Header, body)
	}
	r.mu.Lock()
	n := len(r.pushes)
	r.pushes = append(r.pushes, p)
	code := http.StatusNoContent
	var h http.Header
	if r.answer != nil {
		code, h = r.answer(n)
	}
	r.mu.Unlock()
	for k, v := range h {
		w.Header()[k] = v
	}
	select {
	case r.notify <- struct{}{}:
	default:
	}
	if p.Err != nil {
		code = http.StatusBadRequest
		fmt.Fprintln(w, p.Err)
	}
	w.WriteHeader(code)
}

func (r *receiver) all() []push {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pushes)
}

// waitFor waits until cond holds for the pushes so far (bounded by timeout).
func (r *receiver) waitFor(t *testing.T, timeout time.Duration, cond func([]push) bool) []push {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if ps := r.all(); cond(ps) {
			return ps
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("timed out; received %+v", r.all())
		}
	}
}

// decodePush decodes a push body by its headers: protobuf + snappy, or JSON (maybe gzip).
func decodePush(h http.Header, body []byte) ([]stream, error) {
	if h.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if body, err = io.ReadAll(zr); err != nil {
			return nil, err
		}
	}
	switch ct := h.Get("Content-Type"); ct {
	case "application/x-protobuf":
		if h.Get("Content-Encoding") != "snappy" {
			return nil, fmt.Errorf("protobuf without Content-Encoding snappy")
		}
		pb, err := snappy.Decode(nil, body)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		return decodeProto(pb)
	case "application/json":
		return decodeJSON(body)
	default:
		return nil, fmt.Errorf("Content-Type %q", ct)
	}
}

func decodeJSON(body []byte) ([]stream, error) {
	var req struct {
		Streams []struct {
			Stream map[string]string `json:"stream"`
			Values [][]json.RawMessage
		} `json:"streams"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	var out []stream
	for _, s := range req.Streams {
		st := stream{Labels: s.Stream}
		for _, v := range s.Values {
			if len(v) < 2 || len(v) > 3 {
				return nil, fmt.Errorf("value of %d items", len(v))
			}
			var ts string
			var e entry
			if err := json.Unmarshal(v[0], &ts); err != nil {
				return nil, err
			}
			n, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return nil, err
			}
			e.TS = n
			if err := json.Unmarshal(v[1], &e.Line); err != nil {
				return nil, err
			}
			if len(v) == 3 {
				if err := json.Unmarshal(v[2], &e.Meta); err != nil {
					return nil, err
				}
			}
			st.Entries = append(st.Entries, e)
		}
		out = append(out, st)
	}
	return out, nil
}

// fields calls fn for each field of a protobuf message (length-delimited values as bytes,
// varints and fixed numbers as uint64).
func fields(b []byte, fn func(num protowire.Number, v any) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v any
		switch typ {
		case protowire.BytesType:
			var s []byte
			s, n = protowire.ConsumeBytes(b)
			v = s
		case protowire.VarintType:
			var x uint64
			x, n = protowire.ConsumeVarint(b)
			v = x
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, v); err != nil {
			return err
		}
	}
	return nil
}

func decodeProto(b []byte) ([]stream, error) {
	var out []stream
	err := fields(b, func(num protowire.Number, v any) error {
		if num != 1 {
			return fmt.Errorf("PushRequest field %d", num)
		}
		var st stream
		err := fields(v.([]byte), func(num protowire.Number, v any) error {
			switch num {
			case 1:
				ls, err := parseLabels(string(v.([]byte)))
				st.Labels = ls
				return err
			case 2:
				var e entry
				err := fields(v.([]byte), func(num protowire.Number, v any) error {
					switch num {
					case 1:
						var sec, ns uint64
						err := fields(v.([]byte), func(num protowire.Number, v any) error {
							if num == 1 {
								sec = v.(uint64)
							} else {
								ns = v.(uint64)
							}
							return nil
						})
						e.TS = int64(sec)*1e9 + int64(ns)
						return err
					case 2:
						e.Line = string(v.([]byte))
					case 3:
						var name, value string
						err := fields(v.([]byte), func(num protowire.Number, v any) error {
							if num == 1 {
								name = string(v.([]byte))
							} else {
								value = string(v.([]byte))
							}
							return nil
						})
						if e.Meta == nil {
							e.Meta = map[string]string{}
						}
						e.Meta[name] = value
						return err
					}
					return nil
				})
				st.Entries = append(st.Entries, e)
				return err
			}
			return nil
		})
		out = append(out, st)
		return err
	})
	return out, err
}

// parseLabels reads Loki's label text {a="1", b="x"}.
func parseLabels(s string) (map[string]string, error) {
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("labels %q", s)
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	out := map[string]string{}
	for s != "" {
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("labels: %q", s)
		}
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return nil, fmt.Errorf("labels: %q: %w", rest, err)
		}
		v, _ := strconv.Unquote(q)
		out[strings.TrimSpace(name)] = v
		s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest[len(q):]), ","))
	}
	return out, nil
}

// merged is every stream of pushes by its labels, entries sorted by time then line.
func merged(pushes []push) map[string][]entry {
	out := map[string][]entry{}
	for _, p := range pushes {
		for _, s := range p.Streams {
			k := labelKey(s.Labels)
			for _, e := range s.Entries {
				if len(e.Meta) == 0 {
					e.Meta = nil // an empty metadata object is none
				}
				out[k] = append(out[k], e)
			}
		}
	}
	for _, es := range out {
		slices.SortStableFunc(es, func(a, b entry) int {
			if a.TS != b.TS {
				return cmp.Compare(a.TS, b.TS)
			}
			return strings.Compare(a.Line, b.Line)
		})
	}
	return out
}

func labelKey(ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q,", k, ls[k])
	}
	return b.String()
}

// newSink starts a receiver that reads and answers 204 without decoding, for benchmarks;
// it returns the port.
func newSink(tb testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(srv.Close)
	return strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
}
