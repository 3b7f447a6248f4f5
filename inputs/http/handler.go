package http

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// reply is how a request is answered, whatever server carries it.
type reply struct {
	status     int
	msg        string // body; "" for none
	retryAfter bool   // add Retry-After: 1
	allowPost  bool   // add Allow: POST
	ctype      string // Content-Type of msg; "" for text/plain
}

func (r reply) contentType() string {
	if r.ctype != "" {
		return r.ctype
	}
	return "text/plain; charset=utf-8"
}

// healthReply is the answer to GET /health (enable_health_endpoint), shaped as Fluent Bit's.
func healthReply(now time.Time) reply {
	return reply{status: 200, ctype: "application/json",
		msg: `{"status":"ok","timestamp":"` + now.UTC().Format(time.RFC3339Nano) + `"}` + "\n"}
}

var (
	replyMethod  = reply{status: 405, msg: "error: invalid HTTP method, use POST\n", allowPost: true}
	replyBusy    = reply{status: 503, msg: "error: busy, retry later\n", retryAfter: true}
	replyTooBig  = reply{status: 413, msg: "error: body larger than buffer_max_size\n"}
	replyCType   = reply{status: 400, msg: errContentType.Error() + "\n"}
	replyEncode  = reply{status: 415, msg: "error: unsupported Content-Encoding, use gzip or none\n"}
	replyGzipBad = reply{status: 400, msg: "error: invalid gzip body\n"}
	// The records could not be written to the input's storage (a full disk): nothing was
	// accepted, the client keeps them and retries. The agent logs the cause.
	replyStorage = reply{status: 503, msg: "error: storage full or failing, retry later\n", retryAfter: true}
	// Any other failure to buffer; the agent logs the cause (the body shows no internals).
	replyInternal = reply{status: 500, msg: "error: records not buffered, see the agent's log\n"}
)

// maxBatch is the most encoded bytes handed to the engine in one EmitRaw (the engine asks
// large batches to be split).
const maxBatch = 256 << 10

// handle answers one request whose body has been read whole. body is only read during the
// call. contentEncoding is "" when the server already decoded it. remote is the client's
// address for add_remote_addr ("" when the key is off).
func (in *Input) handle(method, path, contentType, contentEncoding, remote string, body []byte) reply {
	if method != "POST" {
		return replyMethod
	}
	box := in.emit.Load()
	if box == nil || box.Paused() {
		// Refuse before reading work: the client keeps its records and retries.
		return replyBusy
	}
	f, err := formatOf(contentType)
	if err != nil {
		return replyCType
	}
	switch strings.ToLower(strings.TrimSpace(contentEncoding)) {
	case "", "identity":
	case "gzip", "x-gzip":
		var r reply
		var release func()
		if body, release, r = in.gunzip(body); r.status != 0 {
			return r
		}
		defer release()
	default:
		return replyEncode
	}
	tr := transcoders.Get().(*transcoder)
	defer func() {
		if cap(tr.out) <= 1<<20 {
			transcoders.Put(tr)
		}
	}()
	tr.tagKey, tr.now, tr.remoteAddr = in.TagKey, time.Now(), remote
	if f == formatForm {
		err = tr.form(body)
	} else {
		err = tr.run(body)
	}
	if err != nil {
		return reply{status: 400, msg: "error: " + err.Error() + "\n"}
	}
	if err := in.emitEntries(box.Emitter, tagFromPath(path), tr); err != nil {
		switch {
		case errors.Is(err, pipeline.ErrStopped):
			return replyBusy
		case errors.Is(err, pipeline.ErrStorage):
			return replyStorage // the engine has logged it
		}
		in.log.Error("emit", "err", err)
		return replyInternal
	}
	return reply{status: in.SuccessCode}
}

// remoteAddr is the client's address for add_remote_addr: the first address of
// X-Forwarded-For when the request came through a proxy, else the peer's.
func remoteAddr(forwardedFor, peer string) string {
	if first, _, _ := strings.Cut(forwardedFor, ","); strings.TrimSpace(first) != "" {
		return strings.TrimSpace(first)
	}
	return peer
}

var transcoders = sync.Pool{New: func() any { return &transcoder{out: make([]byte, 0, 4096)} }}

func (in *Input) gunzip(body []byte) ([]byte, func(), reply) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, nil, replyGzipBad
	}
	out, release, tooBig, noMem, err := in.readReserved(zr, nil)
	switch {
	case noMem:
		return nil, nil, replyBusy
	case tooBig:
		return nil, nil, replyTooBig
	case err != nil:
		return nil, nil, replyGzipBad
	}
	return out, release, reply{}
}

// readReserved reads r whole, up to buffer_max_size, into buf (or a new buffer), each
// growth of the buffer reserved from the memory budget first; release gives the
// reservation back (the caller calls it once done with the bytes). noMem: the budget
// had no room (503); tooBig: past buffer_max_size (413).
func (in *Input) readReserved(r io.Reader, buf []byte) (out []byte, release func(), tooBig, noMem bool, err error) {
	limit := int(in.BufferMaxSize)
	var held int64
	release = func() { in.budget.Release(held) }
	out = buf[:0]
	for {
		if len(out) == cap(out) {
			if len(out) > limit {
				release()
				return nil, nil, true, false, nil
			}
			size := min(max(2*cap(out), 16<<10), limit+1)
			if !in.budget.TryReserve(int64(size - cap(out))) {
				release()
				return nil, nil, false, true, nil
			}
			held += int64(size - cap(out))
			nb := make([]byte, len(out), size)
			copy(nb, out)
			out = nb
		}
		n, rerr := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if len(out) > limit {
			release()
			return nil, nil, true, false, nil
		}
		if rerr == io.EOF {
			return out, release, false, false, nil
		}
		if rerr != nil {
			release()
			return nil, nil, false, false, rerr
		}
	}
}

// emitEntries hands the transcoded entries to the engine: one EmitRaw per run of records
// with the same tag, split every maxBatch bytes. It returns once all are buffered.
func (in *Input) emitEntries(emit pipeline.Emitter, pathTag string, tr *transcoder) error {
	tagOf := func(r recEntry) []byte {
		if r.hasTag {
			return tr.out[r.tagStart:r.tagEnd]
		}
		return nil // the path's tag
	}
	runStart, runEnd, n := 0, 0, 0
	var runTag []byte
	flush := func() error {
		if n == 0 {
			return nil
		}
		tag := pathTag
		if runTag != nil {
			tag = string(runTag)
		}
		err := emit.EmitRaw(tag, tr.out[runStart:runEnd], n)
		runStart, n = runEnd, 0
		return err
	}
	prevEnd := 0
	for _, r := range tr.recs {
		tag := tagOf(r)
		if n > 0 && ((tag == nil) != (runTag == nil) || !bytes.Equal(tag, runTag) || runEnd-runStart >= maxBatch) {
			if err := flush(); err != nil {
				return err
			}
		}
		if n == 0 {
			runStart, runTag = prevEnd, tag
		}
		runEnd, prevEnd = r.end, r.end
		n++
	}
	return flush()
}

// ServeHTTP serves the input on Go's net/http (the server key "net/http", and tests).
func (in *Input) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	var rep reply
	if in.EnableHealth && r.Method == "GET" && r.URL.Path == "/health" {
		rep = healthReply(time.Now())
	} else if r.Method != "POST" {
		rep = replyMethod
	} else if box := in.emit.Load(); box == nil || box.Paused() {
		rep = replyBusy
	} else if body, release, tooBig, noMem, err := in.readBody(r.Body); tooBig {
		rep = replyTooBig
	} else if noMem {
		rep = replyBusy
	} else if err != nil {
		rep = reply{status: 400, msg: "error: reading the body: " + err.Error() + "\n"}
	} else {
		remote := ""
		if in.AddRemoteAddr {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			remote = remoteAddr(r.Header.Get("X-Forwarded-For"), host)
		}
		rep = in.handle(r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"), remote, body)
		release()
	}
	h := w.Header()
	if rep.retryAfter {
		h.Set("Retry-After", "1")
	}
	if rep.allowPost {
		h.Set("Allow", "POST")
	}
	if rep.status < 300 {
		for _, kv := range in.headers {
			h.Add(kv[0], kv[1])
		}
	}
	if rep.msg != "" {
		h.Set("Content-Type", rep.contentType())
	}
	w.WriteHeader(rep.status)
	if rep.msg != "" {
		io.WriteString(w, rep.msg)
	}
}

// readBody reads a request body (net/http server), reserved from the memory budget as
// it grows (readReserved).
func (in *Input) readBody(r io.Reader) ([]byte, func(), bool, bool, error) {
	body, release, tooBig, noMem, err := in.readReserved(r, nil)
	return body, release, tooBig, noMem, err
}

func (in *Input) serveNetHTTP(ctx context.Context, ln net.Listener) error {
	srv := &nethttp.Server{
		Handler:           in,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		srv.Close()
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("http: serve: %w", err)
	}
}
