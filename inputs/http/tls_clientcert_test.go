package http

import (
	"crypto/tls"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/internal/testcert"
)

// With tls.ca_file (tls.verify on by default) the input, like the forward input, serves
// only clients presenting a certificate that CA signed: one without gets no record in.
func TestTLSClientCertificateRequired(t *testing.T) { forServers(t, testTLSClientCertificateRequired) }

func testTLSClientCertificateRequired(t *testing.T, server string) {
	peer := testcert.New(t)
	crt, key, cert, pool := peer.CertFile, peer.KeyFile, peer.Pair, peer.Pool
	s := serve(t, "server", server, "tls", "on", "tls.crt_file", crt, "tls.key_file", key, "tls.ca_file", crt)
	url := strings.Replace(s.url, "http://", "https://", 1) + "/secure"
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{{"no client certificate", nil, false}, {"client certificate", []tls.Certificate{cert}, true}} {
		client := &nethttp.Client{Transport: &nethttp.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: tc.certs}}}
		resp, err := client.Post(url, "application/json", strings.NewReader(`{"tls":true}`))
		client.CloseIdleConnections()
		if err == nil {
			resp.Body.Close()
		}
		if ok := err == nil && resp.StatusCode == 201; ok != tc.ok {
			t.Errorf("%s: accepted=%v (err %v), want %v", tc.name, ok, err, tc.ok)
		}
	}
	if s.rec.Len() != 1 {
		t.Errorf("%d records in, want 1 (from the client with a certificate)", s.rec.Len())
	}
}
