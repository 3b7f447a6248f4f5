package main

import (
	"strings"
	"testing"
)

// The exec input's exit_after_oneshot and propagate_exit_code reach the process: the
// daemon flushes the command's lines and exits with its code, as Fluent Bit does.
func TestExecOneshotExitCodeReachesTheProcess(t *testing.T) {
	for _, tc := range []struct {
		propagate string
		want      int
	}{{"on", 3}, {"off", 0}} {
		t.Run("propagate_exit_code="+tc.propagate, func(t *testing.T) {
			p := start(t, "-i", "exec", "-p", "command=echo hello; echo bye; exit 3", "-p", "oneshot=on",
				"-p", "exit_after_oneshot=on", "-p", "propagate_exit_code="+tc.propagate,
				"-o", "stdout", "-p", "format=json_lines", "-f", "0.2")
			if code := p.wait(); code != tc.want {
				t.Errorf("exit code %d, want %d", code, tc.want)
			}
			out := strings.Join(p.lines(false), "\n")
			if !strings.Contains(out, `"exec":"hello"`) || !strings.Contains(out, `"exec":"bye"`) {
				t.Errorf("stdout %q: the lines were not flushed before the exit", out)
			}
		})
	}
}
