package netserver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
)

// ErrBadFrame is returned by SplitOctetCounting for bytes that are not a frame.
var ErrBadFrame = errors.New("not an octet-counted frame (RFC 6587: length, space, message)")

// SplitSeparator returns a bufio.SplitFunc cutting at each sep (not part of the
// message). At the end of the stream the bytes after the last sep are a message too.
// Empty messages are returned as such: handlers skip them.
func SplitSeparator(sep []byte) bufio.SplitFunc {
	if len(sep) == 0 {
		sep = []byte("\n")
	}
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.Index(data, sep); i >= 0 {
			return i + len(sep), data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	}
}

// SplitOctetCounting returns a bufio.SplitFunc for RFC 6587 octet counting: each frame is
// a decimal length, a space, and that many bytes. Line ends and spaces between frames
// are skipped (some senders add a newline). A frame longer than max, or bytes that do not
// start a frame, are an error: the stream cannot be resynchronised. A stream ending
// inside a frame is an error naming how many bytes were cut.
func SplitOctetCounting(max int) bufio.SplitFunc {
	return func(data []byte, atEOF bool) (int, []byte, error) {
		skip := 0
		for skip < len(data) && (data[skip] == '\n' || data[skip] == '\r' || data[skip] == ' ' || data[skip] == 0) {
			skip++
		}
		rest := data[skip:]
		if len(rest) == 0 {
			return skip, nil, nil
		}
		n, i := 0, 0
		for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
			n = n*10 + int(rest[i]-'0')
			if n > max {
				return 0, nil, fmt.Errorf("octet-counted frame longer than the buffer's maximum %d", max)
			}
		}
		if i == len(rest) && !atEOF {
			if i > 10 {
				return 0, nil, ErrBadFrame
			}
			return skip, nil, nil // the length goes on
		}
		if i == 0 || rest[0] == '0' || i == len(rest) || rest[i] != ' ' {
			return 0, nil, fmt.Errorf("%w: %q", ErrBadFrame, clip(rest, 32))
		}
		start := i + 1
		if len(rest)-start < n {
			if atEOF {
				return 0, nil, fmt.Errorf("connection closed inside a frame: %d of %d bytes lost", len(rest)-start, n)
			}
			return skip, nil, nil
		}
		return skip + start + n, rest[start : start+n], nil
	}
}

// SplitJSON is a bufio.SplitFunc cutting a stream of concatenated JSON values (objects
// or arrays, separated by any white space or none): each token is one value's bytes,
// found by matching brackets outside strings; it is not checked further (the handler
// parses it). Bytes that do not start a value are returned as one token up to the next
// line end, so that the handler can report them and the stream go on after them.
func SplitJSON(data []byte, atEOF bool) (int, []byte, error) {
	skip := 0
	for skip < len(data) && isSpace(data[skip]) {
		skip++
	}
	rest := data[skip:]
	if len(rest) == 0 {
		return skip, nil, nil
	}
	if rest[0] != '{' && rest[0] != '[' {
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			return skip + i + 1, rest[:i], nil
		}
		if atEOF {
			return len(data), rest, nil
		}
		return skip, nil, nil
	}
	depth, inString, escaped := 0, false, false
	for i, c := range rest {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return skip + i + 1, rest[:i+1], nil
			}
		}
	}
	if atEOF {
		return len(data), rest, nil // incomplete: the handler reports it
	}
	return skip, nil, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
