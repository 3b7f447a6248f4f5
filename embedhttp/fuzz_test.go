package embedhttp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
)

var headSeeds = []string{
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /tag?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
	"GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Encoding: gzip\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n X: folded\r\n\r\n",
}

// FuzzParseHead: the head parser never panics, never reads past its input, and when
// both it and net/http accept a head they agree on how the body is framed (no
// smuggling gap between us and a Go proxy in front).
func FuzzParseHead(f *testing.F) {
	for _, s := range headSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Request
		n, code := parseHead(data, &r, 100)
		switch code {
		case -1, 0, 400, 415, 417, 431, 501, 505:
		default:
			t.Fatalf("unexpected code %d", code)
		}
		if code != 0 {
			return
		}
		if n <= 0 || n > len(data) || !bytes.HasSuffix(data[:n], []byte("\r\n\r\n")) {
			t.Fatalf("head length %d of %d", n, len(data))
		}
		if len(r.path) == 0 || len(r.method) == 0 {
			t.Fatal("accepted without method or path")
		}
		if r.chunked && r.contentLength >= 0 {
			t.Fatal("accepted CL with TE")
		}
		hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data[:n])))
		if err != nil {
			return // net/http is stricter here (e.g. URL escapes); refusing is safe
		}
		goChunked := len(hr.TransferEncoding) > 0 && hr.TransferEncoding[0] == "chunked"
		if goChunked != r.chunked {
			t.Fatalf("chunked: ours %v, net/http %v", r.chunked, goChunked)
		}
		if !r.chunked {
			want := r.contentLength
			if want < 0 {
				want = 0
			}
			if hr.ContentLength != want {
				t.Fatalf("content length: ours %d, net/http %d", r.contentLength, hr.ContentLength)
			}
		}
	})
}

var chunkSeeds = []string{
	"5\r\nhello\r\n0\r\n\r\n",
	"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
	"0\r\n\r\n",
	"A\r\n0123456789\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
	"fffffffffffffffff\r\n",
	"5\r\nhelloXX0\r\n\r\n",
	"5 ;a\r\nhello\r\n0\r\n\r\n",
}

// FuzzChunked: the in-place chunked decoder never panics, gives the same result fed
// all at once or byte-group by byte-group, and whatever it accepts Go's chunked reader
// decodes to the same bytes.
func FuzzChunked(f *testing.F) {
	for _, s := range chunkSeeds {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		const maxLine = 4096
		whole := append([]byte(nil), data...)
		var d1 chunkedDecoder
		d1.init(0, 1<<20, maxLine)
		done1, err1 := d1.feed(whole, len(whole))

		inc := append([]byte(nil), data...)
		var d2 chunkedDecoder
		d2.init(0, 1<<20, maxLine)
		var done2 bool
		var err2 error
		st := int(step%16) + 1
		for end := min(st, len(inc)); ; end = min(end+st, len(inc)) {
			done2, err2 = d2.feed(inc, end)
			if done2 || err2 != nil || end == len(inc) {
				break
			}
		}
		if done1 != done2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("whole: done=%v err=%v; incremental: done=%v err=%v", done1, err1, done2, err2)
		}
		if !done1 || err1 != nil {
			return
		}
		got1, got2 := whole[:d1.w], inc[:d2.w]
		if !bytes.Equal(got1, got2) || d1.r != d2.r {
			t.Fatalf("whole %q (r=%d) vs incremental %q (r=%d)", got1, d1.r, got2, d2.r)
		}
		want, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data)))
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "too much non-data") {
				return
			}
			t.Fatalf("we accepted what Go's chunked reader refuses (%v): %q", err, data)
		}
		if !bytes.Equal(want, got1) {
			t.Fatalf("decoded %q, Go decodes %q", got1, want)
		}
	})
}

// FuzzConn drives whole connections (split reads, pipelining, every stage) from
// arbitrary bytes: nothing panics and every byte written is a well-formed response.
func FuzzConn(f *testing.F) {
	for _, s := range headSeeds {
		f.Add([]byte(s+s), uint8(3))
	}
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 23\r\n\r\n\x1f\x8b\b\x00\x00\x00\x00\x00\x00\xff\xcaH\xcd\xc9\xc9\a\x04\x00\x00\xff\xff"), uint8(0))
	s := memServer(f, &Server{MaxHeaderBytes: 2048, MaxBodyBytes: 4096, MaxDecompressedBytes: 8192, MaxHeaderCount: 20,
		BasicAuth: nil, Handler: echoHandler()})
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		var pieces [][]byte
		st := int(step%32) + 1
		for i := 0; i < len(data); i += st {
			pieces = append(pieces, data[i:min(i+st, len(data))])
		}
		m := &memConn{pieces: pieces}
		s.serveMem(m)
		if s.Stats().Panics != 0 {
			t.Fatal("panic recovered")
		}
		br := bufio.NewReader(bytes.NewReader(m.out))
		for {
			if _, err := br.Peek(1); err != nil {
				break
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("malformed response stream: %v\n%q", err, m.out)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatalf("response body: %v", err)
			}
			resp.Body.Close()
		}
	})
}
