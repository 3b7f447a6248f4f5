package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
)

// pki is a CA and the files of a server and a client certificate it signed, written to a
// test directory.
type pki struct {
	dir            string
	caPEM, caDER   []byte
	caFile         string
	srvCrt, srvKey string
	cliCrt, cliKey string
	otherCA        string // a CA that signed nothing here
	ca             *x509.Certificate
	caKey          *ecdsa.PrivateKey
	serial         int64
	t              *testing.T
	serverName     string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), t: t, serverName: "broker.test"}
	p.ca, p.caKey, p.caDER = p.selfSigned("test CA")
	p.caPEM = pemOf("CERTIFICATE", p.caDER)
	p.caFile = p.write("ca.pem", p.caPEM)
	_, _, other := p.selfSigned("other CA")
	p.otherCA = p.write("other.pem", pemOf("CERTIFICATE", other))
	p.srvCrt, p.srvKey = p.leaf("server", x509.ExtKeyUsageServerAuth, p.serverName)
	p.cliCrt, p.cliKey = p.leaf("client", x509.ExtKeyUsageClientAuth, "")
	return p
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func (p *pki) write(name string, data []byte) string {
	p.t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

func (p *pki) key() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	return k
}

func (p *pki) selfSigned(cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	p.t.Helper()
	k := p.key()
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		p.t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		p.t.Fatal(err)
	}
	return c, k, der
}

func (p *pki) leaf(name string, usage x509.ExtKeyUsage, dns string) (crt, key string) {
	p.t.Helper()
	k := p.key()
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if dns != "" {
		tmpl.DNSNames = []string{dns}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.write(name+".crt", pemOf("CERTIFICATE", der)), p.write(name+".key", pemOf("PRIVATE KEY", kder))
}

// serve accepts one connection on 127.0.0.1 with tc, completes the handshake and echoes
// one byte; the handshake's error comes back on the channel.
func serve(t *testing.T, tc *tls.Config) (string, <-chan error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err != nil {
			done <- err
			return
		}
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			done <- err
			return
		}
		_, err = c.Write(b[:])
		done <- err
	}()
	return ln.Addr().String(), done
}

// dial connects with tc, sends one byte and reads it back: a handshake both sides accept.
func dial(addr string, tc *tls.Config) error {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, tc)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{'x'}); err != nil {
		return err
	}
	var b [1]byte
	_, err = io.ReadFull(c, b[:])
	return err
}

func (p *pki) server(t *testing.T, s ServerSettings) (string, <-chan error) {
	t.Helper()
	s.TLS, s.TLSCrtFile, s.TLSKeyFile = true, p.srvCrt, p.srvKey
	tc, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, tc)
}

func TestClientHandshakes(t *testing.T) {
	p := newPKI(t)
	hashDir := filepath.Join(p.dir, "capath-hash")
	pemDir := filepath.Join(p.dir, "capath-pem")
	for _, d := range []string{hashDir, pemDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// An OpenSSL CApath: a hash-named link to the CA, plus files that are not CAs.
	if err := os.Symlink(p.caFile, filepath.Join(hashDir, "1a2b3c4d.0")); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"README": "not a certificate", "ca.key": "-----BEGIN PRIVATE KEY-----\n", "1a2b3c4d.r0": "a CRL link"} {
		if err := os.WriteFile(filepath.Join(hashDir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(pemDir, "Company-CA.CRT"), p.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		client ClientSettings
		host   string
		ok     bool
	}{
		{"ca_file", ClientSettings{TLSVerify: true, TLSCAFile: p.caFile}, p.serverName, true},
		{"ca_path with a hash link", ClientSettings{TLSVerify: true, TLSCAPath: hashDir}, p.serverName, true},
		{"ca_path with a .CRT file", ClientSettings{TLSVerify: true, TLSCAPath: pemDir}, p.serverName, true},
		{"ca_file and ca_path together", ClientSettings{TLSVerify: true, TLSCAFile: p.otherCA, TLSCAPath: pemDir}, p.serverName, true},
		{"the wrong CA", ClientSettings{TLSVerify: true, TLSCAFile: p.otherCA}, p.serverName, false},
		{"the wrong name", ClientSettings{TLSVerify: true, TLSCAFile: p.caFile}, "other.test", false},
		{"vhost names the certificate's name", ClientSettings{TLSVerify: true, TLSCAFile: p.caFile, TLSVhost: p.serverName}, "127.0.0.2", true},
		{"verify off", ClientSettings{TLSVerify: false, TLSCAFile: p.otherCA}, "other.test", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client
			c.TLS = true
			cfg, err := c.Config(tc.host)
			if err != nil {
				t.Fatal(err)
			}
			addr, srvErr := p.server(t, DefaultServer())
			err = dial(addr, cfg)
			if tc.ok && err != nil {
				t.Fatalf("handshake failed: %v", err)
			}
			if !tc.ok {
				var uerr x509.UnknownAuthorityError
				var herr x509.HostnameError
				if err == nil || !(errors.As(err, &uerr) || errors.As(err, &herr)) {
					t.Fatalf("handshake: %v, want a verification error", err)
				}
				return
			}
			if err := <-srvErr; err != nil {
				t.Fatalf("server: %v", err)
			}
		})
	}
}

func TestServerRequiresClientCertificateOnlyWithCA(t *testing.T) {
	p := newPKI(t)
	withCert := ClientSettings{TLS: true, TLSVerify: true, TLSCAFile: p.caFile, TLSCrtFile: p.cliCrt, TLSKeyFile: p.cliKey}
	without := ClientSettings{TLS: true, TLSVerify: true, TLSCAFile: p.caFile}
	for _, tc := range []struct {
		name   string
		server ServerSettings
		client ClientSettings
		ok     bool
	}{
		{"CA and verify: certificate presented", ServerSettings{TLSVerify: true, TLSCAFile: p.caFile}, withCert, true},
		{"CA and verify: no certificate", ServerSettings{TLSVerify: true, TLSCAFile: p.caFile}, without, false},
		{"CA path and verify: no certificate", ServerSettings{TLSVerify: true, TLSCAPath: p.dir}, without, false},
		{"CA, verify off: no certificate", ServerSettings{TLSVerify: false, TLSCAFile: p.caFile}, without, true},
		{"no CA: no certificate asked", ServerSettings{TLSVerify: true}, without, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.client.Config(p.serverName)
			if err != nil {
				t.Fatal(err)
			}
			addr, srvErr := p.server(t, tc.server)
			cliErr := dial(addr, cfg)
			err = <-srvErr
			if tc.ok && (err != nil || cliErr != nil) {
				t.Fatalf("server: %v; client: %v", err, cliErr)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "certificate")) {
				t.Fatalf("server accepted a client without a certificate (server error %v)", err)
			}
		})
	}
}

func TestCAErrorsNameKeyAndFile(t *testing.T) {
	p := newPKI(t)
	mk := func(name string, files map[string][]byte) string {
		d := filepath.Join(p.dir, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for n, data := range files {
			if err := os.WriteFile(filepath.Join(d, n), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	dangling := mk("dangling", nil)
	if err := os.Symlink(filepath.Join(p.dir, "gone.pem"), filepath.Join(dangling, "0badf00d.0")); err != nil {
		t.Fatal(err)
	}
	bad := pemOf("CERTIFICATE", []byte("not DER"))
	for _, tc := range []struct {
		name, file, dir, key, want string
	}{
		{"missing ca_file", filepath.Join(p.dir, "nope.pem"), "", "tls.ca_file", "nope.pem"},
		{"ca_file not PEM", p.write("der.crt", p.caDER), "", "tls.ca_file", "no PEM certificate"},
		{"ca_file a key only", p.srvKey, "", "tls.ca_file", "no PEM certificate"},
		{"ca_file bad certificate", p.write("bad.pem", bad), "", "tls.ca_file", "certificate 1"},
		{"missing ca_path", "", filepath.Join(p.dir, "nodir"), "tls.ca_path", "nodir"},
		{"ca_path with nothing to read", "", mk("empty", map[string][]byte{"README": []byte("hi")}), "tls.ca_path", "no certificate file"},
		{"ca_path with a DER .crt", "", mk("der", map[string][]byte{"ca.crt": p.caDER}), "tls.ca_path", "ca.crt: no PEM certificate"},
		{"ca_path with a bad certificate", "", mk("bad", map[string][]byte{"a.pem": p.caPEM, "b.pem": bad}), "tls.ca_path", "b.pem: certificate 1"},
		{"ca_path with a dangling hash link", "", dangling, "tls.ca_path", "0badf00d.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, get := range []func() error{
				func() error {
					c := ClientSettings{TLS: true, TLSVerify: true, TLSCAFile: tc.file, TLSCAPath: tc.dir}
					_, err := c.Config("x")
					return err
				},
				func() error {
					s := ServerSettings{TLS: true, TLSVerify: true, TLSCAFile: tc.file, TLSCAPath: tc.dir, TLSCrtFile: p.srvCrt, TLSKeyFile: p.srvKey}
					_, err := s.Config()
					return err
				},
			} {
				err := get()
				var ce *config.Error
				if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v: want one about key %s saying %q", err, tc.key, tc.want)
				}
			}
		})
	}
}

func TestPairAndServerKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		key  string
	}{
		{"client crt alone", (&ClientSettings{TLSCrtFile: "a"}).Validate(), "tls.crt_file"},
		{"client key alone", (&ClientSettings{TLSKeyFile: "a"}).Validate(), "tls.key_file"},
		{"server tls without certificate", (&ServerSettings{TLS: true}).Validate(), "tls"},
		{"server key alone", (&ServerSettings{TLSKeyFile: "a"}).Validate(), "tls.key_file"},
	} {
		var ce *config.Error
		if !errors.As(tc.err, &ce) || ce.Key != tc.key {
			t.Errorf("%s: error %v, want one about %s", tc.name, tc.err, tc.key)
		}
	}
	if err := (&ClientSettings{TLSCrtFile: "a", TLSKeyFile: "b"}).Validate(); err != nil {
		t.Errorf("crt and key: %v", err)
	}
	p := newPKI(t)
	c := ClientSettings{TLS: true, TLSCrtFile: p.cliCrt, TLSKeyFile: p.srvKey}
	if _, err := c.Config("x"); err == nil || !strings.Contains(err.Error(), "tls.crt_file") {
		t.Errorf("a certificate with another's key: %v, want an error about tls.crt_file", err)
	}
	if cfg, err := (&ClientSettings{TLSCAFile: "/nonexistent"}).Config("x"); cfg != nil || err != nil {
		t.Errorf("tls off: %v, %v; want nil, nil (files not read)", cfg, err)
	}
}

// TestErrorPlacedAtKeyLine decodes the keys from a configuration file as a plugin does and
// checks that a bad tls.ca_path is reported at its file and line.
func TestErrorPlacedAtKeyLine(t *testing.T) {
	text := "[OUTPUT]\n    name http\n    tls on\n    tls.ca_path /nonexistent/dir\n"
	cfg, err := config.ParseClassic("fluent-bit.conf", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	sec := cfg.Outputs[0]
	var plugin struct {
		Name string `conf:"name"`
		ClientSettings
	}
	plugin.ClientSettings = DefaultClient()
	if err := config.Decode(sec.Props, &plugin); err != nil {
		t.Fatal(err)
	}
	_, err = plugin.Config("x")
	err = config.Place(sec, "http", err)
	if err == nil || !strings.HasPrefix(err.Error(), `fluent-bit.conf:4: key "tls.ca_path"`) {
		t.Fatalf("error %v: want it at fluent-bit.conf:4, key tls.ca_path", err)
	}
}

func TestIsCAPathName(t *testing.T) {
	for name, want := range map[string]bool{
		"1a2b3c4d.0": true, "1A2B3C4D.12": true, "ca.pem": true, "ca.PEM": true, "x.crt": true,
		"1a2b3c4d.r0": false, "1a2b3c4.0": false, "1a2b3c4d.": false, "1a2b3c4g.0": false,
		"README": false, "ca.key": false, "ca.der": false, "ca.cer": false, "1a2b3c4d.0.bak": false,
	} {
		if got := IsCAPathName(name); got != want {
			t.Errorf("%q: %v, want %v", name, got, want)
		}
	}
}

// tls.verify_hostname off verifies the chain but not the name (Fluent Bit's default);
// tls.min_version and tls.ciphers reach the handshake.
func TestVerifyHostnameVersionsCiphers(t *testing.T) {
	p := newPKI(t)
	hostOff := OptionalBool{}
	if err := hostOff.UnmarshalConf("off"); err != nil {
		t.Fatal(err)
	}
	srv12 := DefaultServer()
	srv12.MaxVersion = "TLSv1.2"
	srv12.Ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"
	for _, tc := range []struct {
		name   string
		client ClientSettings
		server ServerSettings
		host   string
		ok     bool
	}{
		{"hostname off: another name", ClientSettings{TLSVerify: true, TLSCAFile: p.caFile, TLSVerifyHostname: hostOff}, DefaultServer(), "other.test", true},
		{"hostname off: still the chain", ClientSettings{TLSVerify: true, TLSCAFile: p.otherCA, TLSVerifyHostname: hostOff}, DefaultServer(), p.serverName, false},
		{"min 1.3 against a 1.2 server", ClientSettings{TLSVerify: true, TLSCAFile: p.caFile, tuning: tuning{MinVersion: "TLSv1.3"}}, srv12, p.serverName, false},
		{"a suite the server has", ClientSettings{TLSVerify: true, TLSCAFile: p.caFile, tuning: tuning{Ciphers: "HIGH:!aNULL:ECDHE-ECDSA-AES128-GCM-SHA256"}}, srv12, p.serverName, true},
		{"no suite in common", ClientSettings{TLSVerify: true, TLSCAFile: p.caFile, tuning: tuning{Ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384", MaxVersion: "1.2"}}, srv12, p.serverName, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client
			c.TLS = true
			cfg, err := c.Config(tc.host)
			if err != nil {
				t.Fatal(err)
			}
			addr, srvErr := p.server(t, tc.server)
			err = dial(addr, cfg)
			if tc.ok != (err == nil) {
				t.Fatalf("handshake: %v, want ok=%v", err, tc.ok)
			}
			if tc.ok {
				if err := <-srvErr; err != nil {
					t.Fatalf("server: %v", err)
				}
			}
		})
	}
}

func TestTuningErrorsNameKey(t *testing.T) {
	for _, tc := range []struct {
		t   tuning
		key string
	}{
		{tuning{MinVersion: "SSLv3"}, "tls.min_version"},
		{tuning{MaxVersion: "TLSv2"}, "tls.max_version"},
		{tuning{MinVersion: "TLSv1.3", MaxVersion: "TLSv1.2"}, "tls.max_version"},
		{tuning{Ciphers: "ECDHE-RSA-AES128-GCM-SHA256:NO-SUCH-CIPHER"}, "tls.ciphers"},
	} {
		err := tc.t.validate()
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%+v: %v, want an error about %s", tc.t, err, tc.key)
		}
	}
	ids, err := ciphersOf("ECDHE-RSA-AES128-GCM-SHA256 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_AES_128_GCM_SHA256")
	if err != nil || len(ids) != 2 || ids[0] != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 || ids[1] != tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 {
		t.Errorf("ciphersOf: %v %v", ids, err)
	}
}
