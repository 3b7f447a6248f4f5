package embedhttp

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestKeepAliveContentLength(t *testing.T) {
	s := start(t, &Server{})
	c := dial(t, s)
	for i := 0; i < 3; i++ {
		c.send(post("/api/"+string(rune('a'+i)), "hello"))
		resp, body := c.read("POST")
		if resp.StatusCode != 200 || body != "POST /api/"+string(rune('a'+i))+" 5\nhello" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if resp.Close {
			t.Fatalf("request %d: server closed a keep-alive connection", i)
		}
		if resp.Header.Get("Date") == "" {
			t.Fatal("no Date header")
		}
	}
}

func TestNetHTTPClient(t *testing.T) {
	s := start(t, &Server{})
	resp, err := http.Post("http://"+s.ListenAddr().String()+"/x?y=1", "text/plain", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST /x 3\nabc" {
		t.Fatalf("body %q", b)
	}
}
