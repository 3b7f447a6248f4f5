// Package snappy writes and reads the Snappy block format
// (https://github.com/google/snappy/blob/main/format_description.txt), the compression that
// Prometheus remote write (and Loki's push API) require on request bodies. The encoder is the
// reference design made small: a greedy matcher over 64 KiB blocks with a 4-byte hash table,
// so every copy has a 2-byte offset. It compresses less than the C++ or klauspost encoders
// and is not meant for large payloads; Decode exists for tests and checks. The framing
// (stream) format is not implemented: remote write does not use it.
package snappy

import (
	"encoding/binary"
	"errors"
)

const (
	blockSize = 1 << 16
	tableBits = 14
	minMatch  = 4
)

// MaxEncodedLen is an upper bound of Encode's output for n input bytes.
func MaxEncodedLen(n int) int { return 32 + n + n/6 }

// Encode appends the snappy block encoding of src to dst.
func Encode(dst, src []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(src)))
	var table [1 << tableBits]uint16
	for len(src) > 0 {
		n := min(len(src), blockSize)
		dst = encodeBlock(dst, src[:n], &table)
		src = src[n:]
	}
	return dst
}

func hash4(u uint32) uint32 { return (u * 0x1e35a7bd) >> (32 - tableBits) }

// encodeBlock encodes one block of at most 64 KiB; offsets stay within it.
func encodeBlock(dst, src []byte, table *[1 << tableBits]uint16) []byte {
	clear(table[:])
	lit := 0 // start of pending literal bytes
	if len(src) < minMatch+4 {
		return emitLiteral(dst, src)
	}
	limit := len(src) - minMatch
	for i := 1; i <= limit; {
		cur := binary.LittleEndian.Uint32(src[i:])
		h := hash4(cur)
		cand := int(table[h])
		table[h] = uint16(i)
		if cand >= i || binary.LittleEndian.Uint32(src[cand:]) != cur {
			i++
			continue
		}
		dst = emitLiteral(dst, src[lit:i])
		j := i + minMatch
		for j < len(src) && src[j] == src[cand+j-i] {
			j++
		}
		dst = emitCopy(dst, i-cand, j-i)
		i, lit = j, j
	}
	return emitLiteral(dst, src[lit:])
}

func emitLiteral(dst, lit []byte) []byte {
	if len(lit) == 0 {
		return dst
	}
	n := len(lit) - 1
	switch {
	case n < 60:
		dst = append(dst, byte(n)<<2)
	case n < 1<<8:
		dst = append(dst, 60<<2, byte(n))
	case n < 1<<16:
		dst = append(dst, 61<<2, byte(n), byte(n>>8))
	default:
		dst = append(dst, 62<<2, byte(n), byte(n>>8), byte(n>>16))
	}
	return append(dst, lit...)
}

// emitCopy writes copies with a 2-byte offset (tag 2), 64 bytes at most each.
func emitCopy(dst []byte, offset, length int) []byte {
	for length > 0 {
		n := min(length, 64)
		if length-n > 0 && length-n < minMatch {
			n = length - minMatch // leave a remainder long enough to copy
		}
		dst = append(dst, byte(n-1)<<2|2, byte(offset), byte(offset>>8))
		length -= n
	}
	return dst
}

// ErrCorrupt means the input is not a valid snappy block.
var ErrCorrupt = errors.New("snappy: corrupt input")

// Decode decodes a snappy block, refusing one that claims more than maxLen bytes.
func Decode(src []byte, maxLen int) ([]byte, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > uint64(maxLen) {
		return nil, ErrCorrupt
	}
	src = src[k:]
	dst := make([]byte, 0, n)
	for len(src) > 0 {
		tag := src[0]
		var length, offset int
		switch tag & 3 {
		case 0:
			length = int(tag>>2) + 1
			src = src[1:]
			if length > 60 {
				extra := length - 60
				if len(src) < extra {
					return nil, ErrCorrupt
				}
				length = 0
				for b := extra - 1; b >= 0; b-- {
					length = length<<8 | int(src[b])
				}
				length++
				src = src[extra:]
			}
			if length > len(src) || len(dst)+length > int(n) {
				return nil, ErrCorrupt
			}
			dst = append(dst, src[:length]...)
			src = src[length:]
			continue
		case 1:
			if len(src) < 2 {
				return nil, ErrCorrupt
			}
			length = int(tag>>2&7) + 4
			offset = int(tag>>5)<<8 | int(src[1])
			src = src[2:]
		case 2:
			if len(src) < 3 {
				return nil, ErrCorrupt
			}
			length = int(tag>>2) + 1
			offset = int(binary.LittleEndian.Uint16(src[1:]))
			src = src[3:]
		case 3:
			if len(src) < 5 {
				return nil, ErrCorrupt
			}
			length = int(tag>>2) + 1
			offset = int(binary.LittleEndian.Uint32(src[1:]))
			src = src[5:]
		}
		if offset <= 0 || offset > len(dst) || len(dst)+length > int(n) {
			return nil, ErrCorrupt
		}
		for i := 0; i < length; i++ {
			dst = append(dst, dst[len(dst)-offset])
		}
	}
	if len(dst) != int(n) {
		return nil, ErrCorrupt
	}
	return dst, nil
}
