package modbus

import (
	"encoding/binary"
	"fmt"
	"github.com/fluentbit-go/fluentbit-go/event"
	"math"
	"sort"
	"strings"

	"github.com/fluentbit-go/fluentbit-go/config"
)

// Point is one value read from a device: where it is and how to read it.
type Point struct {
	Name      string  `conf:"name"`
	UnitID    int     `conf:"unit_id"` // -1: the input's unit_id
	Table     string  `conf:"table"`   // coil, discrete_input, input_register, holding_register
	Address   uint16  `conf:"address"` // protocol address, 0-based
	Type      string  `conf:"type"`
	Length    int     `conf:"length"` // registers of a string
	ByteOrder string  `conf:"byte_order"`
	Scale     float64 `conf:"scale"`
	Offset    float64 `conf:"offset"`
	Unit      string  `conf:"unit"`

	place                config.Property // where the point was configured, for errors
	table                table
	typ                  valueType
	swapBytes, swapWords bool // the byte order, as two swaps from ABCD
	key                  string
}

// newPoint returns a Point with its defaults, before its keys are decoded.
func newPoint() Point { return Point{UnitID: -1, Scale: 1} }

type table struct {
	name    string
	fc      byte
	bits    bool
	maxRead int
}

var tables = map[string]table{
	"coil":             {"coil", fcReadCoils, true, maxReadBits},
	"discrete_input":   {"discrete_input", fcReadDiscreteInputs, true, maxReadBits},
	"input_register":   {"input_register", fcReadInputRegisters, false, maxReadRegisters},
	"holding_register": {"holding_register", fcReadHoldingRegisters, false, maxReadRegisters},
}

type valueType struct {
	name  string
	regs  int // registers per value (strings: per Length)
	float bool
	sign  bool
}

var types = map[string]valueType{
	"bool":    {"bool", 0, false, false},
	"int16":   {"int16", 1, false, true},
	"uint16":  {"uint16", 1, false, false},
	"int32":   {"int32", 2, false, true},
	"uint32":  {"uint32", 2, false, false},
	"int64":   {"int64", 4, false, true},
	"uint64":  {"uint64", 4, false, false},
	"float32": {"float32", 2, true, true},
	"float64": {"float64", 4, true, true},
	"string":  {"string", 0, false, false},
}

// check validates a decoded point and fills its derived fields. defaultUnit and
// defaultOrder come from the input's keys. Errors are about the inline key at fault.
func (p *Point) check(defaultUnit int, defaultOrder string) error {
	if strings.TrimSpace(p.Name) == "" {
		return fmt.Errorf("name: not set")
	}
	if p.Name == "unit_id" {
		return fmt.Errorf("name: %q is the record's own key", p.Name)
	}
	if p.UnitID < 0 {
		p.UnitID = defaultUnit
	}
	if p.UnitID > 255 {
		return fmt.Errorf("unit_id: %d: want 0 to 255", p.UnitID)
	}
	if p.Table == "" {
		p.Table = "holding_register"
	}
	t, ok := tables[strings.ToLower(strings.TrimSuffix(p.Table, "s"))]
	if !ok {
		return fmt.Errorf("table: %q: want coil, discrete_input, input_register or holding_register", p.Table)
	}
	p.table = t
	if p.Type == "" {
		p.Type = "uint16"
		if t.bits {
			p.Type = "bool"
		}
	}
	vt, ok := types[strings.ToLower(p.Type)]
	if !ok {
		return fmt.Errorf("type: %q: want bool, int16, uint16, int32, uint32, int64, uint64, float32, float64 or string", p.Type)
	}
	p.typ = vt
	switch {
	case t.bits && vt.name != "bool":
		return fmt.Errorf("type: %s does not fit table %s, which holds single bits: want bool", vt.name, t.name)
	case !t.bits && vt.name == "bool":
		return fmt.Errorf("type: bool does not fit table %s, which holds 16-bit registers: want an integer, float or string type", t.name)
	}
	if vt.name == "string" {
		if p.Length < 1 || p.Length > maxReadRegisters {
			return fmt.Errorf("length: %d: a string needs its length in registers, 1 to %d", p.Length, maxReadRegisters)
		}
	} else if p.Length != 0 {
		return fmt.Errorf("length: only for type string")
	}
	if int(p.Address)+p.count() > 65536 {
		return fmt.Errorf("address: %d + %d items runs past the last address 65535", p.Address, p.count())
	}
	if p.ByteOrder == "" {
		p.ByteOrder = defaultOrder
	}
	var err error
	if p.swapBytes, p.swapWords, err = parseOrder(p.ByteOrder); err != nil {
		return fmt.Errorf("byte_order: %w", err)
	}
	if math.IsNaN(p.Scale) || math.IsInf(p.Scale, 0) || math.IsNaN(p.Offset) || math.IsInf(p.Offset, 0) {
		return fmt.Errorf("scale, offset: want finite numbers")
	}
	if (p.Scale != 1 || p.Offset != 0) && (vt.name == "bool" || vt.name == "string") {
		return fmt.Errorf("scale: a %s cannot be scaled", vt.name)
	}
	p.key = p.Name
	if p.Unit != "" {
		p.key += "_" + p.Unit
	}
	return nil
}

// parseOrder reads a byte order as the letters of a 32-bit value, A its most significant
// byte, in the order the device sends them: ABCD big-endian (Modbus's own), DCBA
// little-endian, BADC bytes swapped in each register, CDAB registers swapped (word
// swap). 16- and 64-bit values follow the same two swaps.
func parseOrder(s string) (swapBytes, swapWords bool, err error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "ABCD":
		return false, false, nil
	case "DCBA":
		return true, true, nil
	case "BADC":
		return true, false, nil
	case "CDAB":
		return false, true, nil
	}
	return false, false, fmt.Errorf("%q: want ABCD, DCBA, BADC or CDAB", s)
}

// count is how many bits or registers the point covers.
func (p *Point) count() int {
	switch {
	case p.table.bits:
		return 1
	case p.typ.name == "string":
		return p.Length
	default:
		return p.typ.regs
	}
}

// decode turns the point's bytes (2 per register, as received; for bits, the packed
// bytes with the point's bit at bit) into its value.
func (p *Point) decode(data []byte, bit int) any {
	if p.table.bits {
		return data[bit/8]>>(bit%8)&1 == 1
	}
	if p.typ.name == "string" {
		b := make([]byte, len(data))
		copy(b, data)
		// Two characters per register, the first in the high byte unless bytes are swapped.
		if p.swapBytes {
			for i := 0; i+1 < len(b); i += 2 {
				b[i], b[i+1] = b[i+1], b[i]
			}
		}
		return strings.TrimRight(strings.ToValidUTF8(string(b), "\uFFFD"), "\x00 ")
	}
	regs := p.typ.regs
	var be [8]byte
	for i := range 2 * regs {
		k, j := i/2, i%2
		if p.swapWords {
			k = regs - 1 - k
		}
		if p.swapBytes {
			j = 1 - j
		}
		be[i] = data[2*k+j]
	}
	var v float64
	var iv any
	switch p.typ.name {
	case "int16":
		x := int16(binary.BigEndian.Uint16(be[:]))
		v, iv = float64(x), int64(x)
	case "uint16":
		x := binary.BigEndian.Uint16(be[:])
		v, iv = float64(x), int64(x)
	case "int32":
		x := int32(binary.BigEndian.Uint32(be[:]))
		v, iv = float64(x), int64(x)
	case "uint32":
		x := binary.BigEndian.Uint32(be[:])
		v, iv = float64(x), int64(x)
	case "int64":
		x := int64(binary.BigEndian.Uint64(be[:]))
		v, iv = float64(x), x
	case "uint64":
		x := binary.BigEndian.Uint64(be[:])
		v, iv = float64(x), x
	case "float32":
		v = float64(math.Float32frombits(binary.BigEndian.Uint32(be[:])))
		iv = v
	case "float64":
		v = math.Float64frombits(binary.BigEndian.Uint64(be[:]))
		iv = v
	}
	if p.Scale == 1 && p.Offset == 0 {
		return iv
	}
	return v*p.Scale + p.Offset
}

// read is one request: a run of addresses in one table of one unit, and the points in it.
type read struct {
	unit   byte
	table  table
	start  uint16
	count  uint16
	points []*Point
}

// plan groups points into the fewest reads: per unit and table, in address order, a
// read grows while it stays within the protocol's limit and the gap of unused addresses
// before the next point is at most maxGap registers (16 × maxGap bits in the bit tables).
func plan(points []*Point, maxGap int) []*read {
	sorted := append([]*Point(nil), points...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.UnitID != b.UnitID {
			return a.UnitID < b.UnitID
		}
		if a.table.fc != b.table.fc {
			return a.table.fc < b.table.fc
		}
		return a.Address < b.Address
	})
	var reads []*read
	var cur *read
	for _, p := range sorted {
		start, end := int(p.Address), int(p.Address)+p.count()
		if cur != nil && cur.unit == byte(p.UnitID) && cur.table.fc == p.table.fc {
			curEnd := int(cur.start) + int(cur.count)
			gap := maxGap
			if cur.table.bits {
				gap *= 16 // a register's worth of bits per unit of max_gap
			}
			if start-curEnd <= gap && max(end, curEnd)-int(cur.start) <= cur.table.maxRead {
				cur.count = uint16(max(end, curEnd) - int(cur.start))
				cur.points = append(cur.points, p)
				continue
			}
		}
		cur = &read{unit: byte(p.UnitID), table: p.table, start: uint16(start), count: uint16(end - start), points: []*Point{p}}
		reads = append(reads, cur)
	}
	return reads
}

// split returns one read per point of r: what a device that refuses r's span (an address
// in a gap it does not have) still answers.
func (r *read) split() []*read {
	out := make([]*read, len(r.points))
	for i, p := range r.points {
		out[i] = &read{unit: r.unit, table: r.table, start: p.Address, count: uint16(p.count()), points: []*Point{p}}
	}
	return out
}

// values decodes the points of r from the data of its response into rec.
func (r *read) values(data []byte, rec *event.Map) {
	for _, p := range r.points {
		off := int(p.Address - r.start)
		if r.table.bits {
			rec.Set(p.key, p.decode(data, off))
			continue
		}
		rec.Set(p.key, p.decode(data[2*off:2*(off+p.count())], 0))
	}
}

func (r *read) String() string {
	names := make([]string, len(r.points))
	for i, p := range r.points {
		names[i] = p.Name
	}
	return fmt.Sprintf("unit %d %s %d..%d (%s)", r.unit, r.table.name, r.start, int(r.start)+int(r.count)-1, strings.Join(names, ", "))
}
