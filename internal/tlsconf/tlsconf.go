// Package tlsconf holds the TLS keys every plugin that speaks TLS accepts, as two structs a
// plugin embeds in its own: Client (outputs, the mqtt input: tls, tls.verify, tls.debug,
// tls.ca_file, tls.ca_path, tls.crt_file, tls.key_file, tls.vhost, tls.verify_hostname,
// tls.min_version, tls.max_version, tls.ciphers) and Server (listening inputs: the same
// keys but tls.verify_hostname). It reads the certificate files the same way for all of them and
// reports every problem as a configuration error naming the key, which the engine places
// at the key's file and line. It does not dial or listen.
//
// # tls.ca_path
//
// tls.ca_path names a directory of trusted CA certificates. Fluent Bit hands it to
// OpenSSL as a CApath, where certificates are found through links named after the hash of
// their subject (1a2b3c4d.0, made by c_rehash or openssl rehash, as in /etc/ssl/certs);
// people also drop plain *.pem and *.crt files into such directories and expect them to
// count. So the files read are:
//
//   - OpenSSL hash names: eight hexadecimal digits, a dot, a number (1a2b3c4d.0);
//   - names ending in .pem or .crt (any case).
//
// Everything else in the directory is skipped (README, keys, *.r0 CRL links,
// subdirectories); links are followed. Each file read must hold PEM certificates: a file
// that cannot be read, one without a certificate (DER, a key alone), or a certificate that
// does not parse is an error naming the file, and so is a directory in which no file is a
// certificate. The same certificate reached by a hash link and by its .pem name counts once.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/config"
)

// ClientSettings are the TLS keys of a plugin that connects to a server. Embed it in the plugin's
// struct and start from DefaultClient, so tls.verify defaults to on.
type ClientSettings struct {
	TLS        bool   `conf:"tls"`          // connect over TLS
	TLSVerify  bool   `conf:"tls.verify"`   // verify the server's certificate (default on)
	TLSDebug   int    `conf:"tls.debug"`    // accepted so Fluent Bit configs load; no effect
	TLSCAFile  string `conf:"tls.ca_file"`  // trusted CAs, PEM; default the system's
	TLSCAPath  string `conf:"tls.ca_path"`  // a directory of trusted CAs (see the package doc)
	TLSCrtFile string `conf:"tls.crt_file"` // client certificate, PEM
	TLSKeyFile string `conf:"tls.key_file"` // its private key, PEM
	TLSVhost   string `conf:"tls.vhost"`    // server name to verify and send (SNI); default the host
	// TLSVerifyHostname checks that the certificate names the server (tls.vhost or the
	// host). Unset means on here (Fluent Bit's default is off); off still verifies the chain.
	TLSVerifyHostname OptionalBool `conf:"tls.verify_hostname"`
	tuning                         // tls.min_version, tls.max_version, tls.ciphers (see tuning.go)
}

// DefaultClient returns the client defaults: TLS off, verification (chain and host name)
// on when it is turned on.
func DefaultClient() ClientSettings { return ClientSettings{TLSVerify: true} }

// Validate checks the keys without reading files: a certificate and its key go together,
// versions and cipher names are known.
func (c *ClientSettings) Validate() error {
	if err := checkPair(c.TLSCrtFile, c.TLSKeyFile); err != nil {
		return err
	}
	return c.tuning.validate()
}

// Config returns the tls.Config to dial with, reading the CA and certificate files (call
// it from Init), or nil when tls is off. host is the server's name, verified and sent in
// SNI unless tls.vhost names another.
func (c *ClientSettings) Config(host string) (*tls.Config, error) {
	if !c.TLS {
		return nil, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: !c.TLSVerify} //nolint:gosec // tls.verify off is the operator's choice, documented
	if c.TLSVhost != "" {
		tc.ServerName = c.TLSVhost
	}
	pool, err := LoadCAs(c.TLSCAFile, c.TLSCAPath)
	if err != nil {
		return nil, err
	}
	tc.RootCAs = pool // nil: the system's roots
	if c.TLSCrtFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCrtFile, c.TLSKeyFile)
		if err != nil {
			return nil, config.KeyErrorf("tls.crt_file", "load certificate and key: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if err := c.tuning.apply(tc); err != nil {
		return nil, err
	}
	if c.TLSVerify && !c.TLSVerifyHostname.Or(true) {
		verifyChainOnly(tc)
	}
	return tc, nil
}

// ServerSettings are the TLS keys of a plugin that listens. Embed it in the plugin's struct and
// start from DefaultServer. With tls on, tls.crt_file and tls.key_file are the server's
// certificate and key; with tls.verify on and a CA given (tls.ca_file or tls.ca_path),
// clients must present a certificate signed by one of those CAs. Without a CA, clients are
// not asked for one. tls.vhost and tls.debug are accepted so Fluent Bit configs load.
type ServerSettings struct {
	TLS        bool   `conf:"tls"`          // serve over TLS
	TLSVerify  bool   `conf:"tls.verify"`   // with a CA: require client certificates (default on)
	TLSDebug   int    `conf:"tls.debug"`    // accepted; no effect
	TLSCAFile  string `conf:"tls.ca_file"`  // CAs that sign client certificates
	TLSCAPath  string `conf:"tls.ca_path"`  // a directory of them (see the package doc)
	TLSCrtFile string `conf:"tls.crt_file"` // the server's certificate, PEM
	TLSKeyFile string `conf:"tls.key_file"` // its private key, PEM
	TLSVhost   string `conf:"tls.vhost"`    // accepted; no effect for a server
	tuning            // tls.min_version, tls.max_version, tls.ciphers (see tuning.go)
}

// DefaultServer returns the server defaults: TLS off, client verification on when a CA is
// given.
func DefaultServer() ServerSettings { return ServerSettings{TLSVerify: true} }

// Validate checks the keys without reading files: tls on needs a certificate and its key.
func (s *ServerSettings) Validate() error {
	if s.TLS && (s.TLSCrtFile == "" || s.TLSKeyFile == "") {
		return config.KeyErrorf("tls", "tls on needs tls.crt_file and tls.key_file")
	}
	if err := checkPair(s.TLSCrtFile, s.TLSKeyFile); err != nil {
		return err
	}
	return s.tuning.validate()
}

// Config returns the tls.Config to serve with, reading the files (call it from Init), or
// nil when tls is off.
func (s *ServerSettings) Config() (*tls.Config, error) {
	if !s.TLS {
		return nil, nil
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(s.TLSCrtFile, s.TLSKeyFile)
	if err != nil {
		return nil, config.KeyErrorf("tls.crt_file", "load certificate and key: %v", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if s.TLSVerify && (s.TLSCAFile != "" || s.TLSCAPath != "") {
		pool, err := LoadCAs(s.TLSCAFile, s.TLSCAPath)
		if err != nil {
			return nil, err
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if err := s.tuning.apply(tc); err != nil {
		return nil, err
	}
	return tc, nil
}

func checkPair(crt, key string) error {
	switch {
	case crt == "" && key != "":
		return config.KeyErrorf("tls.key_file", "tls.key_file is set without tls.crt_file: they go together")
	case crt != "" && key == "":
		return config.KeyErrorf("tls.crt_file", "tls.crt_file is set without tls.key_file: they go together")
	}
	return nil
}

// LoadCAs reads the certificates of the tls.ca_file file and the tls.ca_path directory
// (either may be empty) into one pool; it returns nil when both are empty. Errors are
// configuration errors naming the key and the file.
func LoadCAs(file, dir string) (*x509.CertPool, error) {
	if file == "" && dir == "" {
		return nil, nil
	}
	pool := x509.NewCertPool()
	if file != "" {
		if err := appendFile(pool, file); err != nil {
			return nil, config.KeyErrorf("tls.ca_file", "%v", err)
		}
	}
	if dir != "" {
		if err := appendDir(pool, dir); err != nil {
			return nil, config.KeyErrorf("tls.ca_path", "%v", err)
		}
	}
	return pool, nil
}

// IsCAPathName reports whether a file of a tls.ca_path directory is read: an OpenSSL
// hash name (1a2b3c4d.0) or a name ending in .pem or .crt.
func IsCAPathName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	if ext == ".pem" || ext == ".crt" {
		return true
	}
	hash, n, ok := strings.Cut(name, ".")
	if !ok || len(hash) != 8 || n == "" {
		return false
	}
	for _, r := range hash {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	for _, r := range n {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func appendDir(pool *x509.CertPool, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err // names the directory
	}
	var names []string
	for _, e := range entries {
		if IsCAPathName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	found := 0
	for _, name := range names {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p) // follows links; a dangling one is an error
		if err != nil {
			return err
		}
		if fi.IsDir() {
			continue
		}
		if err := appendFile(pool, p); err != nil {
			return err
		}
		found++
	}
	if found == 0 {
		return fmt.Errorf("%s: no certificate file (looked for *.pem, *.crt and OpenSSL hash names such as 1a2b3c4d.0)", dir)
	}
	return nil
}

// appendFile adds every certificate of a PEM file, and fails on a file without one or
// with a CERTIFICATE block that does not parse (x509.CertPool.AppendCertsFromPEM would
// skip it silently).
func appendFile(pool *x509.CertPool, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err // names the file
	}
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("%s: certificate %d: %w", path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return errors.New(path + ": no PEM certificate in it (a DER file needs converting: openssl x509 -inform der -in FILE -out FILE.pem)")
	}
	return nil
}
