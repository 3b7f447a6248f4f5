package forward

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/tinylib/msgp/msgp"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// Mode is the way a message carries its entries (the spec's "carrier mode").
type Mode int

// The four modes of the Forward Protocol Specification v1.
const (
	ModeMessage                 Mode = iota // [tag, time, record, option?]
	ModeForward                             // [tag, [[time, record], ...], option?]
	ModePackedForward                       // [tag, bin/str of entries, option?]
	ModeCompressedPackedForward             // PackedForward, gzipped, option compressed: "gzip"
)

func (m Mode) String() string {
	switch m {
	case ModeMessage:
		return "Message"
	case ModeForward:
		return "Forward"
	case ModePackedForward:
		return "PackedForward"
	case ModeCompressedPackedForward:
		return "CompressedPackedForward"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options is a message's option map. Keys the spec does not define are ignored when
// decoding, except Fluent Bit's fluent_signal.
type Options struct {
	Size       int    // number of entries; 0: not given
	Chunk      string // the chunk id the client wants acknowledged; "": no ack wanted
	Compressed string // "gzip", or "" ("text" decodes as "")
	// Signal is Fluent Bit's fluent_signal: 0 logs, 1 metrics, 2 traces. Only logs are
	// entries; a decoder rejects other signals.
	Signal int
}

// Batch is a run of whole entries of a message, at most Limits.BatchBytes long unless a
// single entry is larger.
type Batch struct {
	Entries []byte
	Count   int
}

// Message is one decoded event message. Entries holds the valid entries concatenated, in
// the form chunks hold them ([time, record] or [[time, metadata], record], each exactly as
// the client encoded it), so they can be buffered and sent on without re-encoding.
type Message struct {
	Mode    Mode
	Tag     string
	Entries []byte
	Count   int
	Options Options
	// Dropped counts entries left out because they were not valid entries (a bad time, a
	// record that is not a map); DropErr is the first such fault.
	Dropped int
	DropErr error
	// Batches splits Entries when the decoder's Limits.BatchBytes is set.
	Batches []Batch

	// A CompressedPackedForward message decoded with Limits.Stream: the gzip payload
	// Inflate reads (valid until the next Next).
	gz  []byte
	st  *decodeState
	lim Limits
}

// decodeState holds the buffers a decoder reuses from message to message.
type decodeState struct {
	scratch []byte // Message mode: the entry built from time and record
	lastTag string // clients send one tag again and again: keep its string
	sk      framer // for skipping values
	zbuf    []byte // decompressed entries
	zr      *gzip.Reader
	br      bytes.Reader
}

// DecodeMessage decodes one whole message (a msgpack array as it came on the wire) with
// lim's MaxDecompressed and BatchBytes. It works on a copy of raw, which it leaves as it
// is. (The Decoder decodes in its own buffer, rewriting it where that saves a copy.)
func DecodeMessage(raw []byte, lim Limits) (*Message, error) {
	raw = append([]byte(nil), raw...)
	var st decodeState
	m := new(Message)
	if err := st.decode(raw, m, lim.withDefaults()); err != nil {
		return nil, err
	}
	return m, nil
}

func (st *decodeState) decode(raw []byte, m *Message, lim Limits) error {
	*m = Message{Batches: m.Batches[:0]}
	n, b, err := msgp.ReadArrayHeaderBytes(raw)
	if err != nil {
		return fmt.Errorf("forward: message is not an array: %w", err)
	}
	if n < 2 || n > 4 {
		return fmt.Errorf("forward: message is an array of %d, want 2 to 4", n)
	}
	tagb, b, err := readBytesZC(b)
	if err != nil {
		return fmt.Errorf("forward: tag: %w", err)
	}
	if len(tagb) == 0 {
		return errors.New("forward: empty tag")
	}
	if string(tagb) != st.lastTag {
		st.lastTag = string(tagb)
	}
	m.Tag = st.lastTag
	if len(b) == 0 {
		return errors.New("forward: message ends after the tag")
	}
	var entries []byte
	var metadata []byte
	switch kind(b) {
	case kindStr, kindBin: // PackedForward, maybe compressed
		if n > 3 {
			return fmt.Errorf("forward: PackedForward message is an array of %d, want 2 or 3", n)
		}
		if entries, b, err = readBytesZC(b); err != nil {
			return fmt.Errorf("forward: packed entries: %w", err)
		}
		m.Mode = ModePackedForward
	case kindArray:
		inner, r, err := msgp.ReadArrayHeaderBytes(b)
		if err != nil {
			return fmt.Errorf("forward: %w", err)
		}
		if inner == 0 || kind(r) == kindArray { // Forward: an array of entries
			if n > 3 {
				return fmt.Errorf("forward: Forward message is an array of %d, want 2 or 3", n)
			}
			m.Mode = ModeForward
			if b, err = validate(r, int(inner), m, lim.BatchBytes); err != nil {
				return err
			}
			entries = nil
			break
		}
		// Message mode with a v2 header [time, metadata] in place of the time.
		fallthrough
	default: // Message: time, record
		if n < 3 {
			return fmt.Errorf("forward: Message mode message is an array of %d, want 3 or 4", n)
		}
		// The entry is [time, record]: the byte before the time (the tag's last, already
		// copied into m.Tag) becomes its array header, so the entry is checked and kept
		// where it is, without a copy.
		at := len(raw) - len(b)
		raw[at-1] = 0x92
		m.Mode = ModeMessage
		if b, err = validate(raw[at-1:], 1, m, lim.BatchBytes); err != nil {
			return err
		}
	}
	if len(b) > 0 {
		if kind(b) == kindNil {
			b = b[1:]
		} else if b, err = readOptions(b, &m.Options, &metadata); err != nil {
			return err
		}
	}
	if len(b) != 0 {
		return errors.New("forward: bytes left after the message")
	}
	if m.Options.Signal != 0 {
		return fmt.Errorf("forward: fluent_signal %d (metrics or traces) is not supported, only logs (0)", m.Options.Signal)
	}
	switch m.Options.Compressed {
	case "":
	case "gzip":
		if m.Mode != ModePackedForward {
			return fmt.Errorf("forward: compressed %q in %s mode", m.Options.Compressed, m.Mode)
		}
		if lim.Stream {
			m.Mode, m.gz, m.st, m.lim = ModeCompressedPackedForward, entries, st, lim
			return nil
		}
		if entries, err = st.gunzip(entries, lim.MaxDecompressed); err != nil {
			return err
		}
		m.Mode = ModeCompressedPackedForward
	default:
		return fmt.Errorf("forward: compressed %q is not supported (gzip or text)", m.Options.Compressed)
	}
	switch m.Mode {
	case ModePackedForward, ModeCompressedPackedForward:
		if _, err := validate(entries, -1, m, lim.BatchBytes); err != nil {
			return err
		}
	case ModeMessage:
		if e := m.Entries; metadata != nil && m.Count == 1 && kind(e[1:]) != kindArray {
			// Fluent Bit's metadata option: the entry becomes [[time, metadata], record].
			rest, err := skipWith(&st.sk, e[1:], 1)
			if err != nil {
				return fmt.Errorf("forward: entry: %w", err)
			}
			st.scratch = append(st.scratch[:0], 0x92, 0x92)
			st.scratch = append(st.scratch, e[1:len(e)-len(rest)]...)
			st.scratch = append(st.scratch, metadata...)
			st.scratch = append(st.scratch, rest...)
			m.Count, m.Batches = 0, m.Batches[:0]
			if _, err := validate(st.scratch, -1, m, lim.BatchBytes); err != nil {
				return err
			}
		}
	}
	return nil
}

var errNotAnEntry = errors.New("an entry is an array [time, record]")

// validate walks the entries (limit of them, or all when limit < 0), leaving out (and
// counting) the invalid ones by moving the valid ones after them down over them, and cuts
// batches. It returns the bytes after the last entry walked.
func validate(entries []byte, limit int, m *Message, batchBytes int) ([]byte, error) {
	out := 0       // end of the valid entries kept
	batchFrom := 0 // start of the current batch in the kept entries
	batchN := 0
	in := entries
	seen := 0
	for len(in) > 0 && seen != limit {
		var rest []byte
		var err error
		if c := in[0]; c != 0x92 && c != 0xdc && c != 0xdd {
			// Not an array: not an entry, told without building an error per value (a
			// payload of zeros is a million of them).
			err = errNotAnEntry
		} else {
			rest, err = event.SkipEntry(in)
		}
		seen++
		if err != nil {
			// Whole msgpack? Then leave the entry out and go on.
			r, serr := skipN(in, 1)
			if serr != nil {
				return nil, fmt.Errorf("forward: entry %d: %w", seen, err)
			}
			if m.DropErr == nil {
				m.DropErr = fmt.Errorf("forward: entry %d: %w", seen, err)
			}
			m.Dropped++
			in = r
			continue
		}
		size := len(in) - len(rest)
		if batchBytes > 0 && batchN > 0 && out+size-batchFrom > batchBytes {
			m.Batches = append(m.Batches, Batch{Entries: entries[batchFrom:out], Count: batchN})
			batchFrom, batchN = out, 0
		}
		start := len(entries) - len(in)
		if start != out {
			copy(entries[out:], in[:size])
		}
		out += size
		batchN++
		m.Count++
		in = rest
	}
	if limit >= 0 && seen != limit {
		return nil, fmt.Errorf("forward: %d entries where %d were declared", seen, limit)
	}
	m.Entries = entries[:out]
	if batchBytes > 0 && batchN > 0 {
		m.Batches = append(m.Batches, Batch{Entries: entries[batchFrom:out], Count: batchN})
	}
	return in, nil
}

// gunzip decompresses one or more concatenated gzip members into the reused buffer, never
// holding more than max bytes.
func (st *decodeState) gunzip(src []byte, limit int) ([]byte, error) {
	st.br.Reset(src)
	if st.zr == nil {
		zr, err := gzip.NewReader(&st.br)
		if err != nil {
			return nil, fmt.Errorf("forward: gzip: %v", err)
		}
		st.zr = zr
	} else if err := st.zr.Reset(&st.br); err != nil {
		return nil, fmt.Errorf("forward: gzip: %v", err)
	}
	out := st.zbuf[:0]
	for {
		if len(out) == cap(out) {
			if len(out) >= limit {
				// One more byte would pass the limit: is there one?
				var one [1]byte
				if n, _ := st.zr.Read(one[:]); n > 0 {
					return nil, fmt.Errorf("forward: gzip: entries larger than %d bytes decompressed", limit)
				}
				break
			}
			grow := min(max(2*cap(out), 64<<10), limit)
			nb := make([]byte, len(out), grow)
			copy(nb, out)
			out = nb
		}
		n, err := st.zr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("forward: gzip: %v", err)
		}
	}
	st.zbuf = out
	return out, nil
}

// readOptions decodes the option map into o.
// Fluent Bit's metadata option (a map), which gives a Message mode record its v2 metadata,
// is returned in *md.
func readOptions(b []byte, o *Options, md *[]byte) ([]byte, error) {
	if kind(b) != kindMap {
		return b, errors.New("forward: option is not a map")
	}
	n, b, err := msgp.ReadMapHeaderBytes(b)
	if err != nil {
		return b, fmt.Errorf("forward: option: %w", err)
	}
	for i := uint32(0); i < n; i++ {
		var key string
		if key, b, err = readStr(b); err != nil {
			return b, fmt.Errorf("forward: option key: %w", err)
		}
		switch key {
		case "size":
			var v int64
			if v, b, err = readInt(b); err != nil || v < 0 {
				return b, fmt.Errorf("forward: option size: want a count (%v)", err)
			}
			o.Size = int(min(v, 1<<31-1))
		case "chunk":
			if o.Chunk, b, err = readStr(b); err != nil {
				return b, fmt.Errorf("forward: option chunk: %w", err)
			}
		case "compressed":
			var c string
			if c, b, err = readStr(b); err != nil {
				return b, fmt.Errorf("forward: option compressed: %w", err)
			}
			if c != "text" {
				o.Compressed = c
			}
		case "metadata":
			if kind(b) != kindMap {
				return b, errors.New("forward: option metadata is not a map")
			}
			end, err := skipN(b, 1)
			if err != nil {
				return b, fmt.Errorf("forward: option metadata: %w", err)
			}
			*md, b = b[:len(b)-len(end)], end
		case "fluent_signal":
			var v int64
			if v, b, err = readInt(b); err != nil {
				return b, fmt.Errorf("forward: option fluent_signal: %w", err)
			}
			o.Signal = int(max(min(v, 1<<20), -1))
		default:
			if b, err = skipN(b, 1); err != nil {
				return b, fmt.Errorf("forward: option %q: %w", key, err)
			}
		}
	}
	return b, nil
}

type valueKind int

const (
	kindOther valueKind = iota
	kindNil
	kindStr
	kindBin
	kindArray
	kindMap
	kindInt
)

func kind(b []byte) valueKind {
	if len(b) == 0 {
		return kindOther
	}
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		return kindInt
	case c >= 0x80 && c <= 0x8f, c == 0xde, c == 0xdf:
		return kindMap
	case c >= 0x90 && c <= 0x9f, c == 0xdc, c == 0xdd:
		return kindArray
	case c >= 0xa0 && c <= 0xbf, c == 0xd9, c == 0xda, c == 0xdb:
		return kindStr
	case c == 0xc4, c == 0xc5, c == 0xc6:
		return kindBin
	case c == 0xc0:
		return kindNil
	}
	return kindOther
}

// readBytesZC reads a str or bin without copying.
func readBytesZC(b []byte) ([]byte, []byte, error) {
	switch kind(b) {
	case kindStr:
		v, rest, err := msgp.ReadStringZC(b)
		return v, rest, wrap(err)
	case kindBin:
		v, rest, err := msgp.ReadBytesZC(b)
		return v, rest, wrap(err)
	}
	return nil, b, errors.New("want a string or binary")
}

// readStr reads a str or bin as a string (clients differ in which they send).
func readStr(b []byte) (string, []byte, error) {
	v, rest, err := readBytesZC(b)
	if err != nil {
		return "", b, err
	}
	return string(v), rest, nil
}

func readInt(b []byte) (int64, []byte, error) {
	if kind(b) != kindInt {
		return 0, b, errors.New("want an integer")
	}
	if b[0] == 0xcf {
		u, rest, err := msgp.ReadUint64Bytes(b)
		return int64(min(u, 1<<62)), rest, wrap(err)
	}
	v, rest, err := msgp.ReadInt64Bytes(b)
	return v, rest, wrap(err)
}

func readBool(b []byte) (bool, []byte, error) {
	v, rest, err := msgp.ReadBoolBytes(b)
	return v, rest, wrap(err)
}

// skipN passes over n whole msgpack values, bounded in depth.
func skipN(b []byte, n int) ([]byte, error) {
	var f framer
	return skipWith(&f, b, n)
}

// skipWith is skipN with a framer (and its stack) to reuse.
func skipWith(f *framer, b []byte, n int) ([]byte, error) {
	for i := 0; i < n; i++ {
		if len(b) == 0 {
			return b, event.ErrShort
		}
		f.reset()
		end, err := f.scan(b, len(b))
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return b, event.ErrShort
			}
			return b, err
		}
		if end == 0 {
			return b, event.ErrShort
		}
		b = b[end:]
	}
	return b, nil
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, msgp.ErrShortBytes) {
		return event.ErrShort
	}
	return err
}
