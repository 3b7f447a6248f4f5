package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/config"
)

// Fluent Bit's tls.min_version, tls.max_version and tls.ciphers, mapped to crypto/tls:
//
//   - versions are written TLSv1.2 (also 1.2, TLS1.2; TLSv1, TLSv1.1 and TLSv1.3 alike).
//     Without tls.min_version the least is TLS 1.2 (Fluent Bit: OpenSSL's default).
//   - tls.ciphers is an OpenSSL cipher list (colon, comma or space separated). Suite names
//     are taken in OpenSSL's spelling (ECDHE-RSA-AES128-GCM-SHA256) or the IANA one Go
//     uses (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); they set the TLS 1.2 suites, in that
//     order. TLS 1.3 suite names (TLS_AES_128_GCM_SHA256) are accepted, but Go chooses the
//     TLS 1.3 suites itself. OpenSSL's keywords and operators (HIGH, !aNULL, @STRENGTH, ...)
//     are skipped: a list made only of them keeps Go's default suites. A name that is
//     neither a known suite nor a keyword is an error naming it.

// versionOf reads a version name; 0 for "".
func versionOf(key, v string) (uint16, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "tlsv"), "tls")
	s = strings.TrimPrefix(s, "v")
	switch s {
	case "":
		return 0, nil
	case "1", "1.0":
		return tls.VersionTLS10, nil
	case "1.1":
		return tls.VersionTLS11, nil
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, config.KeyErrorf(key, "%q: want TLSv1.1, TLSv1.2 or TLSv1.3", v)
}

// openSSLNames maps OpenSSL's names of the TLS 1.2 suites Go has to Go's (IANA) names.
var openSSLNames = map[string]string{
	"ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	"ECDHE-RSA-AES128-GCM-SHA256":   "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	"ECDHE-RSA-AES256-GCM-SHA384":   "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	"ECDHE-RSA-CHACHA20-POLY1305":   "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	"ECDHE-ECDSA-AES128-SHA256":     "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
	"ECDHE-RSA-AES128-SHA256":       "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
	"ECDHE-ECDSA-AES128-SHA":        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
	"ECDHE-RSA-AES128-SHA":          "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
	"ECDHE-ECDSA-AES256-SHA":        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
	"ECDHE-RSA-AES256-SHA":          "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
	"AES128-GCM-SHA256":             "TLS_RSA_WITH_AES_128_GCM_SHA256",
	"AES256-GCM-SHA384":             "TLS_RSA_WITH_AES_256_GCM_SHA384",
	"AES128-SHA256":                 "TLS_RSA_WITH_AES_128_CBC_SHA256",
	"AES128-SHA":                    "TLS_RSA_WITH_AES_128_CBC_SHA",
	"AES256-SHA":                    "TLS_RSA_WITH_AES_256_CBC_SHA",
	"ECDHE-RSA-DES-CBC3-SHA":        "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
	"DES-CBC3-SHA":                  "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
}

// tls13Names are TLS 1.3 suites: accepted, chosen by Go.
var tls13Names = map[string]bool{
	"TLS_AES_128_GCM_SHA256": true, "TLS_AES_256_GCM_SHA384": true, "TLS_CHACHA20_POLY1305_SHA256": true,
	"TLS_AES_128_CCM_SHA256": true, "TLS_AES_128_CCM_8_SHA256": true,
}

// isOpenSSLKeyword reports a cipher list word that is not a suite name: an operator
// (!x, +x, -x, @STRENGTH) or a family keyword (HIGH, aNULL, kEECDH, DEFAULT, ...).
func isOpenSSLKeyword(w string) bool {
	if w == "" || strings.ContainsAny(w[:1], "!+-@") {
		return true
	}
	// Suite names hold a dash or an underscore; keywords never do.
	return !strings.ContainsAny(w, "-_")
}

// ciphersOf reads a tls.ciphers list into Go suite IDs; nil keeps Go's defaults.
func ciphersOf(list string) ([]uint16, error) {
	byName := map[string]uint16{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		byName[cs.Name] = cs.ID
	}
	var ids []uint16
	for _, w := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' || r == '\t' }) {
		switch {
		case isOpenSSLKeyword(w), tls13Names[strings.ToUpper(w)]:
			continue
		}
		name := strings.ToUpper(w)
		if n, ok := openSSLNames[name]; ok {
			name = n
		}
		id, ok := byName[name]
		if !ok {
			return nil, config.KeyErrorf("tls.ciphers", "unknown cipher suite %q (write OpenSSL or IANA names, e.g. ECDHE-RSA-AES128-GCM-SHA256)", w)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// OptionalBool is a bool key whose absence is told apart from off: its zero value is unset.
type OptionalBool struct {
	set, v bool
}

// UnmarshalConf reads on/off, true/false, yes/no.
func (b *OptionalBool) UnmarshalConf(s string) error {
	v, err := config.ParseBool(s)
	if err != nil {
		return err
	}
	b.set, b.v = true, v
	return nil
}

// Or returns the value, or def when the key was not given.
func (b OptionalBool) Or(def bool) bool {
	if !b.set {
		return def
	}
	return b.v
}

// tuning is the keys both sides share.
type tuning struct {
	MinVersion string `conf:"tls.min_version"`
	MaxVersion string `conf:"tls.max_version"`
	Ciphers    string `conf:"tls.ciphers"`
}

func (t *tuning) validate() error {
	lo, err := versionOf("tls.min_version", t.MinVersion)
	if err != nil {
		return err
	}
	hi, err := versionOf("tls.max_version", t.MaxVersion)
	if err != nil {
		return err
	}
	if lo != 0 && hi != 0 && hi < lo {
		return config.KeyErrorf("tls.max_version", "%s is below tls.min_version %s", t.MaxVersion, t.MinVersion)
	}
	_, err = ciphersOf(t.Ciphers)
	return err
}

// apply sets the versions and suites on tc.
func (t *tuning) apply(tc *tls.Config) error {
	if err := t.validate(); err != nil {
		return err
	}
	lo, _ := versionOf("", t.MinVersion)
	hi, _ := versionOf("", t.MaxVersion)
	if lo != 0 {
		tc.MinVersion = lo
	}
	if hi != 0 {
		tc.MaxVersion = hi
		if tc.MinVersion > hi {
			tc.MinVersion = hi
		}
	}
	ids, _ := ciphersOf(t.Ciphers)
	tc.CipherSuites = ids
	return nil
}

// verifyChainOnly makes tc check the server's certificate chain against its roots but not
// its name (tls.verify_hostname off, as Fluent Bit by default).
func verifyChainOnly(tc *tls.Config) {
	roots := tc.RootCAs
	tc.InsecureSkipVerify = true //nolint:gosec // the chain is verified below
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: the server sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
			return fmt.Errorf("tls: verify the server's certificate: %w", err)
		}
		return nil
	}
}
