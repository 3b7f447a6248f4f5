package systemd

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzExportParser feeds the journal export parser arbitrary bytes: it never panics,
// never loops, and an entry it returns, written out again and parsed, is the same entry.
func FuzzExportParser(f *testing.F) {
	f.Add([]byte("__CURSOR=s=1;i=1\n__REALTIME_TIMESTAMP=1700000000000000\nMESSAGE=hello\nFOO=1\nFOO=2\n\n"))
	f.Add(appendExport(nil, []field{{[]byte("MESSAGE"), []byte("two\nlines\x00")}, {[]byte("A"), []byte("")}}))
	f.Add([]byte("MESSAGE\n\xff\xff\xff\xff\xff\xff\xff\x7f"))
	f.Add([]byte("\n\n=x\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newExportParser(bytes.NewReader(data))
		for i := 0; i <= len(data); i++ {
			e, err := p.next()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, errBadExport) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			fields := make([]field, len(e.fields))
			for k, fl := range e.fields {
				fields[k] = field{bytes.Clone(fl.name), bytes.Clone(fl.value)}
			}
			again, err := newExportParser(bytes.NewReader(appendExport(nil, fields))).next()
			if err != nil {
				if len(fields) == 0 {
					continue // an entry of "__" fields only has nothing to write out
				}
				t.Fatalf("re-parsing %q: %v", appendExport(nil, fields), err)
			}
			if len(again.fields) != len(fields) {
				t.Fatalf("round trip: %d fields, want %d", len(again.fields), len(fields))
			}
			for k := range fields {
				if !bytes.Equal(again.fields[k].name, fields[k].name) || !bytes.Equal(again.fields[k].value, fields[k].value) {
					t.Fatalf("round trip: field %d %q=%q, want %q=%q", k, again.fields[k].name, again.fields[k].value, fields[k].name, fields[k].value)
				}
			}
		}
		t.Fatal("more entries than bytes: the parser does not advance")
	})
}

// A stream cut anywhere inside an entry is an unexpected end, never an entry.
func TestExportParserCutStreams(t *testing.T) {
	full := appendExport(nil, []field{{[]byte("MESSAGE"), []byte("a\nb")}, {[]byte("X"), []byte("y")}})
	for i := 1; i < len(full)-1; i++ {
		_, err := newExportParser(bytes.NewReader(full[:i])).next()
		if err != io.ErrUnexpectedEOF && !errors.Is(err, errBadExport) {
			t.Errorf("cut at %d of %d: %v, want an unexpected end", i, len(full), err)
		}
	}
	e, err := newExportParser(bytes.NewReader(full)).next()
	if err != nil || len(e.fields) != 2 || string(e.fields[0].value) != "a\nb" {
		t.Errorf("whole stream: %v, %v", e, err)
	}
}
