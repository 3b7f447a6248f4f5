package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseBool reads a Fluent Bit boolean: on/off, true/false, yes/no or 1/0, in any case.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("bad boolean %q: want on/off, true/false, yes/no or 1/0", s)
}

// sizeUnits are the suffixes ParseSize knows, lower-cased. As in Fluent Bit (its unit
// sizes page and flb_utils_size_to_bytes), k/KB, M/MB and G/GB are powers of 1000. The
// binary KiB/MiB/GiB (and Ki/Mi/Gi) are powers of 1024; Fluent Bit accepts those only
// for a few keys, here they work everywhere.
var sizeUnits = map[string]int64{
	"":  1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
	"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20, "gi": 1 << 30, "gib": 1 << 30,
}

const sizeWant = "want bytes, or a number with a unit: k/KB (1000 bytes), M/MB, G/GB, or KiB/MiB/GiB (1024-based)"

// ParseSize reads a size in bytes: a plain number, or a number (fractions allowed, as in
// Fluent Bit: 1.5M) followed by k, K, kb, KB (1000), m, M, mb, MB (1000²), g, G, gb, GB
// (1000³), or KiB, MiB, GiB (1024-based; Ki, Mi, Gi too). Units are case-insensitive and
// follow the number without a space. Negative sizes are errors.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num := t[:i]
	mult, ok := sizeUnits[strings.ToLower(t[i:])]
	if num == "" || num == "." || !ok {
		return 0, fmt.Errorf("bad size %q: %s", s, sizeWant)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/mult {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q: %s", s, sizeWant)
	}
	b := f * float64(mult)
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(b), nil // truncated, as Fluent Bit does
}

// UnmarshalConf reads a size as ParseSize does.
func (z *Size) UnmarshalConf(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	*z = Size(n)
	return nil
}

const durationWant = "want seconds (5, 1.5) or a number with a unit: 500ms, 10s, 1m, 1h, 1d"

// ParseDuration reads a duration: a plain number is seconds (fractions allowed: "1.5" is
// 1.5s, as Fluent Bit reads flush), a number followed by d is days, and anything else is
// Go syntax ("500ms", "10s", "1m30s", "1h").
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if isDecimal(t) {
		return secondsToDuration(s, t, 1)
	}
	if n, ok := strings.CutSuffix(t, "d"); ok && isDecimal(n) {
		return secondsToDuration(s, n, 24*3600)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: %s", s, durationWant)
	}
	return d, nil
}

func secondsToDuration(orig, num string, unit float64) (time.Duration, error) {
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: %s", orig, durationWant)
	}
	ns := math.Round(f * unit * 1e9)
	if ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return 0, fmt.Errorf("duration %q is too long", orig)
	}
	return time.Duration(ns), nil
}

// isDecimal reports whether s is a plain decimal number: an optional minus sign, digits,
// and at most one dot, with at least one digit (no exponents, hex, Inf or NaN).
func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}
