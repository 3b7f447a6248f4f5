package main

import (
	"fmt"
	"regexp"
	"strings"
)

// BitBake has no syntax checker outside a full build environment, so this is one for the
// subset of BitBake a recipe layer uses: comments, include/require/inherit/export/addtask,
// variable assignments (with flags, overrides and every assignment operator) whose value is
// one quoted string that may continue over lines ending in a backslash, and shell or python
// functions in braces. Anything else is reported with its line.

var (
	assignRE = regexp.MustCompile(`^(export\s+)?[A-Za-z0-9_${}/.+-]+(\[[A-Za-z0-9_.-]+\])?(:[A-Za-z0-9_${}.-]+)*\s*(\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)\s*(.*)$`)
	directRE = regexp.MustCompile(`^(include|require|inherit|inherit_defer|addtask|deltask|EXPORT_FUNCTIONS|export|unset|addhandler)\s+\S`)
	funcRE   = regexp.MustCompile(`^(python\s+|fakeroot\s+)*([A-Za-z0-9_${}.:-]+\s*)?\(\)\s*\{\s*$`)
)

// CheckSyntax returns one error per malformed construct in a .bb/.inc/.conf file.
func CheckSyntax(data []byte) []error {
	var errs []error
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], " \t\r")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case funcRE.MatchString(trimmed):
			// As in BitBake, a function ends at a line holding only "}" in the first column.
			start := i
			for {
				i++
				if i >= len(lines) {
					errs = append(errs, fmt.Errorf("%d: function body not closed with } in the first column", start+1))
					return errs
				}
				if strings.TrimRight(lines[i], " \t\r") == "}" {
					break
				}
			}
		case assignRE.MatchString(trimmed):
			m := assignRE.FindStringSubmatch(trimmed)
			value := m[5]
			start := i
			for strings.HasSuffix(value, "\\") {
				i++
				if i >= len(lines) {
					errs = append(errs, fmt.Errorf("%d: continued value has no end", start+1))
					return errs
				}
				value = strings.TrimSuffix(value, "\\") + strings.TrimSpace(lines[i])
			}
			if err := checkQuoted(value); err != nil {
				errs = append(errs, fmt.Errorf("%d: %v", start+1, err))
			}
		case directRE.MatchString(trimmed):
			if strings.HasSuffix(trimmed, "\\") {
				errs = append(errs, fmt.Errorf("%d: a directive cannot continue over lines", i+1))
			}
		default:
			errs = append(errs, fmt.Errorf("%d: not a BitBake statement: %q", i+1, trimmed))
		}
	}
	return errs
}

// checkQuoted wants one "..." or '...' string and nothing after it but a comment.
func checkQuoted(v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return fmt.Errorf("assignment without a value (write \"\")")
	}
	q := v[0]
	if q != '"' && q != '\'' {
		return fmt.Errorf("value %q is not quoted", v)
	}
	for j := 1; j < len(v); j++ {
		switch v[j] {
		case '\\':
			j++
		case q:
			rest := strings.TrimSpace(v[j+1:])
			if rest != "" && !strings.HasPrefix(rest, "#") {
				return fmt.Errorf("text after the closing quote: %q", rest)
			}
			return nil
		}
	}
	return fmt.Errorf("value %q has no closing quote", v)
}
