// Package recordmodifier (directory record_modifier) appends fixed fields to records and
// removes fields from them, like Fluent Bit's record_modifier filter.
//
//	[FILTER]
//	    Name          record_modifier
//	    Match         *
//	    Record        hostname ${HOSTNAME}
//	    Record        product Awesome_Tool
//	    Remove_key    Swap.total
//	    Uuid_key      uuid
//
// Keys:
//
//   - record KEY VALUE (repeatable): set KEY to the string VALUE. VALUE is the rest of the
//     line after the spaces following KEY, so it may contain spaces; a VALUE (or KEY)
//     wrapped in double quotes loses them (\" and \\ escape inside).
//   - remove_key KEY (repeatable): remove KEY.
//   - allowlist_key KEY (repeatable; alias whitelist_key): remove every key not listed.
//   - uuid_key KEY: set KEY to a fresh random UUID (version 4) on every record.
//
// remove_key and allowlist_key exclude each other (a configuration error, as in Fluent Bit). Their
// keys are top-level keys compared without regard to ASCII case, and a trailing '*' makes one
// a prefix (Swap* matches Swap.total), which is what Fluent Bit's implementation does.
//
// Order, as Fluent Bit applies it: first remove_key / allowlist_key filter the record's own
// keys, then the record entries are added in the order configured, then the uuid_key. So
// added fields are never removed by the key lists, and a record entry whose KEY the record
// already has replaces the value (Fluent Bit appends a duplicate key instead, which every
// reader resolves to the last one: the same result).
//
// Values are added as strings, as Fluent Bit does; environment variables such as
// ${HOSTNAME} are expanded by the configuration reader, not here.
package recordmodifier

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// RecordModifier is the record_modifier filter. Set the fields (or let the engine decode
// them), then call Init.
type RecordModifier struct {
	Record       []string `conf:"record"`                      // "KEY VALUE", one per occurrence
	RemoveKey    []string `conf:"remove_key"`                  // keys to remove
	AllowlistKey []string `conf:"allowlist_key,whitelist_key"` // keys to keep, all others removed
	UUIDKey      string   `conf:"uuid_key"`                    // key for a per-record UUID

	records []field
	keys    *keySet // remove or allow list; nil when neither is set
	allow   bool    // keys is an allowlist
}

// field is one record entry, its value boxed once so that setting it does not allocate.
type field struct {
	key string
	val any
}

func init() {
	pipeline.RegisterFilter("record_modifier", func() pipeline.Filter { return &RecordModifier{} })
}

// Validate parses the entries, without side effects, so that mistakes show up when the
// configuration is loaded (and at --dry-run). Errors are config.KeyErrorf errors naming
// the key and the value at fault. It may be called more than once.
func (m *RecordModifier) Validate() error {
	if len(m.RemoveKey) > 0 && len(m.AllowlistKey) > 0 {
		return config.KeyErrorf("remove_key", "remove_key and allowlist_key exclude each other")
	}
	records := make([]field, 0, len(m.Record))
	for _, v := range m.Record {
		k, val, err := parseRecord(v)
		if err != nil {
			return config.KeyErrorf("record", "%q: %v", v, err)
		}
		records = append(records, field{key: k, val: val})
	}
	var keys *keySet
	list, name, allow := m.RemoveKey, "remove_key", false
	if len(m.AllowlistKey) > 0 {
		list, name, allow = m.AllowlistKey, "allowlist_key", true
	}
	if len(list) > 0 {
		ks, err := newKeySet(list)
		if err != nil {
			return config.KeyErrorf(name, "%v", err)
		}
		keys = ks
	}
	m.records, m.keys, m.allow = records, keys, allow
	return nil
}

// Init validates the keys again (the fields may have been set since Configure).
func (m *RecordModifier) Init(_ context.Context, _ pipeline.Env) error {
	return m.Validate()
}

// parseRecord splits "KEY VALUE".
func parseRecord(v string) (key, val string, err error) {
	key, rest, err := token(v)
	if err != nil {
		return "", "", err
	}
	if key == "" {
		return "", "", errors.New("want KEY VALUE, got no key")
	}
	rest = strings.TrimLeft(rest, " \t")
	if rest == "" {
		return "", "", errors.New("want KEY VALUE, got no value")
	}
	if rest[0] == '"' {
		q, after, err := token(rest)
		if err != nil {
			return "", "", err
		}
		if strings.TrimSpace(after) == "" {
			return key, q, nil
		}
		// A quoted word followed by more text: the value is the whole rest, as written.
	}
	return key, rest, nil
}

// token reads one word from the front of s, which may be double-quoted.
func token(s string) (tok, rest string, err error) {
	s = strings.TrimLeft(s, " \t")
	if s == "" || s[0] != '"' {
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			return s, "", nil
		}
		return s[:i], s[i:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), s[i+1:], nil
		case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated quote")
}

// Filter changes ev.Record in place. It allocates only for a UUID and for record growth.
// As in Fluent Bit, removed keys leave the others in order, and a Record key replaces a
// key of that name by appending it at the end.
func (m *RecordModifier) Filter(_ string, ev *event.Event) (pipeline.Verdict, error) {
	rec := ev.Record
	if m.keys != nil {
		rec = slices.DeleteFunc(rec, func(kv event.KV) bool { return m.keys.has(kv.Key) != m.allow })
	}
	if len(m.records) == 0 && m.UUIDKey == "" {
		ev.Record = rec
		return pipeline.Keep, nil
	}
	for i := range m.records {
		rec.Delete(m.records[i].key)
		rec = append(rec, event.KV{Key: m.records[i].key, Value: m.records[i].val})
	}
	if m.UUIDKey != "" {
		rec.Delete(m.UUIDKey)
		rec = append(rec, event.KV{Key: m.UUIDKey, Value: newUUID()})
	}
	ev.Record = rec
	return pipeline.Keep, nil
}

// newUUID returns a random (version 4, RFC 9562) UUID. The runtime's ChaCha8 generator is
// seeded from the OS and needs no lock or system call per record.
func newUUID() string {
	var u [16]byte
	a, b := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		u[i], u[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant 10
	const hexdig = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexdig[c>>4], hexdig[c&0x0f]
		j += 2
	}
	return string(s[:])
}

// keySet matches record keys against a remove or allow list the way Fluent Bit does:
// ASCII-case-insensitive, with a trailing '*' meaning "starts with".
type keySet struct {
	exact    map[string]struct{} // lower-cased
	prefixes []string            // lower-cased, without the '*'
}

// maxFoldKey bounds the stack buffer used to lower-case a key for lookup; longer keys take
// the slow path.
const maxFoldKey = 128

func newKeySet(keys []string) (*keySet, error) {
	ks := &keySet{exact: map[string]struct{}{}}
	for _, k := range keys {
		if k == "" {
			return nil, errors.New(`"": empty key`)
		}
		if strings.HasSuffix(k, "*") {
			ks.prefixes = append(ks.prefixes, lowerASCII(k[:len(k)-1]))
			continue
		}
		ks.exact[lowerASCII(k)] = struct{}{}
	}
	return ks, nil
}

func (ks *keySet) has(k string) bool {
	if len(ks.exact) > 0 {
		if len(k) <= maxFoldKey {
			var buf [maxFoldKey]byte
			b := buf[:len(k)]
			for i := 0; i < len(k); i++ {
				b[i] = toLower(k[i])
			}
			if _, ok := ks.exact[string(b)]; ok { // no allocation: the compiler looks up b in place
				return true
			}
		} else {
			for e := range ks.exact {
				if equalFoldASCII(k, e) {
					return true
				}
			}
		}
	}
	for _, p := range ks.prefixes {
		if len(k) >= len(p) && equalFoldASCII(k[:len(p)], p) {
			return true
		}
	}
	return false
}

func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i := range b {
		b[i] = toLower(b[i])
	}
	return string(b)
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if toLower(a[i]) != toLower(b[i]) {
			return false
		}
	}
	return true
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Filter      = (*RecordModifier)(nil)
	_ pipeline.Validator   = (*RecordModifier)(nil)
	_ pipeline.Initializer = (*RecordModifier)(nil)
)
