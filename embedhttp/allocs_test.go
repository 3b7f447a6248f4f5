package embedhttp

import (
	"strings"
	"testing"
)

// TestHotPathAllocatesNothing guards the zero-allocation claim: a keep-alive
// connection serving 1000 small POSTs (and a chunked one) costs no allocation per
// request; what a run allocates is the test's own memConn.
func TestHotPathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	s := memServer(t, &Server{Handler: ourPOST})
	chunked := []byte("POST /app.log HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"1d\r\n{\"message\":\"dummy\",\"level\":\"i\r\n11\r\nnfo\",\"temp\":21.5}\r\n0\r\n\r\n")
	for _, req := range [][]byte{smallPOST, chunked} {
		s.serveMem(&memConn{repeat: req, n: 10, discard: true}) // warm the pools
		m := &memConn{}
		allocs := testing.AllocsPerRun(20, func() {
			*m = memConn{repeat: req, n: 1000, discard: true}
			s.serveMem(m)
		})
		if allocs > 1 {
			t.Errorf("%.40q: %.1f allocations per 1000 requests, want none", req, allocs)
		}
	}
	if st := s.Stats(); st.BadRequests != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestResponseHeadersAllocateNothing(t *testing.T) {
	var w Response
	w.reset()
	long := []byte(strings.Repeat("v", 100))
	w.AddHeaderBytes("X-Long", long) // grow the buffer once
	allocs := testing.AllocsPerRun(100, func() {
		w.reset()
		w.AddHeader("Content-Type", "application/json")
		w.AddHeaderBytes("X-Long", long)
		w.AddHeaderInt("X-Count", 12345)
		w.WriteString("ok")
	})
	if allocs != 0 && !raceEnabled {
		t.Errorf("%.1f allocations per response", allocs)
	}
}
