package forward

import (
	"fmt"
	"math"
	"strconv"

	"github.com/tinylib/msgp/msgp"

	"github.com/fluentbit-go/fluentbit-go/event"
)

// appendIntegerTimes appends the entries of data as [seconds, record]: the time as an
// integer, metadata dropped (Fluent Bit's time_as_integer). Records are copied as they are.
// Damaged entries are left out and counted; err is the first fault.
func appendIntegerTimes(dst, data []byte) (out []byte, n, dropped int, err error) {
	for len(data) > 0 {
		rest, serr := event.SkipEntry(data)
		if serr != nil {
			// The rest cannot be split into entries any more.
			return dst, n, dropped + 1, serr
		}
		entry := data[:len(data)-len(rest)]
		data = rest
		sec, record, perr := splitEntry(entry)
		if perr != nil {
			dropped++
			if err == nil {
				err = perr
			}
			continue
		}
		dst = msgp.AppendArrayHeader(dst, 2)
		dst = msgp.AppendUint32(dst, sec)
		dst = append(dst, record...)
		n++
	}
	return dst, n, dropped, err
}

// splitEntry returns an entry's time in whole seconds and its record's bytes. The entry
// has been checked with event.SkipEntry.
func splitEntry(entry []byte) (sec uint32, record []byte, err error) {
	b, err := skipTime(entry)
	if err != nil {
		return 0, nil, err
	}
	t, _, err := event.ReadTime(timeBytes(entry))
	if err != nil {
		return 0, nil, err
	}
	s := t.Unix()
	if s < 0 || s > math.MaxUint32 {
		return 0, nil, fmt.Errorf("time %d out of range", s)
	}
	return uint32(s), b, nil
}

// timeBytes returns the bytes of an entry starting at its time.
func timeBytes(entry []byte) []byte {
	_, b, _ := msgp.ReadArrayHeaderBytes(entry)
	if msgp.NextType(b) == msgp.ArrayType {
		_, b, _ = msgp.ReadArrayHeaderBytes(b)
	}
	return b
}

// skipTime returns the bytes of an entry after its header: the record.
func skipTime(entry []byte) ([]byte, error) {
	_, b, err := msgp.ReadArrayHeaderBytes(entry)
	if err != nil {
		return nil, err
	}
	if msgp.NextType(b) == msgp.ArrayType {
		if _, b, err = msgp.ReadArrayHeaderBytes(b); err != nil {
			return nil, err
		}
		if b, err = msgp.Skip(b); err != nil { // time
			return nil, err
		}
		return msgp.Skip(b) // metadata
	}
	return msgp.Skip(b)
}

// keyBytes is the text a record key's value is hashed as: strings and binary as they
// are, numbers and booleans as written in JSON, anything else as Go prints it. It gives
// the same text however the sender encoded the value (fixstr or str8, int8 or uint32).
func keyBytes(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return dst
	case string:
		return append(dst, x...)
	case []byte:
		return append(dst, x...)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case float64:
		return strconv.AppendFloat(dst, x, 'g', -1, 64)
	case bool:
		return strconv.AppendBool(dst, x)
	}
	return fmt.Append(dst, v)
}
