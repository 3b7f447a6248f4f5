// Package regex compiles the regular expressions users write in configuration (parser
// regex, grep, modify conditions, rewrite_tag rules) with Fluent Bit's syntax: Onigmo's
// Ruby syntax, where ^ and $ match at line breaks, (?m) means "dot matches newline",
// \h is a hex digit, \p{Alpha} and [[:alpha:]] are Unicode classes, and look-around,
// atomic groups, back-references (\1, \k<name>) and possessive quantifiers (a++) exist.
//
// A pattern runs on Go's RE2 engine (linear time, no timeout needed) whenever its
// translation allows; one that needs backtracking runs on github.com/dlclark/regexp2
// with a match timeout (Timeout, 1 s by default), so a pathological pattern costs at
// most that per match: the match then reports ErrTimeout, and callers treat the record
// as not matched (logging it) rather than hang.
//
// It does not implement Onigmo's subexpression calls (\g<name>), \K, the absent
// operator (?~...), conditionals, class intersections (&&), or \X; such a pattern is a
// compile error naming the construct.
package regex

import (
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// DefaultTimeout bounds one match on the backtracking engine.
const DefaultTimeout = time.Second

// ErrTimeout is returned (wrapped) by a match that ran past the pattern's timeout.
var ErrTimeout = errors.New("regex: match timed out")

// Regexp is a compiled pattern. It is safe for concurrent use.
type Regexp struct {
	src   string
	re    *regexp.Regexp  // RE2 fast path; nil when bt is set
	bt    *regexp2.Regexp // backtracking engine
	names []string        // group names by index, index 0 the whole match ("" unnamed)
	nums  []int           // bt: group numbers in index order
}

// Compile compiles an Onigmo (Ruby syntax) pattern with DefaultTimeout.
func Compile(pattern string) (*Regexp, error) { return CompileTimeout(pattern, DefaultTimeout) }

// MustCompile is Compile for patterns known to be good (tests, constants); it panics on
// an error.
func MustCompile(pattern string) *Regexp {
	r, err := Compile(pattern)
	if err != nil {
		panic(err)
	}
	return r
}

// CompileTimeout is Compile with a per-match timeout for the backtracking engine
// (<= 0: DefaultTimeout).
func CompileTimeout(pattern string, timeout time.Duration) (*Regexp, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr, err := translate(pattern)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", pattern, err)
	}
	r := &Regexp{src: pattern}
	if !tr.needBT {
		if re, err := regexp.Compile("(?m)" + tr.re2.String()); err == nil {
			r.re, r.names = re, re.SubexpNames()
			return r, nil
		}
		// RE2 refused it (a repeat over 1000, nested repeats...): try the other engine.
	}
	bt, err := compileBT(tr.net.String())
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", pattern, err)
	}
	bt.MatchTimeout = timeout
	r.bt = bt
	r.nums = bt.GetGroupNumbers()
	r.names = make([]string, len(r.nums))
	for i, n := range r.nums {
		if name := bt.GroupNameFromNumber(n); name != fmt.Sprint(n) {
			r.names[i] = name
		}
	}
	return r, nil
}

// compileBT compiles for regexp2 in its RE2-compatible mode (ASCII \d \w \s, as Onigmo's
// Ruby syntax) with ^ and $ at lines; it turns the library's panics into errors.
func compileBT(pat string) (re *regexp2.Regexp, err error) {
	defer func() {
		if p := recover(); p != nil {
			re, err = nil, fmt.Errorf("%v", p)
		}
	}()
	return regexp2.Compile(pat, regexp2.RE2|regexp2.Multiline)
}

// String returns the pattern as written.
func (r *Regexp) String() string { return r.src }

// Backtracking reports whether the pattern runs on the backtracking engine.
func (r *Regexp) Backtracking() bool { return r.bt != nil }

// SubexpNames returns the names of the groups by index, as regexp.Regexp.SubexpNames
// (index 0 is the whole match; "" for an unnamed group). On the backtracking engine
// unnamed groups come before named ones, as in .NET.
func (r *Regexp) SubexpNames() []string { return r.names }

// Match reports whether s contains a match. The error wraps ErrTimeout when the match
// ran out of time.
func (r *Regexp) Match(s string) (bool, error) {
	if r.re != nil {
		return r.re.MatchString(s), nil
	}
	ok, err := r.bt.MatchString(s)
	if err != nil {
		return false, fmt.Errorf("%w: %q: %v", ErrTimeout, r.src, err)
	}
	return ok, nil
}

// MatchString is Match that reports a timeout as no match.
func (r *Regexp) MatchString(s string) bool {
	ok, _ := r.Match(s)
	return ok
}

// FindStringSubmatchIndex returns, as regexp.Regexp.FindStringSubmatchIndex, the byte
// offsets of the leftmost match and its groups (-1 for a group that did not take part),
// or nil. The error wraps ErrTimeout.
func (r *Regexp) FindStringSubmatchIndex(s string) ([]int, error) {
	if r.re != nil {
		return r.re.FindStringSubmatchIndex(s), nil
	}
	m, err := r.bt.FindStringMatch(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrTimeout, r.src, err)
	}
	if m == nil {
		return nil, nil
	}
	// regexp2 counts in runes; the callers slice strings by bytes.
	var offs []int
	byteAt := func(ri int) int { return ri }
	if !isASCII(s) {
		offs = make([]int, 0, len(s)+1)
		for i := range s {
			offs = append(offs, i)
		}
		offs = append(offs, len(s))
		byteAt = func(ri int) int { return offs[ri] }
	}
	idx := make([]int, 2*len(r.nums))
	for i, n := range r.nums {
		g := m.GroupByNumber(n)
		if g == nil || len(g.Captures) == 0 {
			idx[2*i], idx[2*i+1] = -1, -1
			continue
		}
		idx[2*i], idx[2*i+1] = byteAt(g.Index), byteAt(g.Index+g.Length)
	}
	return idx, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
