// Package monitortest compares monitoring API responses with the ones a real Fluent Bit
// gave (kept in monitor/testdata): JSON by shape (keys, their order, value kinds; plugin
// instance names such as "dummy.0" stand for any instance) and Prometheus text by family
// (name, type, help, label names), parsed with the Prometheus library's own parser. It
// is for tests only.
package monitortest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Capture is one recorded response.
type Capture struct {
	Status int
	Header http.Header
	Body   []byte
}

// ReadCapture reads a response recorded as raw HTTP (status line, headers, body).
func ReadCapture(path string) (Capture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Capture{}, err
	}
	head, body, ok := bytes.Cut(data, []byte("\r\n\r\n"))
	if !ok {
		return Capture{}, fmt.Errorf("%s: no end of headers", path)
	}
	c := Capture{Header: http.Header{}, Body: body}
	sc := bufio.NewScanner(bytes.NewReader(head))
	for first := true; sc.Scan(); first = false {
		line := sc.Text()
		if first {
			if _, err := fmt.Sscanf(line, "HTTP/1.1 %d", &c.Status); err != nil {
				return Capture{}, fmt.Errorf("%s: status line %q", path, line)
			}
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		c.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if cl := c.Header.Get("Content-Length"); cl != "" {
		var n int
		fmt.Sscanf(cl, "%d", &n)
		if n <= len(c.Body) {
			c.Body = c.Body[:n]
		}
	}
	return c, nil
}

var instanceName = regexp.MustCompile(`^[A-Za-z0-9_\-]+\.[0-9]+$`)

// JSONShape describes a JSON document's structure: object keys in order with the shape
// of their values, "string", "number", "bool", "null", and arrays by the shape of their
// first element. Keys that look like plugin instance names ("http.2") become "*", and
// repeated identical "*" members appear once.
func JSONShape(data []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var sb strings.Builder
	if err := shapeValue(d, &sb); err != nil {
		return "", err
	}
	if _, err := d.Token(); err != io.EOF {
		return "", fmt.Errorf("data after the JSON value")
	}
	return sb.String(), nil
}

func shapeValue(d *json.Decoder, sb *strings.Builder) error {
	tok, err := d.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			var parts []string
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return err
				}
				k := kt.(string)
				if instanceName.MatchString(k) {
					k = "*"
				}
				var vb strings.Builder
				if err := shapeValue(d, &vb); err != nil {
					return err
				}
				part := k + ":" + vb.String()
				if k == "*" && slices.Contains(parts, part) {
					continue
				}
				parts = append(parts, part)
			}
			d.Token()
			sb.WriteString("{" + strings.Join(parts, ",") + "}")
		case '[':
			first := ""
			for d.More() {
				var vb strings.Builder
				if err := shapeValue(d, &vb); err != nil {
					return err
				}
				if first == "" {
					first = vb.String()
				}
			}
			d.Token()
			sb.WriteString("[" + first + "]")
		}
	case string:
		sb.WriteString("string")
	case json.Number:
		sb.WriteString("number")
	case bool:
		sb.WriteString("bool")
	case nil:
		sb.WriteString("null")
	}
	return nil
}

// Family is what is compared of a Prometheus metric family.
type Family struct {
	Name, Help, Type string
	Labels           string // label names of the first sample, sorted, comma-separated
}

// PromFamilies parses Prometheus text with the Prometheus parser and returns the
// families in name order.
func PromFamilies(text []byte) ([]Family, error) {
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, err
	}
	var out []Family
	for name, f := range fams {
		fam := Family{Name: name, Help: f.GetHelp(), Type: strings.ToLower(f.GetType().String())}
		if len(f.Metric) > 0 {
			fam.Labels = labelNames(f.Metric[0])
		}
		out = append(out, fam)
	}
	slices.SortFunc(out, func(a, b Family) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func labelNames(m *dto.Metric) string {
	var names []string
	for _, l := range m.Label {
		names = append(names, l.GetName())
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// NotServed reads the "Not served" table of docs/monitoring.md: the Fluent Bit series the
// agent does not serve, by name, with the reason. Rows look like
// "| `fluentbit_x` | reason |" under a heading that contains "Not served".
func NotServed(path string) (map[string]string, error) {
	return docTable(path, "Not served")
}

// OnlyHere reads the series docs/monitoring.md lists under a heading "Only here": names
// this agent serves that Fluent Bit does not, with what they count.
func OnlyHere(path string) (map[string]string, error) {
	return docTable(path, "Only here")
}

// docTable reads the first column (comma-separated `names`) and second column of the
// tables under the headings that contain heading.
func docTable(path, heading string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			in = strings.Contains(line, heading)
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		reason := strings.TrimSpace(cells[2])
		for _, name := range strings.Split(cells[1], ",") {
			name = strings.Trim(strings.TrimSpace(name), "`")
			if name != "" && reason != "" {
				out[name] = reason
			}
		}
	}
	return out, nil
}
