package http

import (
	"context"
	"time"

	"github.com/fluentbit-go/fluentbit-go/embedhttp"
)

// defaultServer is the server used when the server key is not set.
const defaultServer = ServerEmbed

// startEmbed starts the embedhttp server (Init calls it, so a port in use is reported at
// start). Until Run publishes the emitter, requests are answered 503.
func (in *Input) startEmbed(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.srv != nil {
		return nil
	}
	srv := &embedhttp.Server{
		Addr:                 in.Addr(),
		Handler:              embedhttp.HandlerFunc(in.serveEmbedRequest),
		MaxBodyBytes:         int64(in.BufferMaxSize),
		MaxDecompressedBytes: int64(in.BufferMaxSize),
		TLSConfig:            in.tlsConfig,
		// Bodies, inflated gzip bodies and large heads are reserved from the process's
		// memory budget as they grow: a request it has no room for gets 503.
		Memory:      in.budget,
		Logger:      in.log,
		Workers:     in.Workers,
		MaxConns:    in.MaxConnections,
		IdleTimeout: in.IdleTimeout,
		// A reload hands the port to the new pipeline's input: no client is refused.
		HandOff: true,
		Hooks: embedhttp.Hooks{
			// Refuse before the body is read: under backpressure the client keeps its
			// records and retries; nothing is read that would then be dropped.
			RequestReceived: func(w *embedhttp.Response, r *embedhttp.Request) bool {
				if in.EnableHealth && r.IsMethod("GET") && string(r.Path()) == "/health" {
					in.writeEmbed(w, healthReply(time.Now()))
					return false
				}
				if !r.IsMethod("POST") {
					in.writeEmbed(w, replyMethod)
					return false
				}
				if em := in.emitter(r.Context()); em == nil || em.Paused() {
					in.writeEmbed(w, replyBusy)
					return false
				}
				return true
			},
		},
	}
	// ctx bounds only the start: the server runs until Run or Close shuts it down.
	if err := srv.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	in.srv = srv
	in.addr = srv.ListenAddr().String()
	return nil
}

func (in *Input) serveEmbedRequest(w *embedhttp.Response, r *embedhttp.Request) {
	ct := "application/json"
	if b := r.ContentType(); b == nil {
		ct = ""
	} else if string(b) != ct { // compared without allocating
		ct = string(b)
	}
	// The server has already de-chunked and gunzipped the body.
	remote := ""
	if in.AddRemoteAddr {
		remote = remoteAddr(string(r.Header("X-Forwarded-For")), r.RemoteAddr().Addr().String())
	}
	in.writeEmbed(w, in.handle("POST", in.pathString(r.Path()), ct, "", remote, r.Body()))
}

// maxCachedPaths bounds the path strings kept, so that clients sending ever new paths
// cost an allocation each rather than memory.
const maxCachedPaths = 1024

// pathString returns p as a string, from a cache for the paths seen most: a client posting
// to the same path again and again costs no allocation.
func (in *Input) pathString(p []byte) string {
	if v, ok := in.paths.Load(string(p)); ok {
		return v.(string)
	}
	s := string(p)
	if in.pathCount.Load() < maxCachedPaths {
		if _, loaded := in.paths.LoadOrStore(s, s); !loaded {
			in.pathCount.Add(1)
		}
	}
	return s
}

func (in *Input) writeEmbed(w *embedhttp.Response, rep reply) {
	w.SetStatus(rep.status)
	if rep.retryAfter {
		w.AddHeader("Retry-After", "1")
	}
	if rep.allowPost {
		w.AddHeader("Allow", "POST")
	}
	if rep.status < 300 {
		for _, kv := range in.headers {
			w.AddHeader(kv[0], kv[1])
		}
	}
	if rep.msg != "" {
		w.SetContentType(rep.contentType())
		w.WriteString(rep.msg)
	}
}

// serveEmbed runs until ctx is done, then shuts the server down.
func (in *Input) serveEmbed(ctx context.Context) error {
	<-ctx.Done()
	return in.stopEmbed()
}

func (in *Input) stopEmbed() error {
	in.mu.Lock()
	srv := in.srv
	in.srv = nil
	in.mu.Unlock()
	if srv == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(sctx) // past the timeout it closes what is left: not an input failure
	return nil
}
