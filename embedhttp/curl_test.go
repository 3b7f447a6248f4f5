package embedhttp

import (
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/internal/testcert"
)

// curl is a real, independent HTTP client: the server must work with what it sends
// (Expect: 100-continue on big bodies, chunked uploads, basic auth, TLS, several
// requests on one connection).
func curl(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (Debian package curl)")
	}
	out, err := exec.Command(path, append([]string{"-sS", "--max-time", "20"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestCurlInterop(t *testing.T) {
	s := start(t, &Server{MaxBodyBytes: 8 << 20, BasicAuth: &BasicAuth{Users: map[string]string{"u": "p"}}})
	url := "http://" + s.ListenAddr().String()
	dir := t.TempDir()

	if got := curl(t, "-u", "u:p", "-H", "Content-Type: application/json", "-d", `{"a":1}`, url+"/json"); got != "POST /json 7\n{\"a\":1}" {
		t.Errorf("JSON post: %q", got)
	}
	if got := curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-d", "x", url+"/"); got != "401" {
		t.Errorf("no credentials: %q", got)
	}
	// Two URLs, one connection: curl reuses it ("Re-using existing connection").
	verbose := curl(t, "-v", "-u", "u:p", url+"/a", url+"/b")
	if !strings.Contains(verbose, "GET /a 0") || !strings.Contains(verbose, "GET /b 0") || !strings.Contains(strings.ToLower(verbose), "re-using existing connection") {
		t.Errorf("keep-alive with curl:\n%s", verbose)
	}
	// curl --http2 on cleartext asks to upgrade to h2c; we stay on HTTP/1.1.
	if got := curl(t, "--http2", "-u", "u:p", url+"/h2c"); got != "GET /h2c 0\n" {
		t.Errorf("h2c upgrade request: %q", got)
	}
	// A 2 MiB body: curl sends Expect: 100-continue and waits for our 100.
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("0123456789abcdef", 2<<16)), 0o600); err != nil {
		t.Fatal(err)
	}
	verbose = curl(t, "-v", "-u", "u:p", "--data-binary", "@"+big, url+"/big")
	if !strings.Contains(verbose, "HTTP/1.1 100 Continue") || !strings.Contains(verbose, "POST /big 2097152") {
		t.Errorf("100-continue with curl: %.600s", verbose)
	}
	// Chunked upload from stdin.
	cmdOut := curl(t, "-u", "u:p", "-H", "Transfer-Encoding: chunked", "--data-binary", "@"+big, url+"/chunked")
	if !strings.HasPrefix(cmdOut, "POST /chunked 2097152\n") {
		t.Errorf("chunked with curl: %.80q", cmdOut)
	}
}

func TestCurlTLS(t *testing.T) {
	cfg := testcert.New(t).ServerConfig()
	cfg.NextProtos = []string{"h2", "http/1.1"} // as a config shared with net/http would
	s := start(t, &Server{TLSConfig: cfg})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cfg.Certificates[0].Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := curl(t, "--cacert", ca, "-d", "tls", "https://"+s.ListenAddr().String()+"/t"); got != "POST /t 3\ntls" {
		t.Errorf("TLS with curl: %q", got)
	}
}
