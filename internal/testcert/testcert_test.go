package testcert

import (
	"crypto/tls"
	"io"
	"testing"
)

// A server with the certificate and a client trusting it (and presenting it, checked by the
// server against the same pool) complete a handshake on 127.0.0.1 and by a given name.
func TestServerAndClientShakeHands(t *testing.T) {
	c := New(t, "aggregator.test")
	srv := c.ServerConfig()
	srv.ClientAuth, srv.ClientCAs = tls.RequireAndVerifyClientCert, c.Pool
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer conn.Close(); io.Copy(conn, conn) }()
		}
	}()
	for _, name := range []string{"127.0.0.1", "aggregator.test", "localhost"} {
		cfg := c.ClientConfig()
		cfg.ServerName = name
		conn, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := conn.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(conn, b); err != nil || b[0] != 'x' {
			t.Errorf("%s: echo %q, %v", name, b, err)
		}
		conn.Close()
	}
}
