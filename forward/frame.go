package forward

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrTooLarge means a message is, or declares itself, larger than the decoder's MaxSize.
// The decoder says so as soon as a length or element count makes it certain, before
// reading (or allocating for) the rest.
var ErrTooLarge = errors.New("forward: message larger than buffer_max_size")

// maxFrameDepth bounds the nesting of a framed value. Entries are limited to 64 levels by
// package event; the message around them adds a few.
const maxFrameDepth = 80

// framer finds where one msgpack value ends in a buffer that fills up over several reads,
// without rescanning what it has seen: it keeps the open containers' remaining item counts
// and the part of a string, binary or extension payload still to come.
type framer struct {
	pos     int      // next byte to look at, from the message start
	skip    int      // payload bytes still to pass over
	stack   []uint32 // items left in each open container
	pending uint64   // sum of stack: the least number of bytes still to come
}

func (f *framer) reset() {
	f.pos, f.skip, f.pending = 0, 0, 0
	f.stack = f.stack[:0]
}

// scan goes on from where it stopped in buf (the message so far, starting at its first
// byte). It returns the value's length once the value is whole, 0 while more bytes are
// needed, or an error when the bytes are not msgpack or the value would pass max.
func (f *framer) scan(buf []byte, max int) (int, error) {
	for {
		if f.skip > 0 {
			avail := len(buf) - f.pos
			if avail < f.skip {
				f.pos += avail
				f.skip -= avail
				return 0, nil
			}
			f.pos += f.skip
			f.skip = 0
			if f.valueDone() {
				return f.pos, nil
			}
		}
		if f.pos >= len(buf) {
			return 0, nil
		}
		// Most values are scalars whose first byte gives their length (fixstr keys,
		// integers, floats, EventTimes). A run of them inside a container, whole in buf,
		// is passed with the counts in locals, written back once: the general path below
		// one value at a time, with the same size check.
		if d := len(f.stack); d > 0 {
			pos, left, pending := f.pos, f.stack[d-1], f.pending
			for pos < len(buf) {
				n := int(scalarLen[buf[pos]])
				if n == 0 || n > len(buf)-pos {
					break
				}
				if uint64(pos+n)+pending-uint64(d) > uint64(max) {
					f.pos, f.pending, f.stack[d-1] = pos, pending, left
					return 0, ErrTooLarge
				}
				pos += n
				pending--
				left--
				if left == 0 {
					break
				}
			}
			f.pos, f.pending, f.stack[d-1] = pos, pending, left
			if left == 0 {
				// The container is whole: a value of its parent.
				f.stack = f.stack[:d-1]
				if f.valueDone() {
					return f.pos, nil
				}
				continue
			}
			if f.pos >= len(buf) {
				return 0, nil
			}
		}
		hdr, payload, items, err := header(buf[f.pos:])
		if err != nil {
			return 0, err
		}
		if hdr == 0 { // header cut by the end of what was read
			return 0, nil
		}
		// The least the message can still take: this value and one byte for each item
		// the open containers still expect after it. Each level's count includes the open
		// container below it (or, innermost, this value): those are not bytes to come.
		rest := f.pending - uint64(len(f.stack))
		if uint64(f.pos)+uint64(hdr)+payload+items+rest > uint64(max) {
			return 0, ErrTooLarge
		}
		f.pos += hdr
		switch {
		case items > 0:
			if len(f.stack) >= maxFrameDepth {
				return 0, errors.New("forward: msgpack nested too deep")
			}
			f.stack = append(f.stack, uint32(items))
			f.pending += items
		case payload > 0:
			f.skip = int(payload)
		default:
			if f.valueDone() {
				return f.pos, nil
			}
		}
	}
}

// valueDone records that a value ended; it reports whether that completes the top value.
func (f *framer) valueDone() bool {
	for {
		n := len(f.stack)
		if n == 0 {
			return true
		}
		f.pending--
		f.stack[n-1]--
		if f.stack[n-1] > 0 {
			return false
		}
		f.stack = f.stack[:n-1] // the container is whole: a value of its parent
	}
}

// scalarLen is the whole length of a msgpack value from its first byte, for the values
// that first byte tells: nil, booleans, integers, floats, fixstr, fixext and the empty
// fixmap and fixarray; 0 for the others, which header decodes. It is built from header
// itself, so the two cannot disagree: given only the first byte, header reports a value
// with a length field as cut short (hdr 0).
var scalarLen = func() (t [256]uint8) {
	for c := range t {
		if hdr, payload, items, err := header([]byte{byte(c)}); err == nil && hdr == 1 && items == 0 {
			t[c] = uint8(1 + payload)
		}
	}
	return t
}()

// header decodes the msgpack header at b[0]: its length, the payload bytes that follow it
// (strings, binaries, extensions, fixed-size numbers) and the items a container holds (map
// keys and values both count). hdr is 0 when b is too short to hold the header.
func header(b []byte) (hdr int, payload, items uint64, err error) {
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		return 1, 0, 0, nil
	case c >= 0x80 && c <= 0x8f:
		return 1, 0, 2 * uint64(c&0x0f), nil
	case c >= 0x90 && c <= 0x9f:
		return 1, 0, uint64(c & 0x0f), nil
	case c >= 0xa0 && c <= 0xbf:
		return 1, uint64(c & 0x1f), 0, nil
	}
	var size int // bytes of the length field
	switch c {
	case 0xca:
		return 1, 4, 0, nil
	case 0xcb:
		return 1, 8, 0, nil
	case 0xcc, 0xd0:
		return 1, 1, 0, nil
	case 0xcd, 0xd1:
		return 1, 2, 0, nil
	case 0xce, 0xd2:
		return 1, 4, 0, nil
	case 0xcf, 0xd3:
		return 1, 8, 0, nil
	case 0xd4:
		return 1, 2, 0, nil
	case 0xd5:
		return 1, 3, 0, nil
	case 0xd6:
		return 1, 5, 0, nil
	case 0xd7:
		return 1, 9, 0, nil
	case 0xd8:
		return 1, 17, 0, nil
	case 0xc4, 0xd9, 0xc7, 0xdc, 0xde:
		size = 1
	case 0xc5, 0xda, 0xc8:
		size = 2
	case 0xc6, 0xdb, 0xc9:
		size = 4
	case 0xdd, 0xdf:
		size = 4
	default: // 0xc1
		return 0, 0, 0, fmt.Errorf("forward: invalid msgpack byte 0x%02x", c)
	}
	if c == 0xdc || c == 0xde {
		size = 2
	}
	if len(b) < 1+size {
		return 0, 0, 0, nil
	}
	var n uint64
	switch size {
	case 1:
		n = uint64(b[1])
	case 2:
		n = uint64(binary.BigEndian.Uint16(b[1:]))
	case 4:
		n = uint64(binary.BigEndian.Uint32(b[1:]))
	}
	switch c {
	case 0xc7, 0xc8, 0xc9: // ext: the type byte follows the length
		return 1 + size, n + 1, 0, nil
	case 0xdc, 0xdd:
		return 1 + size, 0, n, nil
	case 0xde, 0xdf:
		return 1 + size, 0, 2 * n, nil
	}
	return 1 + size, n, 0, nil
}

// Limits bound what a Decoder holds for one connection.
type Limits struct {
	// ChunkSize is the most the read buffer grows by at a time (Fluent Bit's
	// buffer_chunk_size); it starts at BaseSize and doubles up to that step. Default
	// DefaultChunkSize.
	ChunkSize int
	// MaxSize is the largest message accepted, as it is on the wire (buffer_max_size).
	// Default DefaultMaxSize.
	MaxSize int
	// MaxDecompressed bounds a CompressedPackedForward message's entries once
	// decompressed. Default 8 × MaxSize.
	MaxDecompressed int
	// BatchBytes, when above 0, makes Next split a message's entries into Batches of at
	// most this many bytes (an entry larger than that is a batch of its own).
	BatchBytes int
	// Stream leaves a CompressedPackedForward message compressed: Next returns it with
	// no Entries and the caller inflates it piece by piece with Message.Inflate, so it is
	// never whole in memory.
	Stream bool
	// Reserve, when set, is asked for n more bytes before the decoder grows a buffer past
	// BaseSize (the read buffer for a large message, the inflate window for a large
	// entry), held being what that buffer holds already; an error refuses the message.
	// Release gives the bytes back when the buffer shrinks again. Both go together (a
	// memory budget: membudget.Budget).
	Reserve func(n, held int) error
	Release func(n int)
}

// BaseSize is what a decoder's buffers hold without asking Limits.Reserve: the read
// buffer starts at it (or ChunkSize, if smaller), and shrinks back to it once a larger
// message is done.
const BaseSize = 64 << 10

// Fluent Bit's in_forward defaults.
const (
	DefaultChunkSize = 1024000
	DefaultMaxSize   = 6144000
)

func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.ChunkSize <= 0 {
		l.ChunkSize = DefaultChunkSize
	}
	l.ChunkSize = min(l.ChunkSize, l.MaxSize)
	if l.MaxDecompressed <= 0 {
		l.MaxDecompressed = 8 * min(l.MaxSize, math.MaxInt/8) // no overflow on 32-bit
	}
	return l
}

// Decoder reads forward-protocol messages from a stream (a connection). Its buffer grows
// by ChunkSize as a message needs it and never past MaxSize. It is not safe for
// concurrent use.
type Decoder struct {
	r        io.Reader
	lim      Limits
	buf      []byte
	reserved int // bytes of buf above BaseSize, reserved through lim.Reserve
	start    int // first byte of the current (unread) message
	end      int // end of the bytes read
	f        framer
	msg      Message
	dec      decodeState
}

// NewDecoder returns a Decoder reading from r with lim (zero fields take their defaults).
func NewDecoder(r io.Reader, lim Limits) *Decoder {
	return &Decoder{r: r, lim: lim.withDefaults()}
}

// Limits returns the decoder's limits, defaults filled in.
func (d *Decoder) Limits() Limits { return d.lim }

// Buffered returns how many bytes have been read past the last value returned.
func (d *Decoder) Buffered() int { return d.end - d.start }

// ReadRaw returns the next whole msgpack value as it came on the wire. The bytes are the
// decoder's: they are valid until the next call. At the end of the stream it returns
// io.EOF when no byte of a next value was read, io.ErrUnexpectedEOF otherwise.
func (d *Decoder) ReadRaw() ([]byte, error) {
	d.f.reset()
	if d.start == d.end && d.reserved > 0 {
		// A large message is done: let its buffer go.
		d.buf, d.start, d.end = nil, 0, 0
		d.lim.Release(d.reserved)
		d.reserved = 0
	}
	for {
		n, err := d.f.scan(d.buf[d.start:d.end], d.lim.MaxSize)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			v := d.buf[d.start : d.start+n : d.start+n]
			d.start += n
			return v, nil
		}
		if err := d.fill(); err != nil {
			if errors.Is(err, io.EOF) && d.end > d.start {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// fill reads more bytes, first moving the current message to the front of the buffer and
// growing it by ChunkSize when it is full.
func (d *Decoder) fill() error {
	if d.start > 0 && (d.end == len(d.buf) || d.start == d.end) {
		n := copy(d.buf, d.buf[d.start:d.end])
		d.start, d.end = 0, n
	}
	if d.end == len(d.buf) {
		// Most messages are small: start at BaseSize and double, by ChunkSize at most.
		size := min(max(2*len(d.buf), BaseSize), len(d.buf)+d.lim.ChunkSize, d.lim.MaxSize)
		if size <= len(d.buf) {
			return ErrTooLarge
		}
		if more := size - BaseSize - d.reserved; more > 0 && d.lim.Reserve != nil {
			if err := d.lim.Reserve(more, d.reserved); err != nil {
				return fmt.Errorf("%w: %d bytes of read buffer: %w", ErrNoMemory, size, err)
			}
			d.reserved += more
		}
		nb := make([]byte, size)
		copy(nb, d.buf[d.start:d.end])
		d.end -= d.start
		d.start = 0
		d.buf = nb
	}
	for i := 0; i < 100; i++ {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// ErrNoMemory means a message could not be read or inflated within the memory budget
// (Limits.Reserve refused a buffer).
var ErrNoMemory = errors.New("forward: no memory for the message")

// Close gives back what the decoder reserved (Limits.Release) and drops its buffers.
func (d *Decoder) Close() {
	d.buf, d.start, d.end = nil, 0, 0
	if d.reserved > 0 {
		d.lim.Release(d.reserved)
		d.reserved = 0
	}
	d.dec.zbuf = nil
}

// Next reads and decodes the next event message, passing over heartbeats (a msgpack nil).
// The Message and the slices in it are valid until the next call. A message that is not
// msgpack, passes the limits or is not a forward message ends the stream: the error says
// why, and the connection should be closed. Entries that are whole msgpack but not valid
// entries are left out and counted in Message.Dropped; the rest of the message is kept.
func (d *Decoder) Next() (*Message, error) {
	for {
		raw, err := d.ReadRaw()
		if err != nil {
			return nil, err
		}
		if len(raw) == 1 && raw[0] == 0xc0 {
			continue // heartbeat
		}
		if err := d.dec.decode(raw, &d.msg, d.lim); err != nil {
			return nil, err
		}
		return &d.msg, nil
	}
}
