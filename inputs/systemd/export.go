package systemd

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// The journal export format (systemd's JOURNAL_EXPORT_FORMATS): entries separated by an
// empty line; each field either "NAME=value\n" (text without newlines) or "NAME\n", a
// 64-bit little-endian length, that many bytes of value (any bytes) and "\n". Fields
// whose name starts with "__" describe the entry (__CURSOR, __REALTIME_TIMESTAMP, ...)
// rather than being part of it.

// maxFieldSize bounds one field's value. journald itself refuses entries over 768 MiB;
// a value above this is read through and left out of the record (and logged), so a
// huge core dump in the journal cannot take the agent's memory.
const maxFieldSize = 64 << 20

// field is one field of an entry; name and value point into the parser's buffer and are
// valid until the next call to next.
type field struct {
	name, value []byte
}

// entry is one journal entry as exported.
type entry struct {
	fields   []field // the entry's own fields, in order ("__" fields are not here)
	cursor   []byte  // __CURSOR
	realtime []byte  // __REALTIME_TIMESTAMP, microseconds since the epoch, decimal
	skipped  int     // fields left out for being over maxFieldSize
}

// exportParser reads entries from an export stream.
type exportParser struct {
	r   *bufio.Reader
	buf []byte // every field's bytes of the current entry
	ent entry
	// offsets into buf while the entry is read (buf may grow and move)
	offs []fieldOff
	cur  fieldOff
	real fieldOff
}

type fieldOff struct{ n0, n1, v0, v1 int }

func newExportParser(r io.Reader) *exportParser {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &exportParser{r: br}
}

// errBadExport is the cause of every parse error.
var errBadExport = errors.New("systemd: bad journal export stream")

// next returns the next entry. At the end of the stream it returns io.EOF (or
// io.ErrUnexpectedEOF when the stream ends inside an entry).
func (p *exportParser) next() (*entry, error) {
	p.buf = p.buf[:0]
	p.offs = p.offs[:0]
	p.cur, p.real = fieldOff{}, fieldOff{}
	skipped := 0
	started := false
	for {
		n0 := len(p.buf)
		line, err := p.readLine()
		if err != nil {
			if err == io.EOF && (started || len(line) > 0) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(line) == 0 {
			if !started {
				continue // blank lines between entries
			}
			break
		}
		started = true
		if i := bytes.IndexByte(line, '='); i >= 0 {
			if i == 0 {
				return nil, fmt.Errorf("%w: a field with an empty name", errBadExport)
			}
			p.add(fieldOff{n0, n0 + i, n0 + i + 1, n0 + len(line)})
			continue
		}
		// Binary form: the name alone on its line, then length, value and "\n".
		n1 := len(p.buf)
		var lenb [8]byte
		if _, err := io.ReadFull(p.r, lenb[:]); err != nil {
			return nil, unexpected(err)
		}
		size := binary.LittleEndian.Uint64(lenb[:])
		if size > maxFieldSize {
			if _, err := io.CopyN(io.Discard, p.r, int64(min(size, 1<<62))); err != nil {
				return nil, unexpected(err)
			}
			if err := p.expectNewline(); err != nil {
				return nil, err
			}
			p.buf = p.buf[:n0]
			skipped++
			continue
		}
		v0 := len(p.buf)
		p.buf = slices.Grow(p.buf, int(size))[:v0+int(size)]
		if _, err := io.ReadFull(p.r, p.buf[v0:]); err != nil {
			return nil, unexpected(err)
		}
		if err := p.expectNewline(); err != nil {
			return nil, err
		}
		p.add(fieldOff{n0, n1, v0, len(p.buf)})
	}
	e := &p.ent
	e.fields = e.fields[:0]
	for _, o := range p.offs {
		e.fields = append(e.fields, field{p.buf[o.n0:o.n1], p.buf[o.v0:o.v1]})
	}
	e.cursor = p.buf[p.cur.v0:p.cur.v1]
	e.realtime = p.buf[p.real.v0:p.real.v1]
	e.skipped = skipped
	return e, nil
}

// add records a field's place: the entry's own fields in offs, the two address fields
// the input uses apart, other "__" fields nowhere.
func (p *exportParser) add(o fieldOff) {
	name := p.buf[o.n0:o.n1]
	if len(name) >= 2 && name[0] == '_' && name[1] == '_' {
		switch string(name) {
		case "__CURSOR":
			p.cur = o
		case "__REALTIME_TIMESTAMP":
			p.real = o
		}
		return
	}
	p.offs = append(p.offs, o)
}

// readLine appends the next line, without its "\n", to buf and returns it.
func (p *exportParser) readLine() ([]byte, error) {
	start := len(p.buf)
	for {
		chunk, err := p.r.ReadSlice('\n')
		if len(p.buf)-start+len(chunk) > maxFieldSize {
			return nil, fmt.Errorf("%w: a line longer than %d bytes", errBadExport, maxFieldSize)
		}
		p.buf = append(p.buf, chunk...)
		switch err {
		case nil:
			p.buf = p.buf[:len(p.buf)-1]
			return p.buf[start:], nil
		case bufio.ErrBufferFull:
			continue
		default:
			return p.buf[start:], err
		}
	}
}

func (p *exportParser) expectNewline() error {
	c, err := p.r.ReadByte()
	if err != nil {
		return unexpected(err)
	}
	if c != '\n' {
		return fmt.Errorf("%w: a binary field's value is not followed by a newline", errBadExport)
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendExport appends e's fields in the export format (text form when the value has no
// newline, binary form otherwise): the fuzz test's and the journal-writing tests' encoder.
func appendExport(dst []byte, fields []field) []byte {
	for _, f := range fields {
		if bytes.IndexByte(f.value, '\n') < 0 {
			dst = append(dst, f.name...)
			dst = append(dst, '=')
			dst = append(dst, f.value...)
			dst = append(dst, '\n')
			continue
		}
		dst = append(dst, f.name...)
		dst = append(dst, '\n')
		dst = binary.LittleEndian.AppendUint64(dst, uint64(len(f.value)))
		dst = append(dst, f.value...)
		dst = append(dst, '\n')
	}
	return append(dst, '\n')
}
