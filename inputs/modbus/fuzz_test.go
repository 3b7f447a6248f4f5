package modbus

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"testing"
	"time"
)

// byteConn is a conn whose reads come from a fixed buffer: a device answering r.
type byteConn struct {
	r *bytes.Reader
	w bytes.Buffer
}

func (c *byteConn) Read(b []byte) (int, error) {
	if c.r.Len() == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	return c.r.Read(b)
}
func (c *byteConn) Write(b []byte) (int, error)     { return c.w.Write(b) }
func (c *byteConn) Close() error                    { return nil }
func (c *byteConn) SetReadDeadline(time.Time) error { return nil }

var _ io.ReadWriteCloser = (*byteConn)(nil)

// FuzzDecodeResponse feeds arbitrary bytes to the response path of both framings — what a
// broken or hostile device or gateway could send — and decodes whatever gets through into
// every point type: nothing may panic, and accepted data must have the length asked for.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(byte(3), uint16(2), []byte{0, 1, 0, 0, 0, 7, 1, 3, 4, 0x43, 0x66, 0x80, 0})
	f.Add(byte(1), uint16(9), []byte{0, 1, 0, 0, 0, 5, 1, 1, 2, 0xff, 1})
	f.Add(byte(4), uint16(1), []byte{0, 1, 0, 0, 0, 3, 1, 0x84, 2})
	f.Add(byte(3), uint16(1), []byte{1, 3, 2, 0, 0x2a, 0x38, 0x5b})
	f.Add(byte(3), uint16(1), []byte{1, 0x83, 2, 0xc0, 0xf1})
	f.Fuzz(func(t *testing.T, fc byte, count uint16, resp []byte) {
		fc = fc%4 + 1
		count = count%2000 + 1
		for _, tr := range []transport{
			&tcpTransport{c: &byteConn{r: bytes.NewReader(resp)}},
			&rtuTransport{c: &byteConn{r: bytes.NewReader(resp)}},
		} {
			pdu, err := tr.roundTrip(1, readRequest(fc, 0, count), time.Time{})
			if err != nil {
				continue
			}
			data, err := DecodeResponse(fc, count, pdu)
			if err != nil {
				continue
			}
			bits := fc <= fcReadDiscreteInputs
			if want := 2 * int(count); !bits && len(data) != want {
				t.Fatalf("accepted %d data bytes for %d registers", len(data), count)
			}
			if want := (int(count) + 7) / 8; bits && len(data) != want {
				t.Fatalf("accepted %d data bytes for %d bits", len(data), count)
			}
			if bits {
				p := Point{table: tables["coil"], typ: types["bool"]}
				p.decode(data, int(count)-1)
				continue
			}
			for name, vt := range types {
				if vt.name == "bool" {
					continue
				}
				p := Point{table: tables["holding_register"], typ: vt, Length: int(count), Scale: 1, swapBytes: count%2 == 0, swapWords: count%3 == 0}
				if p.count() <= int(count) {
					p.decode(data[:2*p.count()], 0)
				}
				_ = name
			}
		}
		// DecodeResponse alone, on the raw bytes.
		DecodeResponse(fc, count, resp)
		_ = binary.BigEndian
	})
}
