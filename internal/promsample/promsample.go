// Package promsample maps records to Prometheus samples, the one mapping shared by the
// prometheus_remote_write and prometheus_exporter outputs. Records are not metrics; the
// mapping is what a device user wants from records such as the cpu, mem or a sensor input's:
//
//   - Each numeric field becomes one sample. Its name is metric_prefix, the tag and the key
//     path joined with "_" ("cpu.local" with key "cpu_p" is cpu_local_cpu_p; a nested key
//     {"Mem": {"total": 1}} is ..._Mem_total), sanitised to Prometheus rules: every byte
//     outside [a-zA-Z0-9_:] becomes "_", and a name starting with a digit gets a "_" in front.
//     With include_tag off, the tag is left out of the name.
//   - Booleans are samples too, 1 for true and 0 for false.
//   - The record's time is the sample's timestamp (milliseconds).
//   - Labels: every add_label (NAME VALUE) and every record key named in label_keys (its
//     value as text: strings as they are, numbers in their shortest form, true/false). A key
//     named in label_keys is a label only, never a sample. A label_keys key missing from a
//     record is left out of that record's samples.
//   - Strings, arrays and nulls not named in label_keys are not samples and are skipped.
//   - Label names are sanitised like metric names, without ":" ("__name__" and other names
//     starting with "__" are reserved by Prometheus and refused in configuration).
//
// What it does not do: histograms, counters' resets, type metadata (every sample is a gauge),
// or keeping series across records (the exporter does that).
package promsample

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// Label is one label of a series.
type Label struct {
	Name, Value string
}

// Sample is one value of one series at one time.
type Sample struct {
	Name   string  // the metric name (__name__)
	Labels []Label // sorted by name; never holds __name__
	Value  float64
	Time   time.Time
}

// Mapper turns records into samples. Build it with New; it is safe for concurrent use.
type Mapper struct {
	prefix     string
	includeTag bool
	labelKeys  []string // record keys that become labels
	labelNames []string // their sanitised label names, same order
	static     []Label  // add_label, sorted
}

// Settings are the configuration keys of the mapping, embedded by both outputs.
type Settings struct {
	AddLabels  []string `conf:"add_label"`     // "NAME VALUE", repeatable
	Prefix     string   `conf:"metric_prefix"` // put before every metric name
	IncludeTag bool     `conf:"include_tag"`   // put the tag in the metric name (default on)
	LabelKeys  []string `conf:"label_keys"`    // record keys whose values become labels (space or comma separated)
}

// DefaultSettings returns the defaults: no prefix, the tag in the name, no labels.
func DefaultSettings() Settings { return Settings{IncludeTag: true} }

// KeyError is a configuration error at one key; plugins turn it into config.KeyErrorf.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// New checks s and builds a Mapper. Errors are *KeyError.
func New(s Settings) (*Mapper, error) {
	m := &Mapper{prefix: s.Prefix, includeTag: s.IncludeTag}
	if s.Prefix != "" && SanitizeName(s.Prefix) != s.Prefix {
		return nil, &KeyError{"metric_prefix", fmt.Sprintf("%q: only [a-zA-Z0-9_:] allowed, not starting with a digit", s.Prefix)}
	}
	seen := map[string]bool{}
	for _, al := range s.AddLabels {
		name, value, ok := strings.Cut(strings.TrimSpace(al), " ")
		name = strings.TrimSpace(name)
		value = strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, &KeyError{"add_label", fmt.Sprintf("%q: want \"NAME VALUE\"", al)}
		}
		if err := checkLabelName(name); err != nil {
			return nil, &KeyError{"add_label", fmt.Sprintf("%q: %v", name, err)}
		}
		if seen[name] {
			return nil, &KeyError{"add_label", fmt.Sprintf("label %q given twice", name)}
		}
		seen[name] = true
		m.static = append(m.static, Label{name, value})
	}
	for _, v := range s.LabelKeys {
		for _, k := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
			name := sanitize(k, false)
			if strings.HasPrefix(name, "__") {
				return nil, &KeyError{"label_keys", fmt.Sprintf("%q: label names starting with __ are reserved", k)}
			}
			if seen[name] {
				return nil, &KeyError{"label_keys", fmt.Sprintf("%q: label %q given twice", k, name)}
			}
			seen[name] = true
			m.labelKeys = append(m.labelKeys, k)
			m.labelNames = append(m.labelNames, name)
		}
	}
	slices.SortFunc(m.static, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	return m, nil
}

// StaticLabels returns the add_label labels, sorted by name.
func (m *Mapper) StaticLabels() []Label { return m.static }

func checkLabelName(name string) error {
	if sanitize(name, false) != name {
		return fmt.Errorf("want [a-zA-Z_][a-zA-Z0-9_]*")
	}
	if strings.HasPrefix(name, "__") {
		return fmt.Errorf("label names starting with __ are reserved")
	}
	return nil
}

// Append appends the samples of one record of tag to dst.
func (m *Mapper) Append(dst []Sample, tag string, ev *event.Event) []Sample {
	var labels []Label
	for i, k := range m.labelKeys {
		if v, ok := ev.Record.Get(k); ok {
			if s, ok := labelText(v); ok {
				labels = append(labels, Label{m.labelNames[i], s})
			}
		}
	}
	labels = append(labels, m.static...)
	slices.SortFunc(labels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	base := m.prefix
	if m.includeTag && tag != "" {
		base += tag + "_"
	}
	start := len(dst)
	walk(ev.Record, 0, func(path []string, v float64) {
		if len(path) == 1 && m.isLabelKey(path[0]) {
			return
		}
		dst = append(dst, Sample{Name: SanitizeName(base + strings.Join(path, "_")), Labels: labels, Value: v, Time: ev.Time})
	}, nil)
	// One record, one value per series: the last of colliding names wins (a.b and a_b).
	slices.SortStableFunc(dst[start:], func(a, b Sample) int { return strings.Compare(a.Name, b.Name) })
	out := dst[:start]
	for i := start; i < len(dst); i++ {
		if len(out) > start && out[len(out)-1].Name == dst[i].Name {
			out[len(out)-1] = dst[i]
			continue
		}
		out = append(out, dst[i])
	}
	return out
}

func (m *Mapper) isLabelKey(k string) bool { return slices.Contains(m.labelKeys, k) }

// walk calls fn for every numeric or boolean field of rec, nested maps included, in key
// order. It is the one place that walks a record (records become ordered in issue 15).
func walk(rec event.Map, depth int, fn func(path []string, v float64), path []string) {
	if depth > 16 {
		return
	}
	keys := make([]string, 0, len(rec))
	for _, kv := range rec {
		keys = append(keys, kv.Key)
	}
	slices.Sort(keys) // samples in name order, whatever the record's order
	for _, k := range keys {
		p := append(path, k)
		switch v := rec.Value(k).(type) {
		case event.Map:
			walk(v, depth+1, fn, p)
		default:
			if f, ok := Number(v); ok {
				fn(p, f)
			}
		}
	}
}

// Number reports v as a sample value: numbers as they are, booleans as 1 and 0.
func Number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func labelText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case nil:
		return "", false
	}
	return string(event.AppendJSON(nil, v)), true
}

// SanitizeName makes s a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
func SanitizeName(s string) string { return sanitize(s, true) }

// SanitizeLabel makes s a valid label name: [a-zA-Z_][a-zA-Z0-9_]*.
func SanitizeLabel(s string) string { return sanitize(s, false) }

func sanitize(s string, colon bool) string {
	ok := s != "" && !(s[0] >= '0' && s[0] <= '9')
	for i := 0; ok && i < len(s); i++ {
		ok = validByte(s[i], colon)
	}
	if ok {
		return s
	}
	b := make([]byte, 0, len(s)+1)
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		b = append(b, '_')
	}
	for i := 0; i < len(s); i++ {
		if validByte(s[i], colon) {
			b = append(b, s[i])
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}

func validByte(c byte, colon bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || colon && c == ':'
}

// SeriesKey returns a key that is equal for two samples exactly when they are of the same
// series (name and labels).
func SeriesKey(dst []byte, s *Sample) []byte {
	dst = append(dst, s.Name...)
	for _, l := range s.Labels {
		dst = append(dst, 0xff)
		dst = append(dst, l.Name...)
		dst = append(dst, 0xfe)
		dst = append(dst, l.Value...)
	}
	return dst
}

// FormatValue writes v as the exposition format and remote write expect (NaN, +Inf, -Inf).
func FormatValue(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "+Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}
