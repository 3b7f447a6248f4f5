// Package modbus polls Modbus devices — PLCs, power meters, inverters, remote I/O — over
// Modbus TCP, Modbus RTU on a serial line, or RTU over TCP (serial-to-Ethernet
// converters), and emits one record per device (unit id) per poll with the configured
// points as keys. It only reads (function codes 1 to 4): writing coils or registers is not
// supported. Fluent Bit has no such input; the keys are in its style (snake_case,
// interval_sec), and docs/modbus.md maps them to Telegraf's modbus input.
//
//	[INPUT]
//	    Name          modbus
//	    Tag           meter
//	    Mode          tcp
//	    Host          192.168.1.50
//	    Interval_Sec  5
//	    Point         name=voltage table=input_register address=0 type=float32 unit=V
//	    Point         name=energy  table=input_register address=342 type=float32 unit=kWh
//
// Keys:
//
//   - mode: tcp (default), rtu (a serial line) or rtu_over_tcp.
//   - host, port: the device or gateway for tcp and rtu_over_tcp (port default 502).
//   - file, bitrate, data_bits, parity, stop_bits: the serial line for rtu, as in the
//     serial input (bitrate default 9600; 8 data bits, no parity, 1 stop bit). The port is
//     reopened after an unplug.
//   - interval_sec, interval_nsec: the poll period (default 1s).
//   - timeout: how long to wait for each response (default 1s).
//   - unit_id: the default unit id of points (default 1; 0 is broadcast on RTU and not
//     answered, but many TCP devices answer to it).
//   - byte_order: the default byte order of points (ABCD, as Modbus itself).
//   - max_gap: the most unused registers one read may span to cover two points (default
//     125, so reads are as few as the protocol's limits allow; 0 reads only contiguous
//     points). In the bit tables it counts 16 bits per unit. A device that refuses a read spanning addresses it does not have (exception
//     2) is asked for each point alone from then on.
//   - point (also points): one point, repeated: name=, unit_id=, table= (coil,
//     discrete_input, input_register, holding_register; default holding_register),
//     address= (protocol address, 0-based: Modicon register 40001 is holding_register
//     address 0), type= (bool, int16, uint16 (default), int32, uint32, int64, uint64,
//     float32, float64, string), length= (registers, for string), byte_order=, scale=,
//     offset= (value × scale + offset, as a float), unit= (appended to the key:
//     voltage_V). In YAML, points is a list of maps with the same keys.
//
// Records: {"unit_id": 1, "voltage_V": 230.1, "energy_kWh": 1234.5}, stamped with the time
// the poll began. Integers without scale or offset stay integers; bools are bools.
//
// Errors: a read that fails (an exception, a timeout, a bad frame) is logged with the unit,
// table, addresses and points it covered, and those points are left out of the record; the
// unit's other points still arrive. A connection error closes the connection, which is
// reopened with backoff (0.1s doubling to 30s) at the following polls. The config check
// rejects a type that does not fit its table, a duplicate name within a unit, and an
// address range past 65535.
package modbus

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.bug.st/serial"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/inputs/internal/metric"
	"github.com/fluentbit-go/fluentbit-go/internal/serialport"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the modbus input.
type Input struct {
	metric.Interval
	Mode      string        `conf:"mode"`
	Host      string        `conf:"host"`
	Port      int           `conf:"port"`
	File      string        `conf:"file"`
	Bitrate   int           `conf:"bitrate"`
	DataBits  int           `conf:"data_bits"`
	Parity    string        `conf:"parity"`
	StopBits  string        `conf:"stop_bits"`
	Timeout   time.Duration `conf:"timeout"`
	UnitID    int           `conf:"unit_id"`
	ByteOrder string        `conf:"byte_order"`
	MaxGap    int           `conf:"max_gap"`
	// Points are the points to read. The engine fills it from the point keys; a program
	// embedding the agent may set it directly (place is then unknown in errors).
	Points []Point

	pointProps []config.Property
	interval   time.Duration
	mode       serial.Mode
	reads      []*read
	units      []byte
	log        *slog.Logger
	warn       *metric.Warner

	tr          transport
	backoff     time.Duration
	nextConnect time.Time
	dial        func(ctx context.Context) (transport, error)
}

// Backoff bounds of reconnects.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 30 * time.Second
)

// New returns an Input with the defaults.
func New() *Input {
	return &Input{
		Interval: metric.Interval{IntervalSec: time.Second},
		Mode:     "tcp", Port: 502, Bitrate: 9600, DataBits: 8, Parity: "none", StopBits: "1",
		Timeout: time.Second, UnitID: 1, ByteOrder: "ABCD", MaxGap: maxReadRegisters,
	}
}

func init() { pipeline.RegisterInput("modbus", func() pipeline.Input { return New() }) }

// SetProperties decodes the keys: each point key is an inline map read into a Point, the
// others are decoded by their conf tags.
func (in *Input) SetProperties(props []config.Property) error {
	var rest []config.Property
	in.Points, in.pointProps = nil, nil
	for _, p := range props {
		k := strings.ToLower(strings.TrimSpace(p.Key))
		if k != "point" && k != "points" {
			rest = append(rest, p)
			continue
		}
		pt := newPoint()
		if err := config.DecodeInline(p, &pt); err != nil {
			return err
		}
		pt.place = p
		in.Points = append(in.Points, pt)
	}
	return config.Decode(rest, in)
}

// pointError places an error about point i at its line.
func (in *Input) pointError(i int, err error) error {
	pl := in.Points[i].place
	if pl.Key == "" {
		return config.KeyErrorf("point", "%s: %v", in.Points[i].Name, err)
	}
	return &config.Error{File: pl.File, Line: pl.Line, Key: pl.Key, Err: err}
}

// Validate checks the keys and the points, without side effects, and plans the reads.
func (in *Input) Validate() error {
	interval, err := in.Period()
	if err != nil {
		return err
	}
	in.interval = interval
	switch strings.ToLower(strings.TrimSpace(in.Mode)) {
	case "tcp", "rtu_over_tcp":
		if strings.TrimSpace(in.Host) == "" {
			return config.KeyErrorf("host", "not set: name the device or gateway for mode %s", in.Mode)
		}
		if in.Port < 1 || in.Port > 65535 {
			return config.KeyErrorf("port", "%d: want 1 to 65535", in.Port)
		}
	case "rtu":
		if strings.TrimSpace(in.File) == "" {
			return config.KeyErrorf("file", "not set: name the serial device for mode rtu, e.g. /dev/ttyUSB0")
		}
		if in.mode, err = serialport.Mode(in.Bitrate, in.DataBits, in.Parity, in.StopBits); err != nil {
			return err
		}
	default:
		return config.KeyErrorf("mode", "%q: want tcp, rtu or rtu_over_tcp", in.Mode)
	}
	if in.Timeout <= 0 {
		return config.KeyErrorf("timeout", "%v: want more than 0", in.Timeout)
	}
	if in.UnitID < 0 || in.UnitID > 255 {
		return config.KeyErrorf("unit_id", "%d: want 0 to 255", in.UnitID)
	}
	if _, _, err := parseOrder(in.ByteOrder); err != nil {
		return config.KeyErrorf("byte_order", "%v", err)
	}
	if in.MaxGap < 0 {
		return config.KeyErrorf("max_gap", "%d: want 0 or more", in.MaxGap)
	}
	if len(in.Points) == 0 {
		return config.KeyErrorf("point", "no points: add a point key per value to read, e.g. point name=voltage table=input_register address=0 type=float32")
	}
	seen := map[string]int{}
	var ps []*Point
	in.units = nil
	for i := range in.Points {
		p := &in.Points[i]
		if err := p.check(in.UnitID, in.ByteOrder); err != nil {
			return in.pointError(i, err)
		}
		id := strconv.Itoa(p.UnitID) + "\x00" + p.key
		if j, dup := seen[id]; dup {
			return in.pointError(i, fmt.Errorf("name: unit %d already has a point %q (point %d)", p.UnitID, p.key, j+1))
		}
		if _, ok := seen[strconv.Itoa(p.UnitID)]; !ok {
			seen[strconv.Itoa(p.UnitID)] = -1
			in.units = append(in.units, byte(p.UnitID))
		}
		seen[id] = i
		ps = append(ps, p)
	}
	slices.Sort(in.units)
	in.reads = plan(ps, in.MaxGap)
	return nil
}

// Init sets up logging and how to connect. The connection is made at the first poll, so
// a device that is off when the agent starts is waited for, not fatal.
func (in *Input) Init(_ context.Context, env pipeline.Env) error {
	in.log = metric.Logger(env)
	in.warn = metric.NewWarner(in.log, "modbus")
	in.backoff = 0
	if in.dial == nil {
		in.dial = in.connect
	}
	if strings.EqualFold(in.Mode, "rtu") {
		// Fail at start-up on what cannot get better (permissions, a refused bitrate); a
		// device that is not plugged in yet is waited for.
		p, err := serial.Open(in.File, &in.mode)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return serialport.OpenError(in.File, in.mode, in.Parity, err)
		}
		if p != nil {
			in.tr = &rtuTransport{c: &serialConn{p: p}, silence: rtuSilence(in.Bitrate)}
		}
	}
	return nil
}

// Close closes the connection.
func (in *Input) Close(context.Context) error {
	if in.tr != nil {
		err := in.tr.Close()
		in.tr = nil
		return err
	}
	return nil
}

// Run polls once per interval until ctx is done or the engine stops.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	defer in.Close(context.Background())
	return metric.Every(ctx, in.interval, func(ctx context.Context, now time.Time) error {
		for _, rec := range in.Poll(ctx) {
			if err := emit.Emit("", event.Event{Time: now, Record: rec}); err != nil {
				return fmt.Errorf("modbus: emit: %w", err)
			}
		}
		return nil
	})
}

// Poll reads every point once and returns one record per unit that answered at least
// one read, in unit order.
func (in *Input) Poll(ctx context.Context) []event.Map {
	recs := map[byte]*event.Map{}
	for i := 0; i < len(in.reads); i++ {
		// Without a connection (or when stopping) the reads left are skipped; what was
		// read before still makes its records.
		if ctx.Err() != nil || !in.connected(ctx) {
			break
		}
		r := in.reads[i]
		data, err := in.do(r)
		var exc *ExceptionError
		switch {
		case err == nil:
			rec := recs[r.unit]
			if rec == nil {
				rec = &event.Map{{"unit_id", int64(r.unit)}}
				recs[r.unit] = rec
			}
			r.values(data, rec)
			in.warn.Recovered(r.String(), "read answered again", "read", r.String())
		case errors.As(err, &exc) && exc.Code == 2 && len(r.points) > 1:
			// The span covers addresses the device does not have: ask for each point
			// alone, now and from now on.
			in.log.Info("modbus: the device refused a read spanning several points; reading them one by one", "read", r.String(), "err", err)
			parts := r.split()
			in.reads = append(in.reads[:i], append(parts, in.reads[i+1:]...)...)
			i--
		case errors.As(err, &exc):
			in.warn.Once(r.String(), "read refused; its points are left out", "unit", r.unit, "table", r.table.name, "address", r.start, "count", r.count, "read", r.String(), "err", err)
		case errors.Is(err, errTimeout):
			// The connection stays: on TCP a late answer is told apart by its
			// transaction id, on RTU the line was drained.
			in.warn.Once(r.String(), "no answer; its points are left out", "unit", r.unit, "table", r.table.name, "address", r.start, "count", r.count, "read", r.String(), "err", err, "timeout", in.Timeout)
		default:
			// A broken connection or a garbled frame: start afresh.
			in.warn.Once("conn", "connection lost; reconnecting", "target", in.target(), "read", r.String(), "err", err)
			in.disconnect()
		}
	}
	out := make([]event.Map, 0, len(recs))
	for _, u := range in.units {
		if rec, ok := recs[u]; ok {
			out = append(out, *rec)
		}
	}
	return out
}

func (in *Input) do(r *read) ([]byte, error) {
	pdu, err := in.tr.roundTrip(r.unit, readRequest(r.table.fc, r.start, r.count), time.Now().Add(in.Timeout))
	if err != nil {
		return nil, err
	}
	return DecodeResponse(r.table.fc, r.count, pdu)
}

// connected makes sure there is a connection, trying to make one when the backoff allows.
func (in *Input) connected(ctx context.Context) bool {
	if in.tr != nil {
		return true
	}
	if time.Now().Before(in.nextConnect) {
		return false
	}
	tr, err := in.dial(ctx)
	if err != nil {
		in.backoff = min(max(2*in.backoff, backoffMin), backoffMax)
		in.nextConnect = time.Now().Add(in.backoff)
		in.warn.Once("conn", "cannot connect; will retry", "target", in.target(), "err", err, "retry_in", in.backoff)
		return false
	}
	in.tr, in.backoff = tr, 0
	in.warn.Recovered("conn", "connected", "target", in.target())
	return true
}

func (in *Input) disconnect() {
	if in.tr != nil {
		in.tr.Close()
		in.tr = nil
	}
	in.backoff = min(max(2*in.backoff, backoffMin), backoffMax)
	in.nextConnect = time.Now().Add(in.backoff)
}

func (in *Input) target() string {
	if strings.EqualFold(in.Mode, "rtu") {
		return in.File
	}
	return net.JoinHostPort(in.Host, strconv.Itoa(in.Port))
}

// connect opens the connection the mode asks for.
func (in *Input) connect(ctx context.Context) (transport, error) {
	switch strings.ToLower(in.Mode) {
	case "rtu":
		p, err := serial.Open(in.File, &in.mode)
		if err != nil {
			return nil, err
		}
		return &rtuTransport{c: &serialConn{p: p}, silence: rtuSilence(in.Bitrate)}, nil
	default:
		d := net.Dialer{Timeout: in.Timeout}
		c, err := d.DialContext(ctx, "tcp", in.target())
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(in.Mode, "rtu_over_tcp") {
			return &rtuTransport{c: c}, nil
		}
		return &tcpTransport{c: c}, nil
	}
}

// serialConn gives a serial port the read deadline the transports use.
type serialConn struct {
	p        serial.Port
	deadline time.Time
}

func (s *serialConn) Read(b []byte) (int, error) {
	d := time.Until(s.deadline)
	if d <= 0 {
		return 0, nil
	}
	if err := s.p.SetReadTimeout(d); err != nil {
		return 0, err
	}
	return s.p.Read(b)
}

func (s *serialConn) Write(b []byte) (int, error)       { return s.p.Write(b) }
func (s *serialConn) Close() error                      { return s.p.Close() }
func (s *serialConn) SetReadDeadline(t time.Time) error { s.deadline = t; return nil }

var (
	_ pipeline.Input          = (*Input)(nil)
	_ pipeline.Initializer    = (*Input)(nil)
	_ pipeline.Validator      = (*Input)(nil)
	_ pipeline.Closer         = (*Input)(nil)
	_ pipeline.PropertySetter = (*Input)(nil)
)
