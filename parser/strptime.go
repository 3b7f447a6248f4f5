package parser

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// TimeFormat is a compiled strptime-style format, as Fluent Bit's time_format takes it.
// It is parsed directly (not converted to a Go layout) so that the directives behave as
// strptime's: numbers may have fewer digits than their width, whitespace in the format
// matches any run of whitespace, and %L reads a fraction of a second of any length.
//
// Directives: %Y %y %m %d %e %H %k %I %l %M %S %L %f %z %Z %b %h %B %a %A %p %j %s
// %T (%H:%M:%S) %D (%m/%d/%y) %F (%Y-%m-%d) %R (%H:%M) %r (%I:%M:%S %p) %n %t %%.
// %z accepts Z, +hh, +hhmm and +hh:mm; %Z accepts Z, UTC, GMT or any name made of letters,
// which counts as UTC (Go, like strptime, cannot resolve zone abbreviations reliably).
type TimeFormat struct {
	src   string
	steps []step
}

type step struct {
	verb byte   // 0: literal
	lit  string // for literals
}

// CompileTimeFormat checks format and compiles it.
func CompileTimeFormat(format string) (*TimeFormat, error) {
	if format == "" {
		return nil, errors.New("empty time format")
	}
	tf := &TimeFormat{src: format}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			tf.steps = append(tf.steps, step{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return nil, fmt.Errorf("time format %q ends with %%", format)
		}
		v := format[i]
		// Skip the E and O modifiers and a glibc width/flag, as strptime does.
		for (v == 'E' || v == 'O' || v == '-' || v == '_' || v == '0' || v == '^' || v == '#') && i+1 < len(format) {
			i++
			v = format[i]
		}
		switch v {
		case '%':
			lit.WriteByte('%')
			continue
		case 'n', 't':
			lit.WriteByte(' ')
			continue
		case 'T':
			flush()
			tf.steps = append(tf.steps, step{verb: 'H'}, step{lit: ":"}, step{verb: 'M'}, step{lit: ":"}, step{verb: 'S'})
			continue
		case 'D':
			flush()
			tf.steps = append(tf.steps, step{verb: 'm'}, step{lit: "/"}, step{verb: 'd'}, step{lit: "/"}, step{verb: 'y'})
			continue
		case 'F':
			flush()
			tf.steps = append(tf.steps, step{verb: 'Y'}, step{lit: "-"}, step{verb: 'm'}, step{lit: "-"}, step{verb: 'd'})
			continue
		case 'R':
			flush()
			tf.steps = append(tf.steps, step{verb: 'H'}, step{lit: ":"}, step{verb: 'M'})
			continue
		case 'r':
			flush()
			tf.steps = append(tf.steps, step{verb: 'I'}, step{lit: ":"}, step{verb: 'M'}, step{lit: ":"}, step{verb: 'S'}, step{lit: " "}, step{verb: 'p'})
			continue
		case 'Y', 'y', 'm', 'd', 'e', 'H', 'k', 'I', 'l', 'M', 'S', 'L', 'f', 'z', 'Z', 'b', 'h', 'B', 'a', 'A', 'p', 'j', 's':
			flush()
			tf.steps = append(tf.steps, step{verb: v})
		default:
			return nil, fmt.Errorf("time format %q: unsupported directive %%%c", format, v)
		}
	}
	flush()
	return tf, nil
}

// String returns the format as written.
func (tf *TimeFormat) String() string { return tf.src }

var (
	monthNames = []string{"january", "february", "march", "april", "may", "june", "july",
		"august", "september", "october", "november", "december"}
	dayNames = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
)

// Parse reads s. When the format has no zone (%z, %Z, %s) the time is in loc (UTC when
// nil). When it has no year, the year is now's in loc, as Fluent Bit does for syslog dates.
// Input left over after the format is ignored, as in Fluent Bit.
func (tf *TimeFormat) Parse(s string, loc *time.Location, now time.Time) (time.Time, error) {
	var (
		year, month, day        = -1, 1, 1
		yday                    = -1
		hour, minute, sec, nsec int
		pm, havePM              bool
		zoneOff                 int
		haveZone, haveEpoch     bool
		epoch                   int64
		pos                     int
		century2                bool
		neg                     bool
		n                       int
		ok                      bool
		twelveHour              bool
		errf                    = func(what string) error { return fmt.Errorf("time %q does not match %q: %s", s, tf.src, what) }
	)
	for _, st := range tf.steps {
		if st.verb == 0 {
			for j := 0; j < len(st.lit); j++ {
				c := st.lit[j]
				if isSpace(c) {
					for pos < len(s) && isSpace(s[pos]) {
						pos++
					}
					continue
				}
				if pos >= len(s) || s[pos] != c {
					return time.Time{}, errf(fmt.Sprintf("want %q at offset %d", c, pos))
				}
				pos++
			}
			continue
		}
		switch st.verb {
		case 'Y':
			neg = false
			if pos < len(s) && (s[pos] == '-' || s[pos] == '+') {
				neg = s[pos] == '-'
				pos++
			}
			if n, pos, ok = digits(s, pos, 4); !ok {
				return time.Time{}, errf("bad year")
			}
			if neg {
				n = -n
			}
			year = n
		case 'y':
			if n, pos, ok = digits(s, pos, 2); !ok {
				return time.Time{}, errf("bad year")
			}
			year, century2 = n, true
		case 'm':
			if month, pos, ok = digits(s, pos, 2); !ok || month < 1 || month > 12 {
				return time.Time{}, errf("bad month")
			}
		case 'd', 'e':
			for st.verb == 'e' && pos < len(s) && s[pos] == ' ' {
				pos++
			}
			if day, pos, ok = digits(s, pos, 2); !ok || day < 1 || day > 31 {
				return time.Time{}, errf("bad day")
			}
		case 'H', 'k':
			for st.verb == 'k' && pos < len(s) && s[pos] == ' ' {
				pos++
			}
			if hour, pos, ok = digits(s, pos, 2); !ok || hour > 23 {
				return time.Time{}, errf("bad hour")
			}
		case 'I', 'l':
			for st.verb == 'l' && pos < len(s) && s[pos] == ' ' {
				pos++
			}
			if hour, pos, ok = digits(s, pos, 2); !ok || hour < 1 || hour > 12 {
				return time.Time{}, errf("bad hour")
			}
			twelveHour = true
		case 'M':
			if minute, pos, ok = digits(s, pos, 2); !ok || minute > 59 {
				return time.Time{}, errf("bad minute")
			}
		case 'S':
			if sec, pos, ok = digits(s, pos, 2); !ok || sec > 60 {
				return time.Time{}, errf("bad second")
			}
			if sec == 60 {
				sec = 59 // leap second, as strptime tolerates it
			}
		case 'L', 'f':
			start := pos
			frac := 0
			for pos < len(s) && s[pos] >= '0' && s[pos] <= '9' {
				if pos-start < 9 {
					frac = frac*10 + int(s[pos]-'0')
				}
				pos++
			}
			if pos == start {
				return time.Time{}, errf("bad fraction of a second")
			}
			for k := pos - start; k < 9; k++ {
				frac *= 10
			}
			nsec = frac
		case 'z':
			if zoneOff, pos, ok = parseOffset(s, pos); !ok {
				return time.Time{}, errf("bad zone offset")
			}
			haveZone = true
		case 'Z':
			start := pos
			for pos < len(s) && (s[pos] >= 'A' && s[pos] <= 'Z' || s[pos] >= 'a' && s[pos] <= 'z') {
				pos++
			}
			if pos == start {
				return time.Time{}, errf("bad zone name")
			}
			zoneOff, haveZone = 0, true
		case 'b', 'h', 'B':
			if n, pos, ok = name(s, pos, monthNames); !ok {
				return time.Time{}, errf("bad month name")
			}
			month = n + 1
		case 'a', 'A':
			if _, pos, ok = name(s, pos, dayNames); !ok {
				return time.Time{}, errf("bad day name")
			}
		case 'p':
			if pos+2 > len(s) {
				return time.Time{}, errf("bad AM/PM")
			}
			switch strings.ToUpper(s[pos : pos+2]) {
			case "AM":
				pm = false
			case "PM":
				pm = true
			default:
				return time.Time{}, errf("bad AM/PM")
			}
			havePM = true
			pos += 2
		case 'j':
			if yday, pos, ok = digits(s, pos, 3); !ok || yday < 1 || yday > 366 {
				return time.Time{}, errf("bad day of the year")
			}
		case 's':
			neg = false
			if pos < len(s) && s[pos] == '-' {
				neg = true
				pos++
			}
			start := pos
			for pos < len(s) && s[pos] >= '0' && s[pos] <= '9' && pos-start < 18 {
				epoch = epoch*10 + int64(s[pos]-'0')
				pos++
			}
			if pos == start {
				return time.Time{}, errf("bad epoch seconds")
			}
			if neg {
				epoch = -epoch
			}
			haveEpoch = true
		}
	}
	// Text after the format is ignored, as Fluent Bit's strptime does: its docker parser
	// reads "...54.123456789Z" with "%Y-%m-%dT%H:%M:%S.%L".
	if haveEpoch {
		return time.Unix(epoch, int64(nsec)).UTC(), nil
	}
	if loc == nil {
		loc = time.UTC
	}
	if haveZone {
		loc = time.FixedZone("", zoneOff)
	}
	if year == -1 {
		year = now.In(loc).Year()
	} else if century2 {
		// POSIX: 69-99 are 1969-1999, 00-68 are 2000-2068.
		if year < 69 {
			year += 2000
		} else {
			year += 1900
		}
	}
	if twelveHour || havePM {
		hour %= 12
		if pm {
			hour += 12
		}
	}
	if yday > 0 {
		return time.Date(year, 1, yday, hour, minute, sec, nsec, loc), nil
	}
	if day > daysIn(year, month) {
		return time.Time{}, errf("day out of range for the month")
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc), nil
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// digits reads 1 to max decimal digits at pos.
func digits(s string, pos, max int) (int, int, bool) {
	n, start := 0, pos
	for pos < len(s) && pos-start < max && s[pos] >= '0' && s[pos] <= '9' {
		n = n*10 + int(s[pos]-'0')
		pos++
	}
	return n, pos, pos > start
}

// name reads a full or three-letter name from names, case-insensitively.
func name(s string, pos int, names []string) (int, int, bool) {
	for i, full := range names {
		if len(s)-pos >= len(full) && strings.EqualFold(s[pos:pos+len(full)], full) {
			return i, pos + len(full), true
		}
	}
	for i, full := range names {
		if len(s)-pos >= 3 && strings.EqualFold(s[pos:pos+3], full[:3]) {
			return i, pos + 3, true
		}
	}
	return 0, pos, false
}

// parseOffset reads Z, +hh, +hhmm or +hh:mm and returns seconds east of UTC.
func parseOffset(s string, pos int) (int, int, bool) {
	if pos < len(s) && (s[pos] == 'Z' || s[pos] == 'z') {
		return 0, pos + 1, true
	}
	if pos >= len(s) || (s[pos] != '+' && s[pos] != '-') {
		return 0, pos, false
	}
	sign := 1
	if s[pos] == '-' {
		sign = -1
	}
	pos++
	if pos+2 > len(s) {
		return 0, pos, false
	}
	h, p, ok := digits(s, pos, 2)
	if !ok || p != pos+2 || h > 23 {
		return 0, pos, false
	}
	pos = p
	m := 0
	if pos < len(s) && s[pos] == ':' {
		pos++
	}
	if pos+2 <= len(s) && s[pos] >= '0' && s[pos] <= '9' {
		if m, p, ok = digits(s, pos, 2); !ok || p != pos+2 || m > 59 {
			return 0, pos, false
		}
		pos = p
	}
	return sign * (h*3600 + m*60), pos, true
}

// ParseOffset reads a time_offset value (+0900, -05:30, Z, UTC) into seconds east of UTC.
func ParseOffset(v string) (int, error) {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "utc") || strings.EqualFold(v, "gmt") {
		return 0, nil
	}
	off, pos, ok := parseOffset(v, 0)
	if !ok || pos != len(v) {
		return 0, fmt.Errorf("bad time offset %q: want +hhmm, -hh:mm or Z", v)
	}
	return off, nil
}
