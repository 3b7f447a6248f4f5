package event

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// agreeSkip fails t unless SkipEntry and skipEntrySlow (the recursive walk that decides
// what the fast loop does not) agree on data, and the fast loop never accepts what the
// slow walk refuses or ends an entry elsewhere.
func agreeSkip(t *testing.T, data []byte) {
	t.Helper()
	slowRest, slowErr := skipEntrySlow(data)
	if n := skipEntryFast(data); n > 0 {
		if slowErr != nil {
			t.Fatalf("fast walk accepts %d bytes the slow walk refuses (%v): % x", n, slowErr, data)
		}
		if len(data)-len(slowRest) != n {
			t.Fatalf("fast walk ends the entry at %d, slow at %d: % x", n, len(data)-len(slowRest), data)
		}
	}
	rest, err := SkipEntry(data)
	if (err == nil) != (slowErr == nil) || len(rest) != len(slowRest) {
		t.Fatalf("SkipEntry: rest %d err %v; slow walk: rest %d err %v", len(rest), err, len(slowRest), slowErr)
	}
}

func TestSkipEntryFastTakesCommonEntries(t *testing.T) {
	withMeta := sample()
	withMeta.Metadata = Map{{"k", "v"}, {"n", []any{int64(1), Map{}}}}
	big := Event{Time: time.Unix(1, 0), Record: Map{{"s8", strings.Repeat("x", 200)}, {"s16", strings.Repeat("y", 70000)}, {"bin", bytes.Repeat([]byte{1}, 300)}, {"arr", make([]any, 20)}, {"map", Map{{"a", int64(-1 << 40)}, {"b", uint64(1 << 63)}, {"c", float32(1.5)}}}, {"ext", Ext{Type: 5, Data: []byte{1, 2, 3}}}, {"t", time.Unix(7, 8)}}}
	for name, ev := range map[string]Event{"sample": sample(), "metadata": withMeta, "long values": big, "empty": {Time: time.Unix(0, 0), Record: Map{}}} {
		b, err := AppendEntry(nil, &ev)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, 0xc1) // the next entry's bytes are not this one's business
		if n := skipEntryFast(b); n != len(b)-1 {
			t.Errorf("%s: fast walk gives %d, want %d", name, n, len(b)-1)
		}
		agreeSkip(t, b)
	}
	for _, tm := range [][]byte{{0x05}, {0xcc, 200}, {0xcd, 1, 0}, {0xce, 0xff, 0xff, 0xff, 0xff}} {
		b := append(append([]byte{0x92}, tm...), 0x80)
		if n := skipEntryFast(b); n != len(b) {
			t.Errorf("time % x: fast walk gives %d, want %d", tm, n, len(b))
		}
		agreeSkip(t, b)
	}
}

func TestSkipEntryFastRefusesBadEntries(t *testing.T) {
	good, _ := AppendEntry(nil, &Event{Time: time.Unix(1, 0), Record: Map{{"k", "v"}}})
	bad := map[string][]byte{
		"array of 3":      {0x93, 0x01, 0x80, 0xc0},
		"record not map":  {0x92, 0x01, 0x90},
		"negative time":   {0x92, 0xff, 0x80},
		"string time":     {0x92, 0xa1, 't', 0x80},
		"ext 1 time":      {0x92, 0xd7, 0x01, 0, 0, 0, 1, 0, 0, 0, 0, 0x80},
		"nanoseconds":     {0x92, 0xd7, 0x00, 0, 0, 0, 1, 0x3b, 0x9a, 0xca, 0x00, 0x80},
		"0xc1 in record":  {0x92, 0x01, 0x81, 0xa1, 'k', 0xc1},
		"metadata array":  {0x92, 0x92, 0x01, 0x90, 0x80},
		"header of 3":     {0x92, 0x93, 0x01, 0x80, 0xc0, 0x80},
		"hostile map32":   {0x92, 0x01, 0xdf, 0xff, 0xff, 0xff, 0xff},
		"hostile str32":   {0x92, 0x01, 0x81, 0xdb, 0xff, 0xff, 0xff, 0xff},
		"hostile array16": {0x92, 0x01, 0x81, 0xa1, 'k', 0xdc, 0xff, 0xff, 0x01},
	}
	for i := 1; i < len(good); i++ {
		bad["cut at "+strconv.Itoa(i)] = good[:i]
	}
	for name, b := range bad {
		if _, err := SkipEntry(b); err == nil {
			t.Errorf("%s: SkipEntry accepted % x", name, b)
		}
		agreeSkip(t, b)
	}
}

// TestSkipEntryDepthBoundary nests arrays around the fast walk's short stack (8 levels)
// and around the maxDepth the slow walk allows: the fast walk must take the first and
// draw the line at the same place as the slow walk (or leave it to the slow walk).
func TestSkipEntryDepthBoundary(t *testing.T) {
	for _, levels := range []int{6, 7, 8, 9, 10, 20, maxDepth - 3, maxDepth - 2, maxDepth - 1, maxDepth, maxDepth + 1} {
		for _, inner := range [][]byte{{0xc0}, {0x90}, {0x80}} {
			b := []byte{0x92, 0x01, 0x81, 0xa1, 'k'}
			for i := 0; i < levels; i++ {
				b = msgp.AppendArrayHeader(b, 1)
			}
			b = append(b, inner...)
			agreeSkip(t, b)
			if levels <= 20 && skipEntryFast(b) != len(b) {
				t.Errorf("%d levels: the fast walk leaves a good entry to the slow one", levels)
			}
		}
	}
}

// FuzzSkipEntry checks the fast walk against the slow one on arbitrary bytes. The seeds
// include FuzzReadEntry's corpus.
func FuzzSkipEntry(f *testing.F) {
	ev := sample()
	b, _ := AppendEntry(nil, &ev)
	f.Add(b)
	ev.Metadata = Map{{"m", int64(1)}}
	b, _ = AppendEntry(nil, &ev)
	f.Add(b)
	f.Add([]byte{0x92, 0x01, 0x81, 0xa1, 'k', 0x91, 0x91, 0x90})
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzReadEntry", "*"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if q, ok := strings.CutPrefix(line, "[]byte("); ok {
				if s, err := strconv.Unquote(strings.TrimSuffix(q, ")")); err == nil {
					f.Add([]byte(s))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agreeSkip(t, data)
		// Entries one after another: a chunk.
		for rest := data; len(rest) > 0; {
			r, err := SkipEntry(rest)
			if err != nil {
				break
			}
			if len(r) >= len(rest) {
				t.Fatal("SkipEntry made no progress")
			}
			rest = r
		}
	})
}
