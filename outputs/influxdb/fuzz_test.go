package influxdb_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// scanLine splits a line as InfluxDB 1.x's scanner does: a backslash takes the byte after
// it along, a double quote opens a string field value, unescaped spaces separate the three
// sections and unescaped commas the elements of a section.
func scanLine(line string) (sections [][]string) {
	cur, elems := "", []string{}
	inStr := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inStr && c == '\\' && i+1 < len(line):
			cur += line[i : i+2]
			i++
		case inStr && c == '"':
			inStr = false
			cur += `"`
		case inStr:
			cur += string(c)
		case c == '\\' && i+1 < len(line):
			cur += line[i : i+2]
			i++
		case c == '"' && len(sections) == 1 && strings.HasSuffix(cur, "="): // strings only among fields
			inStr = true
			cur += `"`
		case c == ',':
			elems, cur = append(elems, cur), ""
		case c == ' ':
			elems, cur = append(elems, cur), ""
			sections, elems = append(sections, elems), nil
		default:
			cur += string(c)
		}
	}
	return append(sections, append(elems, cur))
}

// Whatever the names and values, each record is one line whose measurement, tags and fields
// come apart where the encoder meant them to.
func FuzzLineProtocol(f *testing.F) {
	f.Add("m,e as", "t,k", `v a\`, "f k=", `say "hi" \`, int64(3))
	f.Add(`\`, `\`, `\,`, `\ `, "a\nb", int64(-1))
	f.Fuzz(func(t *testing.T, measurement, tagKey, tagVal, fieldKey, fieldVal string, n int64) {
		if measurement == "" || tagKey == "" || fieldKey == "" || tagKey == fieldKey || fieldKey == "n" || tagKey == "n" ||
			strings.Contains(tagKey, ".") || strings.Contains(fieldKey, ".") || strings.TrimSpace(tagVal) == "" {
			return
		}
		if f := strings.Fields(tagKey); len(f) != 1 || f[0] != tagKey {
			return // tag_keys is a space separated list: such a key cannot be named
		}
		o := newOutput(t, "tag_keys", tagKey, "sequence_tag", "off")
		b := body(t, o, measurement, event.Event{Time: time.Unix(5, 0), Record: event.Map{{tagKey, tagVal}, {fieldKey, fieldVal}, {"n", n}}})
		if strings.Count(b, "\n") != 1+strings.Count(fieldVal, "\n") || !strings.HasSuffix(b, " 5000000000\n") {
			t.Fatalf("not one line: %q", b)
		}
		s := scanLine(strings.TrimSuffix(b, "\n"))
		if len(s) != 3 || len(s[0]) != 2 || len(s[1]) != 2 || len(s[2]) != 1 {
			t.Fatalf("%q scans as %q: want measurement+1 tag, 2 fields, a timestamp", b, s)
		}
	})
}

var _ = pipelinetest.MakeChunk
