package kmsg

import (
	"bytes"
	"fmt"
	"testing"
)

// FuzzParseLine: any line is a message or an error, never a panic; a message printed
// back in the kernel's form parses to the same message.
func FuzzParseLine(f *testing.F) {
	f.Add([]byte("6,1,0,-;Command line: console=ttyS0\n"))
	f.Add([]byte("30,9000,52000123456,-,caller=T1;systemd[1]: Started.\n"))
	f.Add([]byte("3,9001,1,c;a;b\n"))
	f.Add([]byte(";\n"))
	f.Add([]byte("99999999999999999999,1,1,-;x"))
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := parseLine(line)
		if err != nil {
			return
		}
		if m.prio < 0 || m.prio > 7 {
			t.Fatalf("priority %d out of 0-7", m.prio)
		}
		again, err := parseLine(fmt.Appendf(nil, "%d,%d,%d,-;%s\n", m.prio, m.seq, m.usec, m.msg))
		if err != nil || again.prio != m.prio || again.seq != m.seq || again.usec != m.usec || !bytes.Equal(again.msg, m.msg) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, m)
		}
	})
}
