// Package embedhttp is a small HTTP/1.1 server for the agent's HTTP input and its
// monitoring API, in the spirit of the Monkey HTTP server that Fluent Bit embeds.
//
// What it does: keep-alive and pipelining; Content-Length and chunked request bodies;
// Expect: 100-continue; gzip request bodies (Content-Encoding: gzip, with a size cap on
// the inflated body); limits on header bytes, header count, body bytes, requests per
// connection, open connections and the request bytes all connections hold together;
// read (whole-request, slowloris-proof), first-byte (a new connection that sends nothing),
// idle and write timeouts; IPv4 and
// IPv6; TLS (crypto/tls); basic auth; IP allow/deny lists (CIDR). Malformed requests are
// answered 400, 413, 415, 417, 431, 501 or 505 from prebuilt responses and the
// connection is closed. Request smuggling is refused: Content-Length together with
// Transfer-Encoding, differing duplicate Content-Lengths, bad chunk sizes, bare CR or
// LF line ends, obs-folded headers. A panic in a handler is recovered, counted
// (Stats().Panics), answered 500, and closes only its connection.
//
// What it does not do: HTTP/2 (the preface is answered 505), response streaming (the
// handler's body is buffered and framed with Content-Length when it returns),
// Transfer-Encodings other than chunked (501), CONNECT, upgrades, trailers (parsed and
// dropped).
//
// How it works: Workers accept loops each own a listener on the shared port
// (SO_REUSEPORT on Linux; one listener elsewhere), and every connection runs on its own
// goroutine over Go's netpoller (epoll), which is the event loop. One clock goroutine,
// shared by every server in the process, keeps the formatted Date value. Each connection owns one input buffer, reused for
// its life: heads are parsed in place, chunked bodies are de-chunked in place, and the
// Request hands out slices of that buffer. Responses queue in an output buffer while
// pipelined requests remain buffered and go out in one write. A small keep-alive POST
// costs no allocation on the server side.
//
// The API:
//
//	srv := &embedhttp.Server{Addr: "127.0.0.1:0", Handler: embedhttp.HandlerFunc(
//		func(w *embedhttp.Response, r *embedhttp.Request) {
//			if !r.IsMethod("POST") {
//				w.SetStatus(405)
//				return
//			}
//			consume(r.Path(), r.Body()) // valid only during the call: copy to keep
//			w.SetStatus(201)
//		})}
//	if err := srv.Start(ctx); err != nil { ... }
//	addr := srv.ListenAddr() // the port picked for ":0"
//	defer srv.Shutdown(context.Background())
//
// Mux routes by path (exact, or prefix for patterns ending in "/"); FromHTTP mounts a
// net/http Handler. Hooks are Monkey's stages: connection accepted (after the allow/deny
// lists), request received (after the head, before the body: refuse early), content
// (the Handler), response done (access log) and connection closed.
package embedhttp
