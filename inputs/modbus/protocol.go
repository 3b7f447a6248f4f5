package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Function codes of the reads this input makes.
const (
	fcReadCoils            = 0x01
	fcReadDiscreteInputs   = 0x02
	fcReadHoldingRegisters = 0x03
	fcReadInputRegisters   = 0x04
)

// Protocol limits of one read (Modbus Application Protocol v1.1b3, 6.1 to 6.4).
const (
	maxReadBits      = 2000
	maxReadRegisters = 125
)

// ExceptionError is a Modbus exception response: the device understood the request and
// refused it.
type ExceptionError struct {
	Function byte // the request's function code
	Code     byte
}

var exceptionNames = map[byte]string{
	1: "illegal function", 2: "illegal data address", 3: "illegal data value",
	4: "server device failure", 5: "acknowledge", 6: "server device busy",
	8: "memory parity error", 0x0a: "gateway path unavailable",
	0x0b: "gateway target device failed to respond",
}

func (e *ExceptionError) Error() string {
	if n, ok := exceptionNames[e.Code]; ok {
		return fmt.Sprintf("exception %d (%s)", e.Code, n)
	}
	return fmt.Sprintf("exception %d", e.Code)
}

// errTimeout is returned when no (complete) response arrived in time.
var errTimeout = errors.New("timeout: no response")

// readRequest is the PDU of a read: function code, start address, quantity.
func readRequest(fc byte, addr, count uint16) []byte {
	return []byte{fc, byte(addr >> 8), byte(addr), byte(count >> 8), byte(count)}
}

// DecodeResponse checks the response PDU (function code and data, no framing) to a read
// of count bits or registers with function fc, and returns its data bytes: 2 per register,
// or the bits packed LSB first. An exception response is an *ExceptionError. It never
// panics, whatever pdu holds.
func DecodeResponse(fc byte, count uint16, pdu []byte) ([]byte, error) {
	if len(pdu) == 0 {
		return nil, errors.New("empty response")
	}
	if pdu[0] == fc|0x80 {
		if len(pdu) != 2 {
			return nil, fmt.Errorf("exception response of %d bytes, want 2", len(pdu))
		}
		return nil, &ExceptionError{Function: fc, Code: pdu[1]}
	}
	if pdu[0] != fc {
		return nil, fmt.Errorf("response function code 0x%02x to a request 0x%02x", pdu[0], fc)
	}
	if len(pdu) < 2 {
		return nil, errors.New("response without a byte count")
	}
	var want int
	switch fc {
	case fcReadCoils, fcReadDiscreteInputs:
		want = (int(count) + 7) / 8
	case fcReadHoldingRegisters, fcReadInputRegisters:
		want = 2 * int(count)
	default:
		return nil, fmt.Errorf("function code 0x%02x is not a read", fc)
	}
	if int(pdu[1]) != want || len(pdu) != 2+want {
		return nil, fmt.Errorf("response byte count %d with %d data bytes, want %d for %d items", pdu[1], len(pdu)-2, want, count)
	}
	return pdu[2:], nil
}

// conn is a byte stream with read deadlines: a TCP connection or a serial port.
type conn interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
}

// transport sends a request PDU to a unit and returns the response PDU.
type transport interface {
	roundTrip(unit byte, pdu []byte, deadline time.Time) ([]byte, error)
	Close() error
}

// tcpTransport is Modbus TCP: an MBAP header before each PDU.
type tcpTransport struct {
	c    conn
	txid uint16
	buf  []byte
}

func (t *tcpTransport) Close() error { return t.c.Close() }

func (t *tcpTransport) roundTrip(unit byte, pdu []byte, deadline time.Time) ([]byte, error) {
	t.txid++
	req := make([]byte, 7, 7+len(pdu))
	binary.BigEndian.PutUint16(req[0:], t.txid)
	binary.BigEndian.PutUint16(req[4:], uint16(1+len(pdu)))
	req[6] = unit
	req = append(req, pdu...)
	if _, err := t.c.Write(req); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	if err := t.c.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	for {
		// A response to an earlier request that timed out may come first: skip it.
		frame, err := readMBAP(t.c, &t.buf)
		if err != nil {
			return nil, err
		}
		if txid := binary.BigEndian.Uint16(frame[0:]); txid != t.txid {
			continue
		}
		if frame[6] != unit {
			return nil, fmt.Errorf("response from unit %d to a request to unit %d", frame[6], unit)
		}
		return frame[7:], nil
	}
}

// readMBAP reads one MBAP frame (header included) into *buf.
func readMBAP(r io.Reader, buf *[]byte) ([]byte, error) {
	if cap(*buf) < 7+254 {
		*buf = make([]byte, 7+254)
	}
	b := (*buf)[:7]
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, readErr(err)
	}
	if proto := binary.BigEndian.Uint16(b[2:]); proto != 0 {
		return nil, fmt.Errorf("MBAP protocol id %d, want 0: not a Modbus TCP peer", proto)
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	if n < 2 || n > 254 {
		return nil, fmt.Errorf("MBAP length %d out of range 2..254", n)
	}
	b = (*buf)[:6+n]
	if _, err := io.ReadFull(r, b[7:]); err != nil {
		return nil, readErr(err)
	}
	return b, nil
}

func readErr(err error) error {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return errTimeout
	}
	return fmt.Errorf("read: %w", err)
}

// rtuTransport is Modbus RTU: unit, PDU and CRC-16, over a serial line or a TCP stream (RTU
// over TCP, as serial-to-Ethernet converters speak it).
type rtuTransport struct {
	c conn
	// silence is the idle time that separates frames: 3.5 characters at the line's rate
	// (1.75 ms above 19200 bit/s); 0 on TCP.
	silence time.Duration
	last    time.Time
	buf     [3 + 255 + 2]byte // the longest frame a byte count can announce
}

func (t *rtuTransport) Close() error { return t.c.Close() }

func (t *rtuTransport) roundTrip(unit byte, pdu []byte, deadline time.Time) ([]byte, error) {
	req := make([]byte, 0, len(pdu)+3)
	req = append(req, unit)
	req = append(req, pdu...)
	req = binary.LittleEndian.AppendUint16(req, crc16(req))
	if wait := time.Until(t.last.Add(t.silence)); wait > 0 {
		time.Sleep(wait)
	}
	if _, err := t.c.Write(req); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	resp, err := t.readFrame(pdu[0], deadline)
	t.last = time.Now()
	if err != nil {
		// Whatever is left of a bad or late frame would be read as the next response:
		// drop it.
		t.drain()
		return nil, err
	}
	if resp[0] != unit {
		return nil, fmt.Errorf("response from unit %d to a request to unit %d", resp[0], unit)
	}
	return resp[1 : len(resp)-2], nil
}

// readFrame reads one RTU response frame to function fc: its length follows from the
// function code (an exception is 5 bytes) and the byte count.
func (t *rtuTransport) readFrame(fc byte, deadline time.Time) ([]byte, error) {
	if err := t.c.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	b := t.buf[:]
	if err := t.readN(b[:3]); err != nil {
		return nil, err
	}
	var n int
	switch {
	case b[1] == fc|0x80:
		n = 5
	case b[1] == fc && fc <= fcReadInputRegisters:
		if b[2] > 2*maxReadRegisters {
			return nil, fmt.Errorf("response byte count %d, more than a read can return", b[2])
		}
		n = 3 + int(b[2]) + 2
	default:
		return nil, fmt.Errorf("response function code 0x%02x to a request 0x%02x", b[1], fc)
	}
	if err := t.readN(b[3:n]); err != nil {
		return nil, err
	}
	if got, want := binary.LittleEndian.Uint16(b[n-2:]), crc16(b[:n-2]); got != want {
		return nil, fmt.Errorf("CRC %04x, want %04x", got, want)
	}
	return b[:n], nil
}

func (t *rtuTransport) readN(b []byte) error {
	for len(b) > 0 {
		n, err := t.c.Read(b)
		if err != nil {
			return readErr(err)
		}
		if n == 0 { // a serial port's read timeout
			return errTimeout
		}
		b = b[n:]
	}
	return nil
}

// drain reads and drops what arrives until the line is quiet.
func (t *rtuTransport) drain() {
	var junk [256]byte
	for range 64 {
		if t.c.SetReadDeadline(time.Now().Add(max(t.silence, 20*time.Millisecond))) != nil {
			return
		}
		if n, err := t.c.Read(junk[:]); n == 0 || err != nil {
			return
		}
	}
}

// crc16 is Modbus RTU's CRC (polynomial 0xA001 reflected, initial 0xFFFF).
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// rtuSilence is the inter-frame gap at bitrate: 3.5 characters of 11 bits, or 1.75 ms
// above 19200 bit/s as the serial line specification says.
func rtuSilence(bitrate int) time.Duration {
	if bitrate <= 0 || bitrate > 19200 {
		return 1750 * time.Microsecond
	}
	return time.Duration(float64(time.Second) * 3.5 * 11 / float64(bitrate))
}
