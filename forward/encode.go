package forward

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"sync"

	"github.com/tinylib/msgp/msgp"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// AppendOptions appends o as an option map: size when above 0, chunk and compressed when
// set. It appends nothing when all are unset, so a message without options is an array
// of 2 (see optionCount).
func AppendOptions(dst []byte, o Options) []byte {
	n := optionCount(o)
	if n == 0 {
		return dst
	}
	dst = msgp.AppendMapHeader(dst, uint32(n))
	if o.Size > 0 {
		dst = msgp.AppendString(dst, "size")
		dst = msgp.AppendInt(dst, o.Size)
	}
	if o.Chunk != "" {
		dst = msgp.AppendString(dst, "chunk")
		dst = msgp.AppendString(dst, o.Chunk)
	}
	if o.Compressed != "" {
		dst = msgp.AppendString(dst, "compressed")
		dst = msgp.AppendString(dst, o.Compressed)
	}
	if o.Signal != 0 {
		dst = msgp.AppendString(dst, "fluent_signal")
		dst = msgp.AppendInt(dst, o.Signal)
	}
	return dst
}

func optionCount(o Options) int {
	n := 0
	if o.Size > 0 {
		n++
	}
	if o.Chunk != "" {
		n++
	}
	if o.Compressed != "" {
		n++
	}
	if o.Signal != 0 {
		n++
	}
	return n
}

func appendHead(dst []byte, tag string, o Options) []byte {
	if optionCount(o) > 0 {
		dst = msgp.AppendArrayHeader(dst, 3)
	} else {
		dst = msgp.AppendArrayHeader(dst, 2)
	}
	return msgp.AppendString(dst, tag)
}

// AppendPackedForward appends a PackedForward message [tag, bin entries, option?]. entries
// are a chunk's bytes (concatenated entries), copied as they are. Set o.Size to the
// number of entries to send the size option.
func AppendPackedForward(dst []byte, tag string, entries []byte, o Options) []byte {
	o.Compressed = ""
	dst = appendHead(dst, tag, o)
	dst = msgp.AppendBytes(dst, entries)
	return AppendOptions(dst, o)
}

var gzipWriters = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

// AppendCompressedPackedForward appends a CompressedPackedForward message: entries gzipped
// (one member, fastest level) as a bin, with the option compressed: "gzip".
func AppendCompressedPackedForward(dst []byte, tag string, entries []byte, o Options) []byte {
	o.Compressed = "gzip"
	dst = appendHead(dst, tag, o)
	// Compress straight after a bin32 header, then patch the length in.
	at := len(dst)
	dst = append(dst, 0xc6, 0, 0, 0, 0)
	buf := bytes.NewBuffer(dst)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(buf)
	_, _ = zw.Write(entries) // a bytes.Buffer never fails
	_ = zw.Close()
	zw.Reset(nil)
	gzipWriters.Put(zw)
	dst = buf.Bytes()
	n := len(dst) - at - 5
	dst[at+1], dst[at+2], dst[at+3], dst[at+4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return AppendOptions(dst, o)
}

// AppendForward appends a Forward message [tag, [entry, ...], option?] from n entries
// concatenated in entries (a chunk's bytes), copied as they are.
func AppendForward(dst []byte, tag string, entries []byte, n int, o Options) []byte {
	o.Compressed = ""
	dst = appendHead(dst, tag, o)
	dst = msgp.AppendArrayHeader(dst, uint32(n))
	dst = append(dst, entries...)
	return AppendOptions(dst, o)
}

// AppendMessage appends a Message mode message [tag, time, record, option?] for ev. Its
// time is an EventTime; with metadata the time is [time, metadata] (Fluent Bit's v2 form).
func AppendMessage(dst []byte, tag string, ev *event.Event, o Options) ([]byte, error) {
	o.Compressed = ""
	if optionCount(o) > 0 {
		dst = msgp.AppendArrayHeader(dst, 4)
	} else {
		dst = msgp.AppendArrayHeader(dst, 3)
	}
	dst = msgp.AppendString(dst, tag)
	entry, err := event.AppendEntry(nil, ev)
	if err != nil {
		return dst, fmt.Errorf("forward: %w", err)
	}
	dst = append(dst, entry[1:]...) // the entry without its array header: time, record
	return AppendOptions(dst, o), nil
}

// AppendAck appends the server's response {"ack": chunk}.
func AppendAck(dst []byte, chunk string) []byte {
	dst = msgp.AppendMapHeader(dst, 1)
	dst = msgp.AppendString(dst, "ack")
	return msgp.AppendString(dst, chunk)
}

// ParseAck reads a response {"ack": chunk} and returns the chunk id.
func ParseAck(raw []byte) (string, error) {
	if kind(raw) != kindMap {
		return "", fmt.Errorf("forward: response is not a map")
	}
	n, b, err := msgp.ReadMapHeaderBytes(raw)
	if err != nil {
		return "", fmt.Errorf("forward: response: %w", wrap(err))
	}
	ack, found := "", false
	for i := uint32(0); i < n; i++ {
		var key string
		if key, b, err = readStr(b); err != nil {
			return "", fmt.Errorf("forward: response key: %w", err)
		}
		if key == "ack" {
			if ack, b, err = readStr(b); err != nil {
				return "", fmt.Errorf("forward: response ack: %w", err)
			}
			found = true
			continue
		}
		if b, err = skipN(b, 1); err != nil {
			return "", fmt.Errorf("forward: response: %w", err)
		}
	}
	if !found {
		return "", fmt.Errorf("forward: response has no ack")
	}
	return ack, nil
}
