package sensors

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseW1Slave: whatever a flaky 1-Wire bus leaves in w1_slave, the parser returns a
// value or an error, never panics, and never accepts a scratchpad whose CRC is wrong.
func FuzzParseW1Slave(f *testing.F) {
	for _, p := range []string{
		"testdata/rpi4/sys/devices/w1_bus_master1/28-0316a27953ff/w1_slave",
		"testdata/rpi4/sys/devices/w1_bus_master1/28-3c01d607d1a4/w1_slave",
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("ff ff ff ff ff ff ff ff ff : crc=ff YES\nff ff ff ff ff ff ff ff ff t=-62\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseW1Slave(b); err != nil {
			return
		}
		// Accepted: the first line's nine bytes must check out.
		first, _, _ := strings.Cut(string(b), "\n")
		hexPart, _, _ := strings.Cut(first, ":")
		var pad []byte
		for _, f := range strings.Fields(hexPart) {
			v, err := strconv.ParseUint(f, 16, 8)
			if err != nil {
				t.Fatalf("accepted a non-hex byte %q: %q", f, b)
			}
			pad = append(pad, byte(v))
		}
		if len(pad) != 9 || crc8(pad[:8]) != pad[8] {
			t.Fatalf("accepted a scratchpad with a bad CRC or length: %q", b)
		}
	})
}
