package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A server that is not installed is an *absentError naming its package, also when a
// scenario wraps it, so the command and the harness skip the scenario instead of failing.
func TestServerBinaryAbsent(t *testing.T) {
	_, err := serverBinary("/nonexistent/fluentbit-bench-no-such-server", "no-such-package")
	var absent *absentError
	if !errors.As(fmt.Errorf("start: %w", err), &absent) {
		t.Fatalf("got %v (%T), want an *absentError", err, err)
	}
	if !strings.Contains(err.Error(), "apt-get install no-such-package") {
		t.Errorf("the error does not name the package: %v", err)
	}
	if p, err := serverBinary("/nonexistent/sh", "dash"); err != nil || !strings.HasSuffix(p, "/sh") {
		t.Errorf("sh on PATH: %q, %v", p, err)
	}
}
