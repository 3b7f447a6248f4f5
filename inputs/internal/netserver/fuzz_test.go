package netserver

import (
	"bufio"
	"bytes"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"testing/iotest"
)

// scanAll splits data read whole and read one byte at a time; both must agree.
func scanAll(t *testing.T, split bufio.SplitFunc, data []byte) []string {
	t.Helper()
	run := func(oneByte bool) ([]string, error) {
		var r = bytes.NewReader(data)
		sc := bufio.NewScanner(r)
		if oneByte {
			sc = bufio.NewScanner(iotest.OneByteReader(r))
		}
		sc.Buffer(make([]byte, 16), 1<<16)
		sc.Split(split)
		var out []string
		for i := 0; sc.Scan(); i++ {
			if i > len(data)+1 {
				t.Fatal("more tokens than bytes")
			}
			out = append(out, sc.Text())
		}
		return out, sc.Err()
	}
	whole, err1 := run(false)
	bytewise, err2 := run(true)
	if !slices.Equal(whole, bytewise) || (err1 == nil) != (err2 == nil) {
		t.Fatalf("%q: whole %q (%v), byte by byte %q (%v)", data, whole, err1, bytewise, err2)
	}
	return whole
}

func FuzzSplitOctetCounting(f *testing.F) {
	for _, s := range []string{"5 hello", "5 hello3 abc", "\n12 with\nnewline\n", "x", "0 ", "99999999999 x", "3 ab"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		toks := scanAll(t, SplitOctetCounting(1<<16), data)
		// Framing the tokens again and splitting gives them back.
		var framed []byte
		for _, tok := range toks {
			framed = strconv.AppendInt(framed, int64(len(tok)), 10)
			framed = append(framed, ' ')
			framed = append(framed, tok...)
		}
		var again []string
		sc := bufio.NewScanner(bytes.NewReader(framed))
		sc.Split(SplitOctetCounting(1 << 16))
		for sc.Scan() {
			again = append(again, sc.Text())
		}
		if sc.Err() != nil || !slices.Equal(nonEmpty(toks), again) {
			t.Fatalf("reframed %q: got %q (%v)", toks, again, sc.Err())
		}
	})
}

func nonEmpty(s []string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func FuzzSplitJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}{"b":2}`, `[1,{"x":"}"}]` + "\n" + `{"e":"\"}"}`, "garbage\n{}", `{"open":`, "  \n\t"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		toks := scanAll(t, SplitJSON, data)
		total := 0
		for _, tok := range toks {
			if len(tok) == 0 {
				t.Fatalf("%q: empty token", data)
			}
			total += len(tok)
		}
		if total > len(data) {
			t.Fatalf("%q: tokens longer than the input", data)
		}
	})
}

func FuzzSplitSeparator(f *testing.F) {
	f.Add([]byte("a\r\nb\r\n"), []byte("\r\n"))
	f.Add([]byte("one\ntwo"), []byte("\n"))
	f.Fuzz(func(t *testing.T, data, sep []byte) {
		if len(sep) == 0 || len(sep) > 8 {
			return
		}
		toks := scanAll(t, SplitSeparator(sep), data)
		if joined := bytes.Join(toBytes(toks), sep); !bytes.Equal(joined, bytes.TrimSuffix(data, sep)) && !bytes.Equal(joined, data) {
			t.Fatalf("%q split at %q: %q does not join back", data, sep, toks)
		}
	})
}

func toBytes(s []string) [][]byte {
	out := make([][]byte, len(s))
	for i, x := range s {
		out[i] = []byte(x)
	}
	return out
}

// FuzzRecordsDatagram feeds a datagram to the tcp/udp record maker in both formats: it
// must not panic, and every record it makes must be a whole record.
func FuzzRecordsDatagram(f *testing.F) {
	f.Add([]byte(`{"a":1}{"b":[1,2]}` + "\nnot json\n[3]"))
	f.Add([]byte("line one\nline two\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []Format{FormatJSON, FormatNone} {
			rec := pipelinetest.NewRecorder()
			r := &Records{Format: format, Separator: []byte("\n"), SourceAddressKey: "src", Tag: "t", Emit: rec, Log: slog.New(slog.DiscardHandler)}
			if err := r.Handle(Message{Data: data, Remote: "udp://1.2.3.4:5", Datagram: true}); err != nil {
				t.Fatal(err)
			}
			if rec.Len() > len(data) {
				t.Fatalf("%d records from %d bytes", rec.Len(), len(data))
			}
			for _, r := range rec.Records() {
				if v, _ := r.Event.Record.Get("src"); v != "udp://1.2.3.4:5" {
					t.Fatalf("record %v without its source", r.Event.Record)
				}
			}
		}
	})
}
