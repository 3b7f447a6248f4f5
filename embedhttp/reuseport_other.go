//go:build !linux

package embedhttp

import "syscall"

const reusePortSupported = false

func reusePortControl(network, address string, rc syscall.RawConn) error { return nil }
