package regex

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// translation is one Onigmo pattern rewritten for the two engines.
type translation struct {
	re2 strings.Builder // Go regexp syntax; meaningful only when !needBT
	net strings.Builder // regexp2 (.NET) syntax
	// needBT: the pattern uses what RE2 cannot do (look-around, atomic groups,
	// back-references, possessive quantifiers, \Z, \G).
	needBT bool
}

// atom is where the last atom starts in both outputs, for quantifiers that must wrap it.
type atom struct{ re2, net int }

// translator reads an Onigmo (Ruby syntax) pattern.
type translator struct {
	src   string
	i     int
	out   translation
	stack []atom // open groups
	last  atom   // start of the last complete atom; -1 when none

	// Repeat weights: how many times an atom can be entered, the product of the counts
	// of nested intervals. regexp2 checks its timeout only when it backtracks, so a
	// pattern like ((){1000}){1000} would run unchecked; the product is capped at
	// Onigmo's limit for one count.
	lastW  int64   // the last atom's weight
	curMax int64   // the largest weight in the group being read
	maxes  []int64 // curMax of the enclosing groups
}

// maxRepeat is Onigmo's ONIG_MAX_REPEAT_NUM, here the limit of nested counts' product.
const maxRepeat = 100000

func (t *translator) atomWeight(w int64) {
	t.lastW = w
	t.curMax = max(t.curMax, w)
}

// unsupportedError names an Onigmo construct neither engine has.
type unsupportedError struct {
	what string
	at   int
}

func (e *unsupportedError) Error() string {
	return fmt.Sprintf("%s at offset %d is not supported", e.what, e.at)
}

func translate(src string) (*translation, error) {
	if !utf8.ValidString(src) {
		return nil, fmt.Errorf("pattern is not valid UTF-8")
	}
	t := &translator{src: src, last: atom{-1, -1}, lastW: 1, curMax: 1}
	if err := t.run(); err != nil {
		return nil, err
	}
	return &t.out, nil
}

func (t *translator) both(s string) {
	t.out.re2.WriteString(s)
	t.out.net.WriteString(s)
}

func (t *translator) mark() atom { return atom{t.out.re2.Len(), t.out.net.Len()} }

func (t *translator) peek(off int) byte {
	if t.i+off < len(t.src) {
		return t.src[t.i+off]
	}
	return 0
}

func (t *translator) unsupported(what string) error {
	return &unsupportedError{what: what, at: t.i}
}

func (t *translator) run() error {
	for t.i < len(t.src) {
		c := t.src[t.i]
		switch c {
		case '\\':
			m := t.mark()
			if err := t.escape(); err != nil {
				return err
			}
			t.last = m
			t.atomWeight(1)
		case '[':
			m := t.mark()
			if err := t.class(); err != nil {
				return err
			}
			t.last = m
			t.atomWeight(1)
		case '(':
			if err := t.group(); err != nil {
				return err
			}
		case ')':
			if len(t.stack) == 0 {
				return fmt.Errorf("unmatched ) at offset %d", t.i)
			}
			t.last = t.stack[len(t.stack)-1]
			t.stack = t.stack[:len(t.stack)-1]
			w := t.curMax
			t.curMax = t.maxes[len(t.maxes)-1]
			t.maxes = t.maxes[:len(t.maxes)-1]
			t.atomWeight(w)
			t.both(")")
			t.i++
		case '*', '+', '?':
			t.both(string(c))
			t.i++
			t.quantSuffix(true)
		case '{':
			if n, hi, ok := t.interval(); ok {
				t.i += n
				w := t.lastW * max(hi, 1)
				if w > maxRepeat {
					return fmt.Errorf("repeat counts too large (nested product over %d) at offset %d", maxRepeat, t.i)
				}
				t.atomWeight(w)
				// Ruby syntax: a{n,m}+ is (?:a{n,m})+, not possessive.
				if t.peek(0) == '+' && t.last.re2 >= 0 {
					t.wrapLast("(?:", ")")
				} else {
					t.quantSuffix(false)
				}
				continue
			}
			t.last = t.mark()
			t.atomWeight(1)
			t.both(`\{`)
			t.i++
		case '|', '^', '$':
			t.both(string(c))
			t.i++
			t.last = atom{-1, -1}
			t.lastW = 1
		default:
			r, n := utf8.DecodeRuneInString(t.src[t.i:])
			t.last = t.mark()
			t.atomWeight(1)
			t.both(string(r))
			t.i += n
		}
	}
	if len(t.stack) > 0 {
		return fmt.Errorf("missing ) for the group opened earlier")
	}
	return nil
}

// quantSuffix reads what follows a quantifier: '?' (lazy) passes; '+' (possessive)
// makes the last atom and its quantifier an atomic group for the backtracking engine.
func (t *translator) quantSuffix(possessiveOK bool) {
	switch t.peek(0) {
	case '?':
		t.both("?")
		t.i++
	case '+':
		if !possessiveOK || t.last.net < 0 {
			return
		}
		t.i++
		t.out.needBT = true
		net := t.out.net.String()
		t.out.net.Reset()
		t.out.net.WriteString(net[:t.last.net])
		t.out.net.WriteString("(?>")
		t.out.net.WriteString(net[t.last.net:])
		t.out.net.WriteString(")")
	}
}

// wrapLast wraps the last atom and what follows it so far in pre...post in both outputs.
func (t *translator) wrapLast(pre, post string) {
	re2, net := t.out.re2.String(), t.out.net.String()
	t.out.re2.Reset()
	t.out.net.Reset()
	t.out.re2.WriteString(re2[:t.last.re2] + pre + re2[t.last.re2:] + post)
	t.out.net.WriteString(net[:t.last.net] + pre + net[t.last.net:] + post)
}

var intervalRE = regexp.MustCompile(`^\{(\d*)(,?)(\d*)\}`)

// interval reads {n}, {n,}, {n,m} or {,m} (Ruby: {0,m}) and writes it; it returns the
// bytes read, or false when the brace is a literal.
func (t *translator) interval() (n int, hi int64, ok bool) {
	m := intervalRE.FindStringSubmatch(t.src[t.i:])
	if m == nil || (m[1] == "" && m[3] == "") || (m[1] == "" && m[2] == "") {
		return 0, 0, false
	}
	lo := m[1]
	if lo == "" {
		lo = "0"
	}
	bound := m[3]
	if bound == "" {
		bound = lo
	}
	if len(bound) > 6 {
		hi = maxRepeat + 1
	} else {
		hi, _ = strconv.ParseInt(bound, 10, 64)
	}
	t.both("{" + lo + m[2] + m[3] + "}")
	return len(m[0]), hi, true
}

func (t *translator) group() error {
	rest := t.src[t.i:]
	open := t.mark()
	push := func(re2, net string, n int) {
		t.stack = append(t.stack, open)
		t.maxes = append(t.maxes, t.curMax)
		t.curMax = 1
		t.out.re2.WriteString(re2)
		t.out.net.WriteString(net)
		t.i += n
		t.last = atom{-1, -1}
	}
	switch {
	case !strings.HasPrefix(rest, "(?"):
		push("(", "(", 1)
	case strings.HasPrefix(rest, "(?#"):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return fmt.Errorf("unterminated comment at offset %d", t.i)
		}
		t.i += end + 1
	case strings.HasPrefix(rest, "(?:"):
		push("(?:", "(?:", 3)
	case strings.HasPrefix(rest, "(?="), strings.HasPrefix(rest, "(?!"), strings.HasPrefix(rest, "(?>"):
		t.out.needBT = true
		push(rest[:3], rest[:3], 3)
	case strings.HasPrefix(rest, "(?<="), strings.HasPrefix(rest, "(?<!"):
		t.out.needBT = true
		push(rest[:4], rest[:4], 4)
	case strings.HasPrefix(rest, "(?<"), strings.HasPrefix(rest, "(?'"), strings.HasPrefix(rest, "(?P<"):
		start := 3
		closer := byte('>')
		if rest[2] == '\'' {
			closer = '\''
		} else if rest[2] == 'P' {
			start = 4
		}
		end := strings.IndexByte(rest[start:], closer)
		if end < 0 {
			return fmt.Errorf("unterminated group name at offset %d", t.i)
		}
		name := rest[start : start+end]
		if !validName(name) {
			return fmt.Errorf("bad group name %q at offset %d", name, t.i)
		}
		push("(?P<"+name+">", "(?<"+name+">", start+end+1)
	case strings.HasPrefix(rest, "(?~"):
		return t.unsupported("the absent operator (?~...)")
	case strings.HasPrefix(rest, "(?("):
		return t.unsupported("a conditional (?(cond)...)")
	default:
		// Options: (?imx-imx) or (?imx-imx:...). Ruby's m is "dot matches newline",
		// which is s in both engines; ^ and $ always match at lines in Ruby.
		j := 2
		var flags strings.Builder
		for j < len(rest) && rest[j] != ')' && rest[j] != ':' {
			switch rest[j] {
			case 'i', 'x', '-':
				flags.WriteByte(rest[j])
			case 'm':
				flags.WriteByte('s')
			default:
				return t.unsupported(fmt.Sprintf("the option %q", rest[j]))
			}
			j++
		}
		if j >= len(rest) {
			return fmt.Errorf("unterminated group at offset %d", t.i)
		}
		if strings.Contains(flags.String(), "x") {
			t.out.needBT = true // RE2 has no extended mode
		}
		if rest[j] == ')' {
			t.both("(?" + flags.String() + ")")
			t.i += j + 1
			return nil
		}
		g := "(?" + flags.String() + ":"
		push(g, g, j+1)
	}
	return nil
}

func validName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		if !(r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}

// escape translates a backslash sequence outside a class.
func (t *translator) escape() error {
	if t.i+1 >= len(t.src) {
		return fmt.Errorf("trailing backslash")
	}
	c := t.src[t.i+1]
	switch c {
	case 'h':
		t.both("[0-9a-fA-F]")
		t.i += 2
	case 'H':
		t.both("[^0-9a-fA-F]")
		t.i += 2
	case 'd', 'D', 'w', 'W', 's', 'S', 'b', 'B', 'A', 'z', 't', 'n', 'r', 'f', 'v', 'a':
		t.both(t.src[t.i : t.i+2])
		t.i += 2
	case 'Z':
		// regexp2's RE2 mode reads \Z as \z: spell Onigmo's "end, or before a final newline".
		t.out.needBT = true
		t.out.net.WriteString(`(?=\n?\z)`)
		t.i += 2
	case 'G':
		t.out.needBT = true
		t.out.net.WriteString(`\G`)
		t.i += 2
	case 'R':
		t.both("(?:\r\n|[\n\v\f\r\u0085\u2028\u2029])")
		t.i += 2
	case 'N':
		t.both(`[^\n]`)
		t.i += 2
	case 'O':
		t.both(`(?s:.)`)
		t.i += 2
	case 'k':
		return t.backrefName()
	case 'g':
		return t.unsupported(`a subexpression call \g`)
	case 'K':
		return t.unsupported(`\K (keep)`)
	case 'X', 'y', 'Y':
		return t.unsupported(`\` + string(c))
	case 'p', 'P':
		set, neg, n, err := t.property(t.i)
		if err != nil {
			return err
		}
		if neg {
			t.both("[^" + set + "]")
		} else {
			t.both("[" + set + "]")
		}
		t.i += n
	case '1', '2', '3', '4', '5', '6', '7', '8', '9':
		j := t.i + 1
		for j < len(t.src) && t.src[j] >= '0' && t.src[j] <= '9' {
			j++
		}
		t.out.needBT = true
		t.out.net.WriteString(t.src[t.i:j])
		t.i = j
	default:
		r, n, err := t.charEscape(t.i)
		if err != nil {
			return err
		}
		if n == 0 { // an escaped literal
			r, n = utf8.DecodeRuneInString(t.src[t.i+1:])
			n++
		}
		t.both(regexp.QuoteMeta(string(r)))
		t.i += n
	}
	return nil
}

func (t *translator) backrefName() error {
	rest := t.src[t.i+2:]
	if len(rest) == 0 || (rest[0] != '<' && rest[0] != '\'') {
		return fmt.Errorf(`\k without a name at offset %d`, t.i)
	}
	closer := byte('>')
	if rest[0] == '\'' {
		closer = '\''
	}
	end := strings.IndexByte(rest[1:], closer)
	if end < 0 {
		return fmt.Errorf(`unterminated \k name at offset %d`, t.i)
	}
	name := rest[1 : 1+end]
	if _, err := strconv.Atoi(name); err != nil && !validName(name) {
		return t.unsupported(fmt.Sprintf(`the back-reference \k<%s>`, name))
	}
	t.out.needBT = true
	t.out.net.WriteString(`\k<` + name + `>`)
	t.i += 2 + end + 2
	return nil
}

// charEscape reads an escape at src[at] that stands for one code point: \uHHHH,
// \xHH, \x{H...}, \o{...}, octal \0nn, \e, \cX. n is 0 when the escape is not one of
// these.
func (t *translator) charEscape(at int) (r rune, n int, err error) {
	s := t.src[at:]
	hex := func(digits string) (rune, error) {
		v, err := strconv.ParseUint(digits, 16, 32)
		if err != nil || v > unicode.MaxRune || (v >= 0xD800 && v <= 0xDFFF) {
			return 0, fmt.Errorf("bad code point %q at offset %d", digits, at)
		}
		return rune(v), nil
	}
	switch s[1] {
	case 'u':
		if len(s) < 6 {
			return 0, 0, fmt.Errorf(`\u needs 4 hex digits at offset %d`, at)
		}
		r, err := hex(s[2:6])
		return r, 6, err
	case 'x':
		if len(s) > 2 && s[2] == '{' {
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return 0, 0, fmt.Errorf(`unterminated \x{ at offset %d`, at)
			}
			r, err := hex(strings.TrimSpace(s[3:end]))
			return r, end + 1, err
		}
		j := 2
		for j < len(s) && j < 4 && isHex(s[j]) {
			j++
		}
		if j == 2 {
			return 0, 0, fmt.Errorf(`\x needs hex digits at offset %d`, at)
		}
		r, err := hex(s[2:j])
		return r, j, err
	case 'o':
		if len(s) > 2 && s[2] == '{' {
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return 0, 0, fmt.Errorf(`unterminated \o{ at offset %d`, at)
			}
			v, err := strconv.ParseUint(s[3:end], 8, 32)
			if err != nil || v > unicode.MaxRune {
				return 0, 0, fmt.Errorf("bad octal code point at offset %d", at)
			}
			return rune(v), end + 1, nil
		}
	case '0':
		j := 2
		for j < len(s) && j < 4 && s[j] >= '0' && s[j] <= '7' {
			j++
		}
		v, _ := strconv.ParseUint("0"+s[2:j], 8, 32)
		return rune(v), j, nil
	case 'e':
		return 0x1B, 2, nil
	case 'c':
		if len(s) < 3 || s[2] >= utf8.RuneSelf {
			return 0, 0, fmt.Errorf(`\c needs a character at offset %d`, at)
		}
		return rune(s[2] & 0x1F), 3, nil
	case 'C', 'M':
		return 0, 0, t.unsupported(`\` + string(s[1]) + `- (control/meta) escapes`)
	}
	if s[1] >= 'a' && s[1] <= 'z' || s[1] >= 'A' && s[1] <= 'Z' {
		// Onigmo reads an unknown letter escape as the letter.
		return rune(s[1]), 2, nil
	}
	return 0, 0, nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// property reads \p{Name}, \p{^Name} or \P{Name} at src[at] and returns the class body
// (without brackets) it means, whether it is negated, and the bytes read.
func (t *translator) property(at int) (set string, neg bool, n int, err error) {
	s := t.src[at:]
	neg = s[1] == 'P'
	if len(s) < 3 || s[2] != '{' {
		return "", false, 0, fmt.Errorf(`\%c needs {Name} at offset %d`, s[1], at)
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return "", false, 0, fmt.Errorf(`unterminated \%c{ at offset %d`, s[1], at)
	}
	name := s[3:end]
	if strings.HasPrefix(name, "^") {
		neg = !neg
		name = name[1:]
	}
	set, ok := propertySet(name)
	if !ok {
		return "", false, 0, fmt.Errorf("unknown character property %q at offset %d", name, at)
	}
	return set, neg, end + 1, nil
}

// posixSets are Onigmo's POSIX bracket and property names, for UTF-8 text (Unicode
// meaning), as class bodies both engines read.
var posixSets = map[string]string{
	"alpha":   `\p{L}\p{M}`,
	"digit":   `\p{Nd}`,
	"alnum":   `\p{L}\p{M}\p{Nd}`,
	"upper":   `\p{Lu}`,
	"lower":   `\p{Ll}`,
	"space":   "\\t\\n\\v\\f\\r \u0085\\p{Z}",
	"blank":   `\t\p{Zs}`,
	"punct":   "\\p{P}$+<=>\\^`|~",
	"cntrl":   `\p{Cc}`,
	"graph":   `\p{L}\p{M}\p{N}\p{P}\p{S}\p{Cf}`,
	"print":   `\p{L}\p{M}\p{N}\p{P}\p{S}\p{Cf}\p{Zs}`,
	"xdigit":  `0-9A-Fa-f`,
	"word":    `\p{L}\p{M}\p{N}\p{Pc}`,
	"ascii":   `\x00-\x7F`,
	"any":     `\s\S`,
	"newline": `\n`,
}

// unicodeNames maps lower-cased category and script names to Go's spelling.
var unicodeNames = func() map[string]string {
	m := map[string]string{}
	for k := range unicode.Categories {
		m[strings.ToLower(k)] = k
	}
	for k := range unicode.Scripts {
		m[strings.ToLower(k)] = k
	}
	return m
}()

func propertySet(name string) (string, bool) {
	key := strings.ToLower(strings.NewReplacer("_", "", " ", "", "-", "").Replace(name))
	if s, ok := posixSets[key]; ok {
		return s, true
	}
	if k, ok := unicodeNames[strings.ToLower(name)]; ok {
		return `\p{` + k + `}`, true
	}
	if k, ok := unicodeNames[key]; ok {
		return `\p{` + k + `}`, true
	}
	return "", false
}

// class translates a bracket expression. Nested classes that are not negated are
// flattened (Onigmo's union); intersections (&&) and negated nested classes are not
// supported.
func (t *translator) class() error {
	start := t.i
	t.i++
	neg := false
	if t.peek(0) == '^' {
		neg = true
		t.i++
	}
	var body strings.Builder // shared by both engines
	var re2Only, netOnly strings.Builder
	first := true
	if err := t.classBody(&body, &re2Only, &netOnly, &first, 0); err != nil {
		return err
	}
	if body.Len() == 0 && re2Only.Len() == 0 {
		return fmt.Errorf("empty character class at offset %d", start)
	}
	open := "["
	if neg {
		open = "[^"
	}
	t.out.re2.WriteString(open + body.String() + re2Only.String() + "]")
	t.out.net.WriteString(open + body.String() + netOnly.String() + "]")
	return nil
}

func (t *translator) classBody(body, re2Only, netOnly *strings.Builder, first *bool, depth int) error {
	if depth > 32 {
		return fmt.Errorf("character classes nested too deep at offset %d", t.i)
	}
	for {
		if t.i >= len(t.src) {
			return fmt.Errorf("missing ] for a character class")
		}
		c := t.src[t.i]
		switch {
		case c == ']' && !*first:
			t.i++
			return nil
		case c == ']':
			body.WriteString(`\]`)
			t.i++
		case c == '&' && t.peek(1) == '&':
			return t.unsupported("a class intersection (&&)")
		case c == '[' && t.peek(1) == ':':
			end := strings.Index(t.src[t.i:], ":]")
			if end < 0 {
				body.WriteString(`\[`)
				t.i++
				break
			}
			name := t.src[t.i+2 : t.i+end]
			negName := strings.HasPrefix(name, "^")
			set, ok := posixSets[strings.TrimPrefix(name, "^")]
			if !ok {
				return fmt.Errorf("unknown POSIX bracket [:%s:] at offset %d", name, t.i)
			}
			if negName {
				if err := negatedInClass(body, set, t.i); err != nil {
					return err
				}
			} else {
				body.WriteString(set)
			}
			t.i += end + 2
		case c == '[':
			if t.peek(1) == '^' {
				return t.unsupported("a negated class inside a class")
			}
			t.i++
			inner := true
			if err := t.classBody(body, re2Only, netOnly, &inner, depth+1); err != nil {
				return err
			}
		case c == '\\':
			if t.i+1 >= len(t.src) {
				return fmt.Errorf("trailing backslash")
			}
			e := t.src[t.i+1]
			switch e {
			case 'h':
				body.WriteString(`0-9a-fA-F`)
				t.i += 2
			case 'H':
				return t.unsupported(`\H inside a class`)
			case 'd', 'D', 'w', 'W', 's', 'S', 't', 'n', 'r', 'f', 'v', 'a':
				body.WriteString(t.src[t.i : t.i+2])
				t.i += 2
			case 'b':
				body.WriteString(`\x08`)
				t.i += 2
			case 'p', 'P':
				set, neg, n, err := t.property(t.i)
				if err != nil {
					return err
				}
				if neg {
					if err := negatedInClass(body, set, t.i); err != nil {
						return err
					}
				} else {
					body.WriteString(set)
				}
				t.i += n
			default:
				r, n, err := t.charEscape(t.i)
				if err != nil {
					return err
				}
				if n == 0 {
					r, n = utf8.DecodeRuneInString(t.src[t.i+1:])
					n++
				}
				body.WriteString(classLiteral(r))
				t.i += n
			}
		default:
			r, n := utf8.DecodeRuneInString(t.src[t.i:])
			if r == '-' {
				body.WriteByte('-')
			} else {
				body.WriteString(classLiteral(r))
			}
			t.i += n
		}
		*first = false
	}
}

// negatedInClass writes the complement of a set that is one \p{X} as \P{X}; a set of
// several parts cannot be complemented inside a class.
func negatedInClass(body *strings.Builder, set string, at int) error {
	if strings.HasPrefix(set, `\p{`) && strings.Count(set, `\p{`) == 1 && strings.HasSuffix(set, "}") {
		body.WriteString(`\P` + set[2:])
		return nil
	}
	return &unsupportedError{what: "this negated property inside a class", at: at}
}

// classLiteral writes r so both engines read it as itself inside a class.
func classLiteral(r rune) string {
	switch r {
	case '\\', ']', '[', '^', '-':
		return `\` + string(r)
	}
	if r < 0x20 || r == 0x7F {
		return fmt.Sprintf(`\x%02X`, r)
	}
	return string(r)
}
