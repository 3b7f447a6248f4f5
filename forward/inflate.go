package forward

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// This file inflates a CompressedPackedForward message piece by piece (Limits.Stream):
// the gzip payload is read into a window of BaseSize, the whole entries in it are
// checked and handed on, and the window starts again with the part of an entry cut at
// its end. Only an entry larger than the window grows it (asking Limits.Reserve), never
// past MaxSize; the whole message is never in memory.

// Streaming reports whether m is a compressed message left for Inflate.
func (m *Message) Streaming() bool { return m.gz != nil }

// ErrEntryTooLarge means one entry of a compressed message is larger than MaxSize once
// inflated.
var ErrEntryTooLarge = errors.New("forward: gzip: an entry larger than buffer_max_size")

// Inflate decompresses a message Next left compressed (Streaming) and calls fn with each
// run of whole, valid entries, at most BatchBytes long (a larger entry alone), in order.
// Entries that are whole msgpack but not valid entries are left out and counted in
// m.Dropped; m.Count counts those passed to fn. An error from fn ends it and is returned
// as it is; a damaged payload, one that inflates past MaxDecompressed or an entry past
// MaxSize is an error too, after the entries before it were passed on: the message
// should not be acknowledged (its sender sends it again, whole).
func (m *Message) Inflate(fn func(entries []byte, count int) error) error {
	if m.gz == nil {
		return errors.New("forward: Inflate on a message that is not streamed")
	}
	st, lim := m.st, m.lim
	gz := m.gz
	m.gz = nil
	st.br.Reset(gz)
	if st.zr == nil {
		zr, err := gzip.NewReader(&st.br)
		if err != nil {
			return fmt.Errorf("forward: gzip: %v", err)
		}
		st.zr = zr
	} else if err := st.zr.Reset(&st.br); err != nil {
		return fmt.Errorf("forward: gzip: %v", err)
	}
	window := BaseSize
	if cap(st.zbuf) < window {
		st.zbuf = make([]byte, 0, window)
	}
	buf := st.zbuf[:cap(st.zbuf)]
	reserved := 0
	defer func() {
		if reserved > 0 {
			st.zbuf = nil // a grown window goes: most messages need only the base
			lim.Release(reserved)
		}
	}()
	var f framer
	end, total := 0, 0 // bytes in buf; bytes inflated in all
	batchBytes := lim.BatchBytes
	if batchBytes <= 0 {
		batchBytes = len(buf)
	}
	eof := false
	for {
		if !eof && end < len(buf) {
			n, err := st.zr.Read(buf[end:])
			end += n
			total += n
			if total > lim.MaxDecompressed {
				return fmt.Errorf("forward: gzip: entries larger than %d bytes decompressed", lim.MaxDecompressed)
			}
			switch {
			case err == io.EOF:
				eof = true
			case err != nil:
				return fmt.Errorf("forward: gzip: %v", err)
			}
			if n > 0 && !eof && end < len(buf) {
				continue // fill the window before walking it
			}
		}
		// The whole entries at the front of buf.
		whole := 0
		for whole < end {
			n, err := f.scan(buf[whole:end], lim.MaxSize)
			if errors.Is(err, ErrTooLarge) {
				return ErrEntryTooLarge
			}
			if err != nil {
				return fmt.Errorf("forward: gzip: entries: %w", err)
			}
			if n == 0 {
				break
			}
			whole += n
			f.reset()
		}
		if whole > 0 {
			if err := m.handOn(buf[:whole], batchBytes, fn); err != nil {
				return err
			}
			// framer positions are relative to the value's start, which moves to 0.
			copy(buf, buf[whole:end])
			end -= whole
		}
		if eof {
			if end > 0 {
				return fmt.Errorf("forward: gzip: entries: %w", io.ErrUnexpectedEOF)
			}
			return nil
		}
		if end == len(buf) {
			// One entry fills the window: grow it for that entry.
			if len(buf) >= lim.MaxSize {
				return ErrEntryTooLarge
			}
			size := min(2*len(buf), lim.MaxSize)
			if more := size - window - reserved; more > 0 && lim.Reserve != nil {
				if err := lim.Reserve(more, reserved); err != nil {
					return fmt.Errorf("%w: a %d-byte entry: %w", ErrNoMemory, size, err)
				}
				reserved += more
			}
			nb := make([]byte, size)
			copy(nb, buf[:end])
			buf = nb
		}
	}
}

// handOn checks the whole entries in b (leaving out invalid ones) and passes them to fn
// in batches.
func (m *Message) handOn(b []byte, batchBytes int, fn func([]byte, int) error) error {
	var part Message
	if _, err := validate(b, -1, &part, batchBytes); err != nil {
		return err
	}
	m.Dropped += part.Dropped
	if m.DropErr == nil {
		m.DropErr = part.DropErr
	}
	for _, bt := range part.Batches {
		if err := fn(bt.Entries, bt.Count); err != nil {
			return err
		}
		m.Count += bt.Count
	}
	return nil
}
