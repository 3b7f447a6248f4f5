package modbus

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

func configured(t *testing.T, kv ...string) *Input {
	t.Helper()
	p, err := pipelinetest.NewInput("modbus", append([]string{"host", "127.0.0.1"}, kv...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Input)
}

// wire lays out v's 8 big-endian bytes (ABCDEFGH) as a device with order sends them.
func TestByteOrders(t *testing.T) {
	f32 := math.Float32bits(-123.456)
	abcd := binary.BigEndian.AppendUint32(nil, f32)
	a, b, c, d := abcd[0], abcd[1], abcd[2], abcd[3]
	for _, tc := range []struct {
		order string
		wire  []byte
	}{
		{"ABCD", []byte{a, b, c, d}},
		{"DCBA", []byte{d, c, b, a}},
		{"BADC", []byte{b, a, d, c}},
		{"CDAB", []byte{c, d, a, b}},
	} {
		in := configured(t, "point", "name=x table=input_register address=0 type=float32 byte_order="+tc.order)
		p := &in.Points[0]
		if got := p.decode(tc.wire, 0); got != float64(float32(-123.456)) {
			t.Errorf("%s: %v", tc.order, got)
		}
	}
	// 64-bit: word swap reverses the four registers, byte swap each register's bytes.
	be := binary.BigEndian.AppendUint64(nil, 0x0102030405060708)
	for order, wire := range map[string][]byte{
		"ABCD": be,
		"CDAB": {7, 8, 5, 6, 3, 4, 1, 2},
		"BADC": {2, 1, 4, 3, 6, 5, 8, 7},
		"DCBA": {8, 7, 6, 5, 4, 3, 2, 1},
	} {
		in := configured(t, "point", "name=x address=0 type=uint64 byte_order="+order)
		if got := in.Points[0].decode(wire, 0); got != uint64(0x0102030405060708) {
			t.Errorf("uint64 %s: %#x", order, got)
		}
	}
	// 16-bit: BADC and DCBA swap the register's bytes.
	in := configured(t, "point", "name=x address=0 type=int16 byte_order=BADC")
	if got := in.Points[0].decode([]byte{0xfe, 0xff}, 0); got != int64(-2) {
		t.Errorf("int16 BADC: %v", got)
	}
}

func TestTypesScaleAndUnit(t *testing.T) {
	in := configured(t,
		"point", "name=t address=0 type=int16 scale=0.1 offset=-40 unit=C",
		"point", "name=u32 address=1 type=uint32",
		"point", "name=i32 address=3 type=int32",
		"point", `name=model address=5 type=string length=3`,
		"point", "name=run table=coil address=9",
		"point", "name=f64 address=8 type=float64")
	data := []byte{0x01, 0xf4, 0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0, 'E', 'M', '2', '4', 0, 0}
	rec := map[string]any{}
	for _, p := range in.Points[:4] {
		rec[p.key] = p.decode(data[2*p.Address:], 0)
	}
	f64 := binary.BigEndian.AppendUint64(nil, math.Float64bits(1e300))
	rec["f64"] = in.Points[5].decode(f64, 0)
	rec["run"] = in.Points[4].decode([]byte{0, 0b10}, 9)
	want := map[string]any{"t_C": 500*0.1 - 40, "u32": int64(math.MaxUint32), "i32": int64(math.MinInt32), "model": "EM24", "run": true, "f64": 1e300}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %#v, want %#v", k, rec[k], v)
		}
	}
}

func TestPlanBatches(t *testing.T) {
	in := configured(t,
		"point", "name=a table=input_register address=0 type=float32",
		"point", "name=b table=input_register address=2 type=float32",
		"point", "name=c table=input_register address=10",
		"point", "name=d table=input_register address=200", // beyond 125 registers from 0
		"point", "name=e table=holding_register address=0",
		"point", "name=f table=coil address=0",
		"point", "name=g table=coil address=1999",
		"point", "name=h table=coil address=2000",
		"point", "name=a unit_id=2 table=input_register address=1")
	var got []string
	for _, r := range in.reads {
		got = append(got, r.String())
	}
	want := []string{
		"unit 1 coil 0..1999 (f, g)",
		"unit 1 coil 2000..2000 (h)",
		"unit 1 holding_register 0..0 (e)",
		"unit 1 input_register 0..10 (a, b, c)",
		"unit 1 input_register 200..200 (d)",
		"unit 2 input_register 1..1 (a)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("reads:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	in = configured(t, "max_gap", "0",
		"point", "name=a table=input_register address=0 type=float32",
		"point", "name=b table=input_register address=2",
		"point", "name=c table=input_register address=4")
	if len(in.reads) != 2 || in.reads[0].count != 3 {
		t.Errorf("max_gap 0: %v", in.reads)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{[]string{"point", "name=x table=coil type=float32"}, `test.conf:2: key "point": type: float32 does not fit table coil`},
		{[]string{"point", "name=x table=input_register type=bool"}, `test.conf:2: key "point": type: bool does not fit table input_register`},
		{[]string{"point", "name=x address=1", "point", "name=x address=2"}, `test.conf:3: key "point": name: unit 1 already has a point "x"`},
		{[]string{"point", "name=x address=1 adress=2"}, `test.conf:2: key "point": adress: unknown key (did you mean "address"?)`},
		{[]string{"point", "name=x address=65535 type=uint32"}, `test.conf:2: key "point": address: 65535 + 2 items runs past`},
		{[]string{"point", "name=x type=string"}, `test.conf:2: key "point": length:`},
		{[]string{"point", "name=x table=registers"}, `test.conf:2: key "point": table: "registers"`},
		{[]string{"point", "name=x byte_order=ABDC"}, `test.conf:2: key "point": byte_order:`},
		{[]string{"point", "name=x type=bool table=coil scale=2"}, `test.conf:2: key "point": scale:`},
		{[]string{"point", "address=3"}, `test.conf:2: key "point": name: not set`},
		{[]string{"mode", "ascii", "point", "name=x"}, `key "mode"`},
		{nil, `key "point": no points`},
		{[]string{"timeout", "0", "point", "name=x"}, `key "timeout"`},
	} {
		_, err := pipelinetest.NewInput("modbus", append([]string{"host", "h"}, tc.kv...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %s", tc.kv, err, tc.want)
		}
		var ce *config.Error
		if err != nil && !errors.As(err, &ce) {
			t.Errorf("%v: %T is not a config error", tc.kv, err)
		}
	}
	_, err := pipelinetest.NewInput("modbus", "mode", "rtu", "point", "name=x")
	if err == nil || !strings.Contains(err.Error(), `key "file"`) {
		t.Errorf("rtu without file: %v", err)
	}
	_, err = pipelinetest.NewInput("modbus", "mode", "rtu", "file", "/dev/x", "stop_bits", "1.5", "point", "name=x")
	if err == nil || !strings.Contains(err.Error(), `key "stop_bits"`) {
		t.Errorf("rtu stop bits 1.5: %v", err)
	}
}

func TestDecodeResponse(t *testing.T) {
	for _, tc := range []struct {
		fc    byte
		count uint16
		pdu   []byte
		err   string
	}{
		{3, 2, []byte{3, 4, 0, 1, 0, 2}, ""},
		{1, 9, []byte{1, 2, 0xff, 1}, ""},
		{3, 2, []byte{0x83, 2}, "exception 2 (illegal data address)"},
		{4, 1, []byte{0x84, 0x0b}, "exception 11 (gateway target device failed to respond)"},
		{3, 2, []byte{3, 4, 0, 1, 0}, "byte count"},
		{3, 2, []byte{4, 4, 0, 1, 0, 2}, "function code"},
		{3, 2, nil, "empty"},
		{3, 2, []byte{3}, "byte count"},
		{3, 2, []byte{0x83}, "exception response of 1 bytes"},
	} {
		data, err := DecodeResponse(tc.fc, tc.count, tc.pdu)
		if tc.err == "" {
			if err != nil || len(data) != int(tc.pdu[1]) {
				t.Errorf("% x: %v, %v", tc.pdu, data, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("% x: %v, want %s", tc.pdu, err, tc.err)
		}
	}
}

func TestCRC16(t *testing.T) {
	// The specification's example: unit 1, read holding registers 0, count 1... and a
	// well-known frame 01 03 00 00 00 0A with CRC C5 CD.
	if got := crc16([]byte{1, 3, 0, 0, 0, 0x0a}); got != 0xCDC5 {
		t.Errorf("crc16 = %04x, want cdc5 (sent c5 cd)", got)
	}
}
