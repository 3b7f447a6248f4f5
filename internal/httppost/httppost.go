// Package httppost is the request side shared by the outputs that POST a chunk to a
// server's HTTP API (influxdb, prometheus_remote_write, loki, opentelemetry): a client built from the
// connection and TLS keys, and one reading of the server's answer into the engine's
// outcomes. It does not build bodies; each output knows its server's format.
//
// Outcomes: 2xx delivers; 408, 429, 5xx and connection errors are pipeline.Retry, with
// pipeline.RetryAfter when the answer has a Retry-After header (delay seconds or an HTTP
// date); any other answer (3xx, other 4xx) is a plain error: the server will never take
// this body, so the chunk is dropped for that output and the answer is in the error.
package httppost

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Client posts bodies to one URL.
type Client struct {
	URL    string
	Header http.Header // sent with every request (Content-Type, auth, ...)
	Host   string      // when set, the Host header (tls.vhost)
	hc     *http.Client
}

// New returns a client with these timeouts and TLS config (nil: plain HTTP).
func New(url string, header http.Header, tc *tls.Config, connectTimeout, ioTimeout time.Duration) *Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   connectTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: ioTimeout,
		TLSClientConfig:       tc,
	}
	return &Client{URL: url, Header: header, hc: &http.Client{
		Transport: tr,
		Timeout:   ioTimeout,
		// A redirect is an answer of its own: not followed, the chunk is not delivered.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// ForOutput is New for an output's keys: TLS from its tls.* settings for host when tls
// is on (the files are read now), tls.vhost as the Host header.
func ForOutput(url string, header http.Header, cs *tlsconf.ClientSettings, host string, connectTimeout, ioTimeout time.Duration) (*Client, error) {
	var tc *tls.Config
	if cs.TLS {
		var err error
		if tc, err = cs.Config(host); err != nil {
			return nil, err
		}
	}
	c := New(url, header, tc, connectTimeout, ioTimeout)
	c.Host = cs.TLSVhost
	return c, nil
}

// Post sends body and reads the answer into nil, pipeline.Retry/RetryAfter or an error.
// what names the plugin in errors ("influxdb"); hint is added to a refusal's error to say
// which key the server probably refused (e.g. "check database").
func (c *Client) Post(ctx context.Context, what string, body []byte, hint func(code int) string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if c.Host != "" {
		req.Host = c.Host
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return pipeline.Retry(fmt.Errorf("%s: POST %s: %w", what, c.URL, err))
	}
	payload, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	resp.Body.Close()
	code := resp.StatusCode
	note := ""
	if p := strings.TrimSpace(string(payload)); p != "" {
		note = ": " + p
	}
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("%s: POST %s: %s%s", what, c.URL, resp.Status, note)
		if d, ok := RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return pipeline.RetryAfter(err, d)
		}
		return pipeline.Retry(err)
	}
	h := ""
	if hint != nil {
		if s := hint(code); s != "" {
			h = " (" + s + ")"
		}
	}
	return fmt.Errorf("%s: POST %s: %s%s: chunk refused%s", what, c.URL, resp.Status, h, note)
}

// CloseIdle lets idle connections go.
func (c *Client) CloseIdle() {
	if c != nil && c.hc != nil {
		c.hc.CloseIdleConnections()
	}
}

// maxRetryAfter is the longest Retry-After taken, in seconds (30 days).
const maxRetryAfter = 30 * 24 * 3600

// RetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, maxRetryAfter)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// ParseHeaders reads "Name value" header keys into h (repeats add values); errors name the
// bad entry.
func ParseHeaders(h http.Header, list []string) error {
	for _, e := range list {
		name, value, _ := strings.Cut(strings.TrimSpace(e), " ")
		name = strings.TrimSpace(name)
		if name == "" || strings.ContainsAny(name, ":\r\n\t") || strings.ContainsAny(value, "\r\n") {
			return fmt.Errorf("%q: want \"Name value\"", e)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return nil
}
