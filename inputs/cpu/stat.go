package cpu

import (
	"bytes"
	"io"
	"os"

	gocpu "github.com/shirou/gopsutil/v3/cpu"
)

// statReader reads the cpu lines of a Linux /proc/stat the way gopsutil's cpu.Times does
// (the same lines, fields and clock ticks), but into a buffer it keeps and without a
// string per line: gopsutil's two reads left ~16 KB of garbage a sample, which an idle
// agent carries until its next GC.
type statReader struct {
	path  string
	buf   []byte
	names map[string]string // core names seen, so a sample does not allocate them
}

// read returns the totals (the first line, when it parses) and appends the per-core
// lines that follow it to cores. err is the file's: then the caller asks gopsutil, which
// knows the other platforms.
func (r *statReader) read(cores []core) (total times, totalOK bool, _ []core, err error) {
	f, err := os.Open(r.path)
	if err != nil {
		return times{}, false, cores, err
	}
	defer f.Close()
	if r.buf == nil {
		r.buf = make([]byte, 4096)
	}
	n := 0
	for {
		m, err := f.Read(r.buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return times{}, false, cores, err
		}
		if n == len(r.buf) { // many cores: grow, and keep the larger buffer
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
	}
	data := r.buf[:n]
	for i := 0; len(data) > 0; i++ {
		line := data
		if j := bytes.IndexByte(data, '\n'); j >= 0 {
			line, data = data[:j], data[j+1:]
		} else {
			data = nil
		}
		if i > 0 && !bytes.HasPrefix(line, []byte("cpu")) {
			break // gopsutil stops at the first line after the totals that is not a core
		}
		name, t, ok := parseStatLine(line)
		switch {
		case !ok:
		case i == 0:
			total, totalOK = t, true
		default:
			s, seen := r.names[string(name)]
			if !seen {
				if r.names == nil {
					r.names = map[string]string{}
				}
				s = string(name)
				r.names[s] = s
			}
			cores = append(cores, core{name: s, times: t})
		}
	}
	return total, totalOK, cores, nil
}

// parseStatLine parses "cpuN user nice system idle iowait irq softirq [steal guest
// guest_nice]" as gopsutil does: at least 8 fields, every one a number. User time
// includes nice time, as in Fluent Bit.
func parseStatLine(line []byte) (name []byte, t times, ok bool) {
	var v [11]float64
	nf := 0
	for len(line) > 0 && nf < len(v) {
		line = bytes.TrimLeft(line, " \t")
		if len(line) == 0 {
			break
		}
		end := bytes.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		field := line[:end]
		line = line[end:]
		if nf == 0 {
			if !bytes.HasPrefix(field, []byte("cpu")) {
				return nil, times{}, false
			}
			name = field
		} else {
			if len(field) == 0 {
				return nil, times{}, false
			}
			for _, c := range field { // exact below 2^53 ticks, as strconv.ParseFloat
				if c < '0' || c > '9' {
					return nil, times{}, false
				}
				v[nf] = v[nf]*10 + float64(c-'0')
			}
		}
		nf++
	}
	if nf < 8 {
		return nil, times{}, false
	}
	hz := gocpu.ClocksPerSec
	return name, times{user: v[1]/hz + v[2]/hz, system: v[3] / hz}, true
}
