package embedhttp

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// FromHTTP mounts a net/http Handler on embedhttp. Each request builds an
// *http.Request and a header map, so it allocates like net/http does: use it for
// convenience (embedders, the monitoring API), the native Handler for hot paths.
// The body is fully read before the handler runs; Flush/Hijack/Push are not
// supported (the response is sent when the handler returns).
func FromHTTP(h http.Handler) Handler { return httpAdapter{h} }

type httpAdapter struct{ h http.Handler }

func (a httpAdapter) Serve(w *Response, r *Request) {
	u, err := url.ParseRequestURI(string(r.Target()))
	if err != nil {
		w.SetStatus(400)
		w.WriteString("Bad Request\n")
		return
	}
	hdr := make(http.Header, r.NumHeaders())
	host := ""
	for i := 0; i < r.NumHeaders(); i++ {
		k, v := r.HeaderAt(i)
		key := http.CanonicalHeaderKey(string(k))
		switch {
		case key == "Host":
			host = string(v)
			continue
		case key == "Transfer-Encoding", key == "Content-Length":
			continue // the body is de-chunked: its length is set below
		case key == "Content-Encoding" && r.gzip:
			continue // and gunzipped: do not make the handler inflate it again
		}
		hdr[key] = append(hdr[key], string(v))
	}
	body := r.Body()
	if len(body) > 0 || r.contentLength == 0 {
		hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	hr := &http.Request{
		Method:        r.MethodString(),
		URL:           u,
		Proto:         "HTTP/1." + strconv.Itoa(r.ProtoMinor()),
		ProtoMajor:    1,
		ProtoMinor:    r.ProtoMinor(),
		Header:        hdr,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Host:          host,
		RemoteAddr:    r.RemoteAddr().String(),
		RequestURI:    string(r.Target()),
		TLS:           r.TLS(),
	}
	if len(body) == 0 {
		hr.Body = http.NoBody
	}
	hr = hr.WithContext(r.Context())
	rw := &responseWriter{w: w, header: http.Header{}}
	a.h.ServeHTTP(rw, hr)
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
}

type responseWriter struct {
	w           *Response
	header      http.Header
	wroteHeader bool
}

func (rw *responseWriter) Header() http.Header { return rw.header }

func (rw *responseWriter) WriteHeader(code int) {
	if rw.wroteHeader {
		return
	}
	rw.wroteHeader = true
	rw.w.SetStatus(code)
	for k, vs := range rw.header {
		for _, v := range vs {
			rw.w.AddHeader(k, v)
		}
	}
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		if rw.header.Get("Content-Type") == "" {
			rw.header.Set("Content-Type", http.DetectContentType(p))
		}
		rw.WriteHeader(http.StatusOK)
	}
	return rw.w.Write(p)
}
