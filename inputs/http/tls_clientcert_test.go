package http

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// peerCert writes a self-signed certificate usable by a server and a client alike.
func peerCert(t *testing.T) (crtFile, keyFile string, cert tls.Certificate, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crtFile, keyFile = filepath.Join(dir, "peer.pem"), filepath.Join(dir, "peer.key")
	if err := os.WriteFile(crtFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err = tls.LoadX509KeyPair(crtFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return crtFile, keyFile, cert, pool
}

// With tls.ca_file (tls.verify on by default) the input, like the forward input, serves
// only clients presenting a certificate that CA signed: one without gets no record in.
func TestTLSClientCertificateRequired(t *testing.T) { forServers(t, testTLSClientCertificateRequired) }

func testTLSClientCertificateRequired(t *testing.T, server string) {
	crt, key, cert, pool := peerCert(t)
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
