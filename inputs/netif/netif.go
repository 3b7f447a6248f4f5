// Package netif reports the traffic of one network interface, like Fluent Bit's netif
// input: bytes, packets and errors received and sent during each interval. It reads the
// kernel's counters in /proc/net/dev (Linux only); it does not report addresses, link
// state or wireless signal.
//
//	[INPUT]
//	    Name          netif
//	    Tag           netif
//	    Interface     eth0
//	    Interval_Sec  1
//
// Keys:
//
//   - interface: the interface to watch (required), e.g. eth0, wlan0, enp3s0.
//   - interval_sec: seconds between records (default 1); a fraction (0.5) or a Go duration
//     (500ms) works too.
//   - interval_nsec: nanoseconds added to interval_sec (default 0). When both are 0 the
//     interval is 1 second, as in Fluent Bit.
//   - verbose on|off: add the kernel's other counters (default off).
//   - test_at_init on|off: fail at start-up when the interface does not exist (default off:
//     the input waits for it).
//
// Records (unsigned integers, counted over the last interval; "eth0" stands for the
// interface): eth0.rx.bytes, eth0.rx.packets, eth0.rx.errors, eth0.tx.bytes,
// eth0.tx.packets, eth0.tx.errors. With verbose also eth0.rx.drop, eth0.rx.fifo,
// eth0.rx.frame, eth0.rx.compressed, eth0.rx.multicast, eth0.tx.drop, eth0.tx.fifo,
// eth0.tx.collisions, eth0.tx.carrier and eth0.tx.compressepd — Fluent Bit's spelling of
// that last one, kept so dashboards built for it keep working.
//
// The first record comes one interval after the input starts (or after the interface
// appears): a difference needs two readings. A counter that goes backwards (the interface
// was re-created) counts from 0. Differences from Fluent Bit: it matches any interface
// whose name starts with the key ("eth" takes eth0) and, when the interface is missing,
// emits zeros; here the name must match exactly, and a missing interface (a USB adapter
// unplugged, a platform without /proc/net/dev) is logged once and emits nothing until it
// is back.
package netif

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/fluentbit-go/fluentbit-go/event"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/inputs/internal/metric"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the netif input. Set the fields (or let the engine decode them), then call Init.
type Input struct {
	metric.Interval
	Interface  string `conf:"interface"`
	Verbose    bool   `conf:"verbose"`
	TestAtInit bool   `conf:"test_at_init"`

	host     metric.Host // tests: read this /proc instead
	warn     *metric.Warner
	interval time.Duration
	keys     [nCounters]string // "eth0.rx.bytes", ...
	prev     *[nCounters]uint64
}

// The columns of /proc/net/dev after the interface name, in order, as Fluent Bit names
// them; basic marks those reported without verbose.
const nCounters = 16

var names = [nCounters]string{
	"rx.bytes", "rx.packets", "rx.errors", "rx.drop", "rx.fifo", "rx.frame", "rx.compressed", "rx.multicast",
	"tx.bytes", "tx.packets", "tx.errors", "tx.drop", "tx.fifo", "tx.collisions", "tx.carrier", "tx.compressepd",
}

var basic = [nCounters]bool{0: true, 1: true, 2: true, 8: true, 9: true, 10: true}

// New returns an Input with Fluent Bit's defaults.
func New() *Input { return &Input{Interval: metric.Interval{IntervalSec: time.Second}} }

func init() { pipeline.RegisterInput("netif", func() pipeline.Input { return New() }) }

// Validate checks the keys, without side effects.
func (in *Input) Validate() error {
	interval, err := in.Period()
	if err != nil {
		return err
	}
	name := strings.TrimSpace(in.Interface)
	switch {
	case name == "":
		return config.KeyErrorf("interface", "not set: name the network interface to watch, e.g. eth0")
	case strings.ContainsAny(name, " \t:/"):
		return config.KeyErrorf("interface", "%q: not an interface name", in.Interface)
	}
	in.interval = interval
	for i, n := range names {
		in.keys[i] = name + "." + n
	}
	return nil
}

// Init validates the keys, takes the first reading and, with test_at_init, checks that
// the interface exists.
func (in *Input) Init(ctx context.Context, env pipeline.Env) error {
	in.warn = metric.NewWarner(metric.Logger(env), "netif")
	if err := in.Validate(); err != nil {
		return err
	}
	if in.TestAtInit {
		if _, err := in.counters(in.host.Context(ctx)); err != nil {
			return config.KeyErrorf("interface", "%v", err)
		}
	}
	in.prev = in.read(in.host.Context(ctx))
	return nil
}

// Run emits one record per interval until ctx is done or the engine stops.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	return metric.EmitEvery(ctx, emit, in.interval, "netif", func(ctx context.Context) event.Map {
		return in.collect(in.host.Context(ctx))
	})
}

// collect reads the counters and returns what changed since the last reading, or nil.
func (in *Input) collect(ctx context.Context) event.Map {
	cur := in.read(ctx)
	prev := in.prev
	in.prev = cur
	if cur == nil || prev == nil {
		return nil
	}
	rec := make(event.Map, 0, nCounters)
	for i := range nCounters {
		if !in.Verbose && !basic[i] {
			continue
		}
		d := cur[i] - prev[i]
		if cur[i] < prev[i] {
			d = cur[i]
		}
		rec = append(rec, event.KV{Key: in.keys[i], Value: d})
	}
	return rec
}

// read returns the interface's counters, or nil (logged once) when they are missing.
func (in *Input) read(ctx context.Context) *[nCounters]uint64 {
	c, err := in.counters(ctx)
	if err != nil {
		in.warn.Once("iface", "cannot read the interface's counters; will keep trying", "interface", in.Interface, "err", err)
		return nil
	}
	in.warn.Recovered("iface", "interface counters are back", "interface", in.Interface)
	return c
}

var errNoInterface = errors.New("no such interface")

func (in *Input) counters(ctx context.Context) (*[nCounters]uint64, error) {
	data, err := os.ReadFile(metric.ProcPath(ctx, "net", "dev"))
	if err != nil {
		return nil, err
	}
	c, err := parseNetDev(data, strings.TrimSpace(in.Interface))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.Interface, err)
	}
	return c, nil
}

// parseNetDev finds iface's line in the text of /proc/net/dev and returns its 16 counters.
func parseNetDev(data []byte, iface string) (*[nCounters]uint64, error) {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(bytes.TrimSpace(name)) != iface {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) < nCounters {
			return nil, fmt.Errorf("malformed line: %d counters, want %d", len(fields), nCounters)
		}
		var c [nCounters]uint64
		for i := range nCounters {
			n, err := strconv.ParseUint(string(fields[i]), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("malformed %s counter %q", names[i], fields[i])
			}
			c[i] = n
		}
		return &c, nil
	}
	return nil, errNoInterface
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
)
