package netserver

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/parser"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Format is how the tcp and udp inputs read a message: Fluent Bit's format key.
type Format int

// The formats.
const (
	FormatJSON Format = iota // concatenated JSON objects (or arrays)
	FormatNone               // text cut at the separator: {"log": line}
)

// ParseFormat reads the format key.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "json":
		return FormatJSON, nil
	case "none":
		return FormatNone, nil
	}
	return 0, config.KeyErrorf("format", "unknown format %q: want json or none", s)
}

// Unescape turns the escapes \n, \r, \t, \0 and \\ in a configured separator into their
// bytes, as Fluent Bit does for its separator key.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i == len(s)-1 {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '0':
			b.WriteByte(0)
		case '\\':
			b.WriteByte('\\')
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// ParseKB reads Fluent Bit's chunk_size and buffer_size keys of the tcp and udp inputs: a
// plain number counts kilobytes (32 is 32768 bytes), as in Fluent Bit; a number with a
// unit (64K, 1M) is that size.
func ParseKB(key, s string) (int, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 1<<20 {
			return 0, config.KeyErrorf(key, "%d: want 1 to 1048576 (kilobytes)", n)
		}
		return n << 10, nil
	}
	n, err := config.ParseSize(s)
	if err != nil || n <= 0 || n > 1<<30 {
		return 0, config.KeyErrorf(key, "bad size %q: want kilobytes (32) or a size (32K)", s)
	}
	return int(n), nil
}

// Records turns messages into records the way Fluent Bit's tcp and udp inputs do.
type Records struct {
	Format    Format
	Separator []byte // FormatNone: cuts a datagram into lines (streams are cut by Split)
	// SourceAddressKey, when set, is added to each record with the peer's address.
	SourceAddressKey string
	// Parser, when set with FormatNone, parses each line; a line it cannot parse is
	// kept as {"log": line} (logged).
	Parser *parser.Parser
	Tag    string
	Emit   pipeline.Emitter
	Log    *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Split returns the SplitFunc for stream connections.
func (r *Records) Split() func(data []byte, atEOF bool) (int, []byte, error) {
	if r.Format == FormatJSON {
		return SplitJSON
	}
	return SplitSeparator(r.Separator)
}

// Handle is the Handler: one message (a frame or a datagram) to records.
func (r *Records) Handle(m Message) error {
	if !m.Datagram {
		return r.one(m.Data, m.Remote)
	}
	var split func([]byte, bool) (int, []byte, error) = SplitJSON
	if r.Format == FormatNone {
		split = SplitSeparator(r.Separator)
	}
	data := m.Data
	for i := 0; len(data) > 0 && i <= len(m.Data); i++ {
		adv, tok, err := split(data, true)
		if err != nil || adv <= 0 {
			break
		}
		if tok != nil {
			if err := r.one(tok, m.Remote); err != nil {
				return err
			}
		}
		data = data[adv:]
	}
	return nil
}

func (r *Records) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// one emits the record of one JSON value or one line.
func (r *Records) one(data []byte, remote string) error {
	ev := event.Event{}
	if r.Format == FormatJSON {
		data = bytes.TrimSpace(data)
		if len(data) == 0 {
			return nil
		}
		rec, err := jsonRecord(data)
		if err != nil {
			r.Log.Warn("invalid JSON message, skipping", "remote", remote, "err", err, "data", string(clip(data, 120)))
			return nil
		}
		ev.Record = rec
	} else {
		if r.Separator == nil || bytes.Equal(r.Separator, []byte("\n")) {
			data = bytes.TrimSuffix(data, []byte("\r"))
		}
		if len(data) == 0 {
			return nil
		}
		if r.Parser != nil {
			pev, err := r.Parser.Parse(data)
			switch {
			case err == nil || errors.Is(err, parser.ErrTime):
				if err != nil {
					r.Log.Warn("time not parsed", "err", err)
				}
				ev = pev
			default:
				r.Log.Warn("line not parsed: kept as log", "parser", r.Parser.Name(), "err", err)
			}
		}
		if ev.Record == nil {
			ev.Record = event.Map{{Key: "log", Value: string(data)}}
		}
	}
	if ev.Time.IsZero() {
		ev.Time = r.now()
	}
	if r.SourceAddressKey != "" {
		ev.Record.Set(r.SourceAddressKey, remote)
	}
	return r.Emit.Emit(r.Tag, ev)
}

// jsonRecord is Fluent Bit's record for one JSON value: an object as it is, an array as
// {"msg": array}; anything else is refused.
func jsonRecord(data []byte) (event.Map, error) {
	switch data[0] {
	case '{':
		return event.RecordFromJSON(data)
	case '[':
		wrapped := make([]byte, 0, len(data)+8)
		wrapped = append(append(append(wrapped, `{"msg":`...), data...), '}')
		return event.RecordFromJSON(wrapped)
	}
	return nil, fmt.Errorf("not a JSON object or array")
}
