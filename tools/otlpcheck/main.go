// Command otlpcheck is an OTLP/HTTP receiver for tests: it decodes each request to
// /v1/logs and /v1/metrics with the OpenTelemetry Collector's own pdata library
// (plogotlp, pmetricotlp: protobuf or JSON by Content-Type, gzip by Content-Encoding) and
// prints one JSON line per request on stdout: {"path", "content_type", "encoding",
// "header", "error", "request"} where request is the decoded ExportRequest in OTLP/JSON.
// The first line is {"listening": "host:port"}. It answers 200 with an empty
// ExportResponse in the request's encoding, or 400 when the body does not decode.
//
// It is a module of its own so that the agent does not depend on the Collector's
// libraries; the opentelemetry output's tests build and run it.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

type line struct {
	Path        string          `json:"path"`
	ContentType string          `json:"content_type"`
	Encoding    string          `json:"encoding,omitempty"`
	Header      http.Header     `json:"header"`
	Error       string          `json:"error,omitempty"`
	Request     json.RawMessage `json:"request,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	enc.Encode(map[string]string{"listening": l.Addr().String()})
	h := func(w http.ResponseWriter, r *http.Request) {
		out := line{Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Encoding: r.Header.Get("Content-Encoding"), Header: r.Header}
		body, err := io.ReadAll(r.Body)
		if err == nil && out.Encoding == "gzip" {
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
				body, err = io.ReadAll(zr)
			}
		}
		isJSON := out.ContentType == "application/json"
		var resp []byte
		if err == nil {
			switch r.URL.Path {
			case "/v1/logs":
				req := plogotlp.NewExportRequest()
				if isJSON {
					err = req.UnmarshalJSON(body)
				} else {
					err = req.UnmarshalProto(body)
				}
				if err == nil {
					out.Request, err = req.MarshalJSON()
				}
				if isJSON {
					resp, _ = plogotlp.NewExportResponse().MarshalJSON()
				} else {
					resp, _ = plogotlp.NewExportResponse().MarshalProto()
				}
			case "/v1/metrics":
				req := pmetricotlp.NewExportRequest()
				if isJSON {
					err = req.UnmarshalJSON(body)
				} else {
					err = req.UnmarshalProto(body)
				}
				if err == nil {
					out.Request, err = req.MarshalJSON()
				}
				if isJSON {
					resp, _ = pmetricotlp.NewExportResponse().MarshalJSON()
				} else {
					resp, _ = pmetricotlp.NewExportResponse().MarshalProto()
				}
			default:
				err = fmt.Errorf("unknown path %s", r.URL.Path)
			}
		}
		if err != nil {
			out.Error = err.Error()
		}
		mu.Lock()
		enc.Encode(out)
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if isJSON {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "application/x-protobuf")
		}
		w.Write(resp)
	}
	if err := http.Serve(l, http.HandlerFunc(h)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
