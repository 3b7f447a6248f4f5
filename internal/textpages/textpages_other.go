//go:build !linux

package textpages

import "errors"

func dontneed(addr, n uintptr) error { return errors.ErrUnsupported }

func random(addr, n uintptr) {}

func evict(path string) {}
