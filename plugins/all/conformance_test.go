package all

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// required lists, for the plugins that cannot run without some keys, the fewest keys that
// make a valid configuration: with none of them, the error must name one of them.
// Every other plugin must accept an empty section.
var required = map[string][]string{
	"input/modbus":       {"host", "127.0.0.1", "point", "name=v table=holding_register address=0 type=uint16"},
	"input/exec":         {"command", "true"},
	"input/mqtt":         {"topics", "sensors/#"},
	"input/netif":        {"interface", "lo"},
	"input/proc":         {"proc_name", "crond"},
	"input/serial":       {"file", "/dev/ttyUSB0", "bitrate", "9600"},
	"input/syslog":       {"path", "/run/fluentbit-syslog.sock"},
	"input/tail":         {"path", "/var/log/app/*.log"},
	"filter/expect":      {"key_exists", "k"},
	"filter/lua":         {"code", "function f(tag, ts, r) return 0, ts, r end", "call", "f"},
	"filter/nest":        {"operation", "lift", "nested_under", "k"},
	"filter/rewrite_tag": {"rule", "$k ^a$ new false"},
}

// incomplete lists the plugins no key/value list alone configures: they need another
// section of the configuration. Their check stops at the key that asks for it.
var incomplete = map[string][]string{
	// The parser filter needs a parser defined in a [PARSER] section (or parsers_file).
	"filter/parser": {"key_name", "log"},
}

// badValues gives, for each plugin that checks its values in Validate, a value it refuses:
// the agent must report it at the key's line, naming the key as written and the section.
var badValues = map[string][2]string{
	"input/cpu":                      {"Interval_Nsec", "-5"},
	"input/modbus":                   {"Byte_Order", "XYZW"},
	"input/tail":                     {"DB.Sync", "sometimes"},
	"input/syslog":                   {"Mode", "sctp"},
	"input/tcp":                      {"Format", "xml"},
	"input/udp":                      {"Format", "xml"},
	"input/disk":                     {"Dev_Name", "a/b"},
	"input/dummy":                    {"Dummy", "{not json"},
	"input/exec":                     {"Buf_Size", "1"},
	"input/forward":                  {"Port", "70000"},
	"input/http":                     {"Port", "70000"},
	"input/kmsg":                     {"Prio_Level", "9"},
	"input/mem":                      {"PID", "-3"},
	"input/mqtt":                     {"QoS", "3"},
	"input/netif":                    {"Interval_Sec", "-1"},
	"input/serial":                   {"Parity", "yes"},
	"input/systemd":                  {"Systemd_Filter_Type", "xor"},
	"filter/expect":                  {"Action", "explode"},
	"filter/grep":                    {"Regex", "log ([a-z"},
	"filter/lua":                     {"Call_Timeout", "-1s"},
	"filter/nest":                    {"Wildcard", "x"},
	"filter/record_modifier":         {"Record", "hostname"},
	"filter/throttle":                {"Rate", "-1"},
	"output/file":                    {"Json_Date_Format", "unix"},
	"output/forward":                 {"Compress", "zip"},
	"output/http":                    {"Format", "yaml"},
	"output/mqtt":                    {"QoS", "3"},
	"output/nats":                    {"Port", "70000"},
	"output/influxdb":                {"Precision", "h"},
	"output/loki":                    {"Line_Format", "xml"},
	"output/opentelemetry":           {"Compress", "zstd"},
	"output/prometheus_remote_write": {"Add_Label", "bad-name v"},
	"output/prometheus_exporter":     {"Stale_After", "0s"},
	"output/stdout":                  {"Format", "yaml"},
}

// badDecodes gives, for some plugins, a value their keys' decoding refuses (a bool, a size,
// a regular expression, a rule): reported at the key's line, naming the key as written.
var badDecodes = map[string][2]string{
	"input/proc":         {"Fd", "2"},
	"input/sensors":      {"Include_Chip", "("},
	"input/thermal":      {"Name_Regex", "("},
	"filter/modify":      {"Rename", "a"},
	"filter/parser":      {"Preserve_Key", "maybe"},
	"filter/rewrite_tag": {"Emitter_Mem_Buf_Limit", "lots"},
}

type plugin struct {
	kind, name string
	make       func() any
}

func (p plugin) id() string { return p.kind + "/" + p.name }

func registered() []plugin {
	var ps []plugin
	in, f, o := pipeline.Plugins()
	for _, n := range in {
		ps = append(ps, plugin{"input", n, func() any { p, _ := pipeline.NewInput(n); return p }})
	}
	for _, n := range f {
		ps = append(ps, plugin{"filter", n, func() any { p, _ := pipeline.NewFilter(n); return p }})
	}
	for _, n := range o {
		ps = append(ps, plugin{"output", n, func() any { p, _ := pipeline.NewOutput(n); return p }})
	}
	return ps
}

// Every plugin folder (inputs/X, filters/X, outputs/X) registers its plugin under its
// folder's name, and this package imports it: a plugin left out of all.go, or registered
// under another name, fails here.
func TestEveryPluginFolderIsRegisteredUnderItsName(t *testing.T) {
	byPkg := map[string]string{}
	for _, p := range registered() {
		typ := reflect.TypeOf(p.make())
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		dir := strings.TrimPrefix(typ.PkgPath(), "github.com/fluentbit-go/fluentbit-go/")
		if dir == typ.PkgPath() || !strings.HasPrefix(dir, p.kind+"s/") || strings.Count(dir, "/") != 1 {
			t.Errorf("%s is %s from package %s, want a package %ss/%s", p.id(), typ, typ.PkgPath(), p.kind, p.name)
			continue
		}
		// Folders may drop the underscore a plugin name has (rewrite_tag in rewritetag).
		if folder := filepath.Base(dir); strings.ReplaceAll(folder, "_", "") != strings.ReplaceAll(p.name, "_", "") {
			t.Errorf("%s is registered by package %s: a plugin is registered under its folder's name", p.id(), dir)
		}
		byPkg[dir] = p.name
	}
	for _, kind := range []string{"inputs", "filters", "outputs"} {
		entries, err := os.ReadDir(filepath.Join("..", "..", kind))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() || e.Name() == "internal" || e.Name() == "testdata" {
				continue
			}
			if _, ok := byPkg[kind+"/"+e.Name()]; !ok {
				t.Errorf("%s/%s registers no plugin, or plugins/all does not import it", kind, e.Name())
			}
		}
	}
}

// The factory makes a new instance each call, sharing no map, slice or plugin-owned
// pointer with the one before: instances configured differently must not see each other.
func TestFactoriesMakeFreshInstances(t *testing.T) {
	for _, p := range registered() {
		a, b := p.make(), p.make()
		va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
		if va.Kind() == reflect.Pointer && va.Pointer() == vb.Pointer() {
			t.Errorf("%s: the factory returned the same %T twice", p.id(), a)
			continue
		}
		if where := shared(va, vb, "", 0); where != "" {
			t.Errorf("%s: two instances share %s", p.id(), where)
		}
	}
}

// shared returns the path of the first map, slice or module-owned pointer that a and b
// (values of the same type) both hold, or "".
func shared(a, b reflect.Value, path string, depth int) string {
	if depth > 8 || !a.IsValid() || !b.IsValid() {
		return ""
	}
	switch a.Kind() {
	case reflect.Map:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			return "map " + path
		}
	case reflect.Slice:
		if a.Cap() > 0 && b.Cap() > 0 && a.Pointer() == b.Pointer() {
			return "slice " + path
		}
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			if depth > 0 && strings.HasPrefix(a.Type().Elem().PkgPath(), "github.com/fluentbit-go/fluentbit-go") {
				return "pointer " + path
			}
			return "" // a shared library object (os.Stdout): not the plugin's state
		}
		return shared(a.Elem(), b.Elem(), path, depth+1)
	case reflect.Interface:
		if a.IsNil() || b.IsNil() || a.Elem().Type() != b.Elem().Type() {
			return ""
		}
		return shared(a.Elem(), b.Elem(), path, depth+1)
	case reflect.Struct:
		for i := range a.NumField() {
			if w := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name, depth+1); w != "" {
				return w
			}
		}
	}
	return ""
}

// A section with the keys in required (none for most plugins) is valid, and without them
// the error names the first one.
func TestDefaultConfigIsValid(t *testing.T) {
	for _, p := range registered() {
		if kv, ok := incomplete[p.id()]; ok {
			err := pipelinetest.Configure(p.kind, p.name, kv...)
			if err == nil {
				t.Errorf("%s: configured without the section it needs", p.id())
			}
			continue
		}
		kv := required[p.id()]
		if err := pipelinetest.Configure(p.kind, p.name, kv...); err != nil {
			t.Errorf("%s with %q: %v", p.id(), kv, err)
		}
		if len(kv) > 0 {
			err := pipelinetest.Configure(p.kind, p.name)
			if err == nil || !slices.ContainsFunc(keysOf(kv), func(k string) bool { return strings.Contains(err.Error(), k) }) {
				t.Errorf("%s without keys: error %v, want one about a key of %q", p.id(), err, kv)
			}
		}
	}
	for id := range required {
		if _, ok := find(id); !ok {
			t.Errorf("required lists %s, which is not registered", id)
		}
	}
}

// An unknown key is reported at its line, by name, whatever the plugin decodes its keys with.
func TestUnknownKeyIsReportedAtItsLine(t *testing.T) {
	for _, p := range registered() {
		kv := append(append([]string{}, required[p.id()]...), incomplete[p.id()]...)
		kv = append(kv, "No_Such_Key", "1")
		err := pipelinetest.Configure(p.kind, p.name, kv...)
		want := pipelinetest.File + ":" + strconv.Itoa(len(kv)/2) + `: key "No_Such_Key"`
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want it to start with %s", p.id(), err, want)
		}
	}
}

// A bad value is reported by Configure (so by New and --dry-run, before Init) at the key's
// line, with the key as written, and with the section it is in when Validate found it.
func TestBadValueIsReportedAtItsLine(t *testing.T) {
	check := func(table map[string][2]string, section bool) {
		for id, bad := range table {
			p, ok := find(id)
			if !ok {
				t.Errorf("%s is listed, but not registered", id)
				continue
			}
			kv := append([]string{"alias", "x"}, required[p.id()]...)
			kv = append(append(kv, incomplete[p.id()]...), bad[0], bad[1])
			err := pipelinetest.Configure(p.kind, p.name, kv...)
			want := pipelinetest.File + ":" + strconv.Itoa(len(kv)/2) + `: key "` + bad[0] + `": `
			if section {
				want += p.kind + ` "` + p.name + `": `
			}
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("%s %s=%q: error %v, want it to start with %s", id, bad[0], bad[1], err, want)
			}
		}
	}
	check(badValues, true)
	check(badDecodes, false)
	// A new plugin with keys adds itself to one of the tables.
	for _, p := range registered() {
		_, v := badValues[p.id()]
		_, d := badDecodes[p.id()]
		if !v && !d && p.id() != "output/null" { // null takes no keys
			t.Errorf("%s: give a bad value for one of its keys in badValues or badDecodes", p.id())
		}
	}
}

// emitting lists the inputs that emit on their own, with keys that make them emit at once.
var emitting = map[string][]string{
	"cpu":   {"interval_sec", "0", "interval_nsec", "10000000"},
	"mem":   {"interval_sec", "0", "interval_nsec", "10000000"},
	"disk":  {"interval_sec", "0", "interval_nsec", "10000000"},
	"dummy": {"rate", "1000"},
	"exec":  {"command", "echo x", "interval_sec", "0", "interval_nsec", "10000000"},
	"netif": {"interface", "lo", "interval_sec", "0", "interval_nsec", "10000000"},
}

// An input whose Emit returns pipeline.ErrStopped (the engine is shutting down) returns nil
// from Run at once, without its context being cancelled.
func TestInputStopsWhenEngineStops(t *testing.T) {
	for name, kv := range emitting {
		t.Run(name, func(t *testing.T) {
			if name == "disk" {
				if _, err := os.Stat("/proc/diskstats"); err != nil {
					t.Skip("no /proc/diskstats: disk emits nothing here")
				}
			}
			rec := pipelinetest.NewRecorder()
			rec.FailWith(pipeline.ErrStopped)
			r := pipelinetest.StartInput(t, pipelinetest.Input[pipeline.Input](t, name, kv...), pipeline.Env{Name: name + ".0"}, rec)
			select {
			case <-r.Done():
				if err := r.Stop(); err != nil {
					t.Errorf("Run = %v on ErrStopped, want nil", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Run kept going after Emit returned ErrStopped")
			}
		})
	}
}

// Every lifecycle method a plugin declares is one the engine calls: none has a signature
// that makes the type miss its interface (registration panics on that too; this names
// every plugin at once, and also the second instance a factory makes).
func TestLifecycleSignatures(t *testing.T) {
	for _, p := range registered() {
		if err := pipeline.CheckLifecycle(p.make()); err != nil {
			t.Errorf("%s: %v", p.id(), err)
		}
	}
}

func keysOf(kv []string) []string {
	var ks []string
	for i := 0; i < len(kv); i += 2 {
		ks = append(ks, kv[i])
	}
	return ks
}

func find(id string) (plugin, bool) {
	for _, p := range registered() {
		if p.id() == id {
			return p, true
		}
	}
	return plugin{}, false
}

// shared finds what a factory that hands out a package-level map or pointer would share.
func TestSharedFindsSharedState(t *testing.T) {
	type state struct{ n int }
	type inner struct{ m map[string]int }
	type plug struct {
		in  inner
		s   *state
		any any
	}
	m, st := map[string]int{}, &state{}
	if w := shared(reflect.ValueOf(&plug{in: inner{m: m}}), reflect.ValueOf(&plug{in: inner{m: m}}), "", 0); w != "map .in.m" {
		t.Errorf("shared map: %q", w)
	}
	if w := shared(reflect.ValueOf(&plug{s: st}), reflect.ValueOf(&plug{s: st}), "", 0); w != "pointer .s" {
		t.Errorf("shared pointer: %q", w)
	}
	if w := shared(reflect.ValueOf(&plug{any: []int{1}}), reflect.ValueOf(&plug{any: []int{1}}), "", 0); w != "" {
		t.Errorf("fresh slices: %q", w)
	}
	if w := shared(reflect.ValueOf(&plug{any: os.Stdout}), reflect.ValueOf(&plug{any: os.Stdout}), "", 0); w != "" {
		t.Errorf("os.Stdout: %q", w)
	}
}

// The outputs that build a whole chunk's encoding (or hold its payloads in flight) say how
// large it is, so that the engine counts it against the memory budget
// (pipeline.EncodingSizer); the others stream records and need not.
func TestEncodingOutputsSizeTheirEncoding(t *testing.T) {
	chunk := &pipeline.Chunk{Tag: "t", Data: make([]byte, 1000), Records: 10}
	for _, name := range []string{"http", "loki", "opentelemetry", "influxdb", "prometheus_remote_write", "nats", "mqtt"} {
		out, ok := pipeline.NewOutput(name)
		if !ok {
			t.Fatalf("output %s is not registered", name)
		}
		sz, ok := out.(pipeline.EncodingSizer)
		if !ok {
			t.Errorf("output %s builds an encoding of a chunk but does not implement pipeline.EncodingSizer", name)
			continue
		}
		if n := sz.EncodedSize(chunk); n < len(chunk.Data) {
			t.Errorf("output %s estimates %d bytes for a 1000-byte chunk: less than the chunk", name, n)
		}
	}
}
