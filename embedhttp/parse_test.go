package embedhttp

import "testing"

func TestParseHeadFields(t *testing.T) {
	for _, tc := range []struct {
		in                  string
		method, path, query string
		minor               int
		cl                  int64
		chunked, close      bool
	}{
		{"GET /a/b?c=d&e HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/a/b", "c=d&e", 1, -1, false, false},
		{"\r\n\r\nPOST /t HTTP/1.1\r\nhOsT: x\r\ncontent-LENGTH: 12\r\nConnection: Keep-Alive, Close\r\n\r\n", "POST", "/t", "", 1, 12, false, true},
		{"POST /t HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", "POST", "/t", "", 1, 7, false, false},
		{"POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n", "POST", "/t", "", 1, -1, true, false},
		{"GET http://h:1/p?q HTTP/1.1\r\nHost: h:1\r\n\r\n", "GET", "/p", "q", 1, -1, false, false},
		{"GET http://h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n", "GET", "/", "", 1, -1, false, false},
		{"GET http://h:1?q=2 HTTP/1.1\r\nHost: h:1\r\n\r\n", "GET", "/", "q=2", 1, -1, false, false},
		{"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "OPTIONS", "*", "", 1, -1, false, false},
		{"GET / HTTP/1.0\r\n\r\n", "GET", "/", "", 0, -1, false, true},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET", "/", "", 0, -1, false, false},
		{"GET / HTTP/1.0\r\nExpect: whatever\r\n\r\n", "GET", "/", "", 0, -1, false, true},
	} {
		var r Request
		n, code := parseHead([]byte(tc.in+"NEXT"), &r, 10)
		if code != 0 || n != len(tc.in) {
			t.Errorf("%q: n=%d code=%d", tc.in, n, code)
			continue
		}
		if string(r.Method()) != tc.method || r.MethodString() != tc.method || string(r.Path()) != tc.path ||
			string(r.Query()) != tc.query || r.ProtoMinor() != tc.minor || r.contentLength != tc.cl ||
			r.chunked != tc.chunked || r.closeReq != tc.close {
			t.Errorf("%q: method %q path %q query %q minor %d cl %d chunked %v close %v", tc.in,
				r.Method(), r.Path(), r.Query(), r.ProtoMinor(), r.contentLength, r.chunked, r.closeReq)
		}
	}
	var r Request
	parseHead([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Trace:  a b \t\r\n\r\n"), &r, 10)
	if string(r.Header("x-trace")) != "a b" || r.NumHeaders() != 2 || r.Header("missing") != nil {
		t.Errorf("header lookup: %q %d", r.Header("x-trace"), r.NumHeaders())
	}
	if name, value := r.HeaderAt(1); string(name) != "X-Trace" || string(value) != "a b" {
		t.Errorf("HeaderAt: %q %q", name, value)
	}
	for _, partial := range []string{"", "GET", "GET / HTTP/1.1\r", "GET / HTTP/1.1\r\nHost: x\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r"} {
		if _, code := parseHead([]byte(partial), &r, 10); code != -1 {
			t.Errorf("%q: code %d, want incomplete", partial, code)
		}
	}
}

func TestChunkedDecoderCompact(t *testing.T) {
	// Decoding in place with a buffer too small for the framed body: compact frees
	// room, as the connection does when its buffer fills.
	framed := "3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nT: v\r\n\r\nrest"
	buf := make([]byte, 16)
	var d chunkedDecoder
	d.init(0, 100, 64)
	src, end := framed, 0
	for {
		k := copy(buf[end:], src)
		src, end = src[k:], end+k
		done, err := d.feed(buf, end)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
		if end == len(buf) {
			end = d.compact(buf, end)
			if end == len(buf) {
				t.Fatal("no room after compaction")
			}
		}
	}
	if got := string(buf[:d.w]); got != "abcdefg" {
		t.Fatalf("decoded %q", got)
	}
	if rest := string(buf[d.r:end]) + src; rest != "rest" {
		t.Fatalf("after body: %q", rest)
	}
}
