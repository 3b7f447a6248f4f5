package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// absentError is a run that cannot happen on this machine: a server it drives (mosquitto,
// nats-server, influxd, prometheus) is not installed. The command prints the scenario as
// skipped and the harness's test skips it; neither counts it as a failure.
type absentError struct{ msg string }

func (e *absentError) Error() string { return e.msg }

// serverBinary finds a server's binary at the path its Debian package installs it to, or
// on PATH, or returns an *absentError naming the package.
func serverBinary(debPath, pkg string) (string, error) {
	if _, err := os.Stat(debPath); err == nil {
		return debPath, nil
	}
	if p, err := exec.LookPath(filepath.Base(debPath)); err == nil {
		return p, nil
	}
	return "", &absentError{fmt.Sprintf("%s is not installed (no %s, none on PATH): apt-get install %s", filepath.Base(debPath), debPath, pkg)}
}
