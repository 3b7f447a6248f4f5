package event

import (
	"bytes"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/tinylib/msgp/msgp"
)

// KV is one key and its value in a Map. It is an alias of a plain struct type so that Map
// literals can list pairs without field names ({"host", "gw1"}) and stay go vet clean in
// every package (vet's composites check asks for field names only on named struct types
// of other packages).
type KV = struct {
	Key   string
	Value any
}

// Map is a record, or a map inside one, that keeps its keys in the order they came: the order
// of the msgpack or JSON it was read from, with keys added later at the end. Fluent Bit keeps
// records this way, so column outputs (CSV, LTSV) and diffs see the same order every time.
//
// A Map is a slice of pairs, so a literal reads like a JSON object:
//
//	rec := event.Map{{"host", "gw1"}, {"level", "info"}}
//	rec.Set("env", "prod") // appended: host, level, env
//
// Lookups are linear, which for the handful of keys a record has is cheaper than hashing.
// Keys are expected to be unique; a Map decoded from msgpack that repeats a key keeps both
// pairs as they came (as Fluent Bit does), Get sees the first and Delete removes all.
// Nested maps are Maps too; ToMap and FromMap convert from and to Go maps.
type Map []KV

// Len is the number of pairs.
func (m Map) Len() int { return len(m) }

// Index is the position of key, or -1.
func (m Map) Index(key string) int {
	for i := range m {
		if m[i].Key == key {
			return i
		}
	}
	return -1
}

// Get is the value of key and whether it is present.
func (m Map) Get(key string) (any, bool) {
	if i := m.Index(key); i >= 0 {
		return m[i].Value, true
	}
	return nil, false
}

// Value is the value of key, nil when absent: Get without the second result, for where a
// missing key and a nil value mean the same.
func (m Map) Value(key string) any {
	if i := m.Index(key); i >= 0 {
		return m[i].Value
	}
	return nil
}

// Has reports whether key is present.
func (m Map) Has(key string) bool { return m.Index(key) >= 0 }

// String is the value of key when it is a string (or bytes), and whether it was.
func (m Map) String(key string) (string, bool) {
	v, _ := m.Get(key)
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

// Set sets key to v: in place when present, keeping its position, else appended at the end.
func (m *Map) Set(key string, v any) {
	if i := m.Index(key); i >= 0 {
		(*m)[i].Value = v
		return
	}
	*m = append(*m, KV{key, v})
}

// Add appends key and v without looking for key first: for building a record whose keys are
// known to be unique.
func (m *Map) Add(key string, v any) { *m = append(*m, KV{key, v}) }

// Delete removes key (every pair with that key), keeping the others in order. It reports
// whether anything was removed.
func (m *Map) Delete(key string) bool {
	n := len(*m)
	*m = slices.DeleteFunc(*m, func(kv KV) bool { return kv.Key == key })
	clear((*m)[len(*m):n]) // let the removed values be collected
	return len(*m) != n
}

// Rename changes the key old to new in place, keeping its position. A pair already named new
// is removed first. It reports whether old was present.
func (m *Map) Rename(old, new string) bool {
	i := m.Index(old)
	if i < 0 {
		return false
	}
	if old == new {
		return true
	}
	(*m)[i].Key = new
	for j := len(*m) - 1; j >= 0; j-- {
		if j != i && (*m)[j].Key == new {
			*m = slices.Delete(*m, j, j+1)
			clear((*m)[len(*m) : len(*m)+1])
		}
	}
	return true
}

// All ranges over the pairs in order.
func (m Map) All() iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		for _, kv := range m {
			if !yield(kv.Key, kv.Value) {
				return
			}
		}
	}
}

// Keys is the keys in order.
func (m Map) Keys() []string {
	keys := make([]string, len(m))
	for i := range m {
		keys[i] = m[i].Key
	}
	return keys
}

// Clone is a deep copy: nested Maps, []any and []byte are copied, so the copy can be changed
// without touching m.
func (m Map) Clone() Map {
	if m == nil {
		return nil
	}
	c := make(Map, len(m))
	for i, kv := range m {
		c[i] = KV{kv.Key, cloneValue(kv.Value)}
	}
	return c
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case Map:
		return x.Clone()
	case []any:
		c := make([]any, len(x))
		for i := range x {
			c[i] = cloneValue(x[i])
		}
		return c
	case []byte:
		return bytes.Clone(x)
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, v := range x {
			c[k] = cloneValue(v)
		}
		return c
	}
	return v
}

// ToMap converts m to a Go map, deeply: nested Maps become map[string]any. Order is lost; for
// a repeated key the last pair wins.
func (m Map) ToMap() map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for _, kv := range m {
		out[kv.Key] = toGo(kv.Value)
	}
	return out
}

func toGo(v any) any {
	switch x := v.(type) {
	case Map:
		return x.ToMap()
	case []any:
		c := make([]any, len(x))
		for i := range x {
			c[i] = toGo(x[i])
		}
		return c
	}
	return v
}

// FromMap converts a Go map to a Map, deeply (nested map[string]any become Maps). A Go map has
// no order, so keys are sorted to make the result the same every time.
func FromMap(src map[string]any) Map {
	if src == nil {
		return nil
	}
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	m := make(Map, len(keys))
	for i, k := range keys {
		m[i] = KV{k, fromGo(src[k])}
	}
	return m
}

func fromGo(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return FromMap(x)
	case []any:
		c := make([]any, len(x))
		for i := range x {
			c[i] = fromGo(x[i])
		}
		return c
	}
	return v
}

// AppendOrderedMap appends m as a msgpack map, its pairs in order.
func AppendOrderedMap(dst []byte, m Map) ([]byte, error) {
	dst = msgp.AppendMapHeader(dst, uint32(len(m)))
	var err error
	for _, kv := range m {
		dst = msgp.AppendString(dst, kv.Key)
		if dst, err = AppendValue(dst, kv.Value); err != nil {
			return dst, fmt.Errorf("key %q: %w", kv.Key, err)
		}
	}
	return dst, nil
}

// MarshalJSON writes m as a JSON object with its keys in order (see AppendJSON for values).
func (m Map) MarshalJSON() ([]byte, error) { return AppendJSON(nil, m), nil }

// UnmarshalJSON reads a JSON object keeping its key order; numbers as RecordFromJSON makes
// them, nested objects as Maps.
func (m *Map) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil // encoding/json's convention: null leaves the value as it is
	}
	x, err := RecordFromJSON(data)
	if err != nil {
		return err
	}
	*m = x
	return nil
}

// MapFromJSON parses one JSON object into a Map, keeping key order. It is RecordFromJSON.
func MapFromJSON(data []byte) (Map, error) { return RecordFromJSON(data) }

// GoString prints m the way a Go literal would read, for test failures.
func (m Map) GoString() string {
	var b strings.Builder
	b.WriteString("event.Map{")
	for i, kv := range m {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{%q, %#v}", kv.Key, kv.Value)
	}
	b.WriteString("}")
	return b.String()
}
