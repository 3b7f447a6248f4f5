// Package lua runs a Lua function on every record, like Fluent Bit's lua filter, with a
// pure-Go Lua 5.1 VM (github.com/yuin/gopher-lua): no cgo, so it builds for every board.
//
//	[FILTER]
//	    Name    lua
//	    Match   *
//	    Script  test.lua
//	    Call    cb_print
//
// Keys:
//
//   - script PATH: the Lua file to load (relative paths are relative to the working
//     directory). One of script or code is required.
//   - code SOURCE: Lua source given inline instead of a file.
//   - call NAME (required): the global function called per record as
//     `code, timestamp, record = NAME(tag, timestamp, record)`.
//   - time_as_table on|off (default off): pass and read the timestamp as a table
//     {sec = S, nsec = N} instead of a number of seconds with a fraction (which cannot
//     hold nanoseconds exactly).
//   - protected_mode on|off (default on): accepted; calls always run protected here, so
//     a Lua error never stops the agent: it is counted and logged and the record passes
//     unchanged (what Fluent Bit does in protected mode).
//   - type_int_key "k1 k2": values of these top-level keys that the script returns as
//     numbers become integers (truncated).
//   - type_array_key "k1 k2": these top-level keys, when the script returns an empty
//     table for them, become empty arrays (not empty maps).
//   - enable_flb_null: accepted; Lua nil is the only null.
//   - sandbox on|off (default off): off, the script gets every standard library, as in
//     Fluent Bit (base, package, table, io, os, string, math, debug, coroutine). On, it
//     gets only base (without dofile, loadfile, require and module), table, string, math
//     and coroutine: it cannot touch files, processes or the environment. Ours.
//   - enable_libs "os io package debug" (default none): with sandbox on, libraries to open
//     besides the safe ones (ignored with sandbox off, where every library is open). Ours.
//   - call_timeout DURATION (default 0, none): stop a call that runs longer (an endless
//     loop in the script would otherwise hold up every record of the pipeline); the
//     record passes unchanged and the error is counted. Ours; it slows the VM down a
//     little, as it checks the deadline as it runs.
//
// Return codes, as in Fluent Bit: -1 drops the record; 0 keeps it unchanged; 1 replaces the
// record and the timestamp by the returned ones; 2 replaces the record and keeps the
// original timestamp. Any other code, or a record that is not a table, is an error: the
// record passes unchanged.
//
// Conversions. A record becomes a Lua table: maps are tables with string keys, arrays are
// sequences (from 1), strings and binary data are strings, integers and floats are numbers,
// booleans are booleans, null is nil. On the way back the rules are Fluent Bit's
// (flb_lua_arraylength, checked against Fluent Bit 5.1.1): a table with at least one
// positive number key is an array as long as its largest such key (truncated), element i
// being t[i] (nil where absent: {[1]="a",[3]="c"} is ["a",nil,"c"]; other keys are left out:
// {1,2,k="v"} is [1,2]); any other table is a map (number and boolean keys are written as
// text, where Fluent Bit writes them as msgpack numbers and booleans); an empty table is an
// empty map (see type_array_key); a number with no fraction that fits an int64 is an
// integer (3.0 is 3, -0.0 is 0), any other number a float (2^63, NaN, infinities).
// Integers above 2^53 lose precision in Lua, whose numbers are float64. An array longer
// than 1<<20 (from a key like 1e9) is written as a map instead, where Fluent Bit would
// allocate it. string.upper and string.lower change ASCII letters only, as C's toupper does
// in Fluent Bit's C locale ("héllo" becomes "HéLLO").
//
// Key order. Lua tables have no order; Fluent Bit writes a returned table in the order of
// its Lua hash, which looks random. Here a returned record keeps the keys of the record
// that went in at their places and has the keys the script added after them, in the order
// it added them (gopher-lua walks a table in insertion order); a key set to nil is gone.
//
// Returning an array of records (code 1 or 2) splits the record into several, as in Fluent
// Bit: each element that is a table becomes a record (others are left out), all with the
// returned timestamp for code 1; they go on through the following filters in order.
//
// One Lua state runs per filter instance and calls are serialised, as in Fluent Bit, so
// global variables in the script keep their values from one record to the next.
//
// Differences from Fluent Bit: key order (above); map keys are always strings; a function
// or other non-data value in the returned record becomes null, where Fluent Bit fails the
// call; LuaJIT's bit, jit and ffi modules and C modules are not available.
package lua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Lua is the lua filter.
type Lua struct {
	Script        string        `conf:"script" path:"config"`
	Code          string        `conf:"code"`
	Call          string        `conf:"call"`
	TimeAsTable   bool          `conf:"time_as_table"`
	ProtectedMode bool          `conf:"protected_mode"`
	TypeIntKey    string        `conf:"type_int_key"`
	TypeArrayKey  string        `conf:"type_array_key"`
	EnableFlbNull bool          `conf:"enable_flb_null"`
	EnableLibs    string        `conf:"enable_libs"`
	Sandbox       bool          `conf:"sandbox"`
	CallTimeout   time.Duration `conf:"call_timeout"`

	mu      sync.Mutex // one Lua state, one call at a time
	state   *glua.LState
	fn      *glua.LFunction
	intKeys []string
	arrKeys []string
	libs    map[string]bool
	log     *slog.Logger
}

// newState makes the Lua state: every standard library, as Fluent Bit opens them, or with
// sandbox only the safe ones plus libs. string.upper and string.lower are replaced by
// byte-wise ASCII versions (C's toupper in Fluent Bit's C locale).
func newState(sandbox bool, libs map[string]bool) *glua.LState {
	if !sandbox {
		L := glua.NewState()
		asciiCase(L)
		return L
	}
	L := glua.NewState(glua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		fn   glua.LGFunction
	}{{glua.BaseLibName, glua.OpenBase}, {glua.TabLibName, glua.OpenTable}, {glua.StringLibName, glua.OpenString},
		{glua.MathLibName, glua.OpenMath}, {glua.CoroutineLibName, glua.OpenCoroutine}} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(glua.LString(lib.name))
		L.Call(1, 0)
	}
	if !libs[glua.LoadLibName] {
		for _, name := range []string{"dofile", "loadfile", "require", "module"} {
			L.SetGlobal(name, glua.LNil)
		}
	}
	for _, name := range []string{glua.LoadLibName, glua.OsLibName, glua.IoLibName, glua.DebugLibName} {
		if libs[name] {
			L.Push(L.NewFunction(extraLibs[name]))
			L.Push(glua.LString(name))
			L.Call(1, 0)
		}
	}
	asciiCase(L)
	return L
}

func asciiCase(L *glua.LState) {
	str, ok := L.GetGlobal(glua.StringLibName).(*glua.LTable)
	if !ok {
		return
	}
	conv := func(lower bool) glua.LGFunction {
		return func(L *glua.LState) int {
			s := L.CheckString(1)
			b := []byte(s)
			for i, c := range b {
				if lower && c >= 'A' && c <= 'Z' {
					b[i] = c + 'a' - 'A'
				} else if !lower && c >= 'a' && c <= 'z' {
					b[i] = c - 'a' + 'A'
				}
			}
			L.Push(glua.LString(b))
			return 1
		}
	}
	str.RawSetString("upper", L.NewFunction(conv(false)))
	str.RawSetString("lower", L.NewFunction(conv(true)))
}

var extraLibs = map[string]glua.LGFunction{
	glua.OsLibName: glua.OpenOs, glua.IoLibName: glua.OpenIo,
	glua.LoadLibName: glua.OpenPackage, glua.DebugLibName: glua.OpenDebug,
}

func init() {
	pipeline.RegisterFilter("lua", func() pipeline.Filter { return &Lua{ProtectedMode: true} })
}

// Validate checks the keys without loading the script.
func (f *Lua) Validate() error {
	if f.Script == "" && f.Code == "" {
		return config.KeyErrorf("script", "missing: give script (a file) or code (inline Lua)")
	}
	if f.Script != "" && f.Code != "" {
		return config.KeyErrorf("code", "give script or code, not both")
	}
	if f.Call == "" {
		return config.KeyErrorf("call", "missing: name the Lua function to call")
	}
	if f.CallTimeout < 0 {
		return config.KeyErrorf("call_timeout", "negative duration")
	}
	f.libs = map[string]bool{}
	for _, l := range strings.FieldsFunc(f.EnableLibs, func(r rune) bool { return r == ' ' || r == ',' }) {
		l = strings.ToLower(l)
		if _, ok := extraLibs[l]; !ok {
			return config.KeyErrorf("enable_libs", "%q: want os, io, package or debug", l)
		}
		f.libs[l] = true
	}
	f.intKeys = strings.Fields(f.TypeIntKey)
	f.arrKeys = strings.Fields(f.TypeArrayKey)
	// Compile only (nothing runs), so that a missing file or a syntax error shows up when
	// the configuration is loaded (and at --dry-run).
	src, key := f.Code, "code"
	if f.Script != "" {
		b, err := os.ReadFile(f.Script)
		if err != nil {
			return config.KeyErrorf("script", "%v", err)
		}
		src, key = string(b), "script"
	}
	L := glua.NewState(glua.Options{SkipOpenLibs: true})
	defer L.Close()
	if _, err := L.LoadString(src); err != nil {
		return config.KeyErrorf(key, "%v", err)
	}
	return nil
}

// Init loads the script into a fresh, sandboxed Lua state.
func (f *Lua) Init(_ context.Context, env pipeline.Env) error {
	if err := f.Validate(); err != nil {
		return err
	}
	f.log = env.Logger
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	L := newState(f.Sandbox, f.libs)
	var err error
	if f.Script != "" {
		var src []byte
		if src, err = os.ReadFile(f.Script); err == nil {
			err = L.DoString(string(src))
		}
		if err != nil {
			L.Close()
			return config.KeyErrorf("script", "%v", err)
		}
	} else if err = L.DoString(f.Code); err != nil {
		L.Close()
		return config.KeyErrorf("code", "%v", err)
	}
	fn, ok := L.GetGlobal(f.Call).(*glua.LFunction)
	if !ok {
		L.Close()
		return config.KeyErrorf("call", "the script defines no function %q", f.Call)
	}
	f.state, f.fn = L, fn
	return nil
}

// Close releases the Lua state.
func (f *Lua) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state != nil {
		f.state.Close()
		f.state = nil
	}
	return nil
}

// Filter calls the Lua function on the record. When the script returns several records,
// Filter keeps the first: the engine calls FilterSplit, which passes them all on.
func (f *Lua) Filter(tag string, ev *event.Event) (pipeline.Verdict, error) {
	v, _, err := f.FilterSplit(tag, ev)
	return v, err
}

// FilterSplit calls the Lua function on the record; more is the records after the first
// when the script returned an array of records.
func (f *Lua) FilterSplit(tag string, ev *event.Event) (pipeline.Verdict, []event.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	L := f.state
	if L == nil {
		return pipeline.Keep, nil, errors.New("lua: filter closed")
	}
	var ts glua.LValue
	if f.TimeAsTable {
		t := L.CreateTable(0, 2)
		t.RawSetString("sec", glua.LNumber(ev.Time.Unix()))
		t.RawSetString("nsec", glua.LNumber(ev.Time.Nanosecond()))
		ts = t
	} else {
		ts = glua.LNumber(float64(ev.Time.Unix()) + float64(ev.Time.Nanosecond())/1e9)
	}
	rec := mapToTable(L, ev.Record)
	top := L.GetTop()
	if f.CallTimeout > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), f.CallTimeout)
		L.SetContext(ctx)
		defer func() {
			L.RemoveContext()
			cancel()
		}()
	}
	L.Push(f.fn)
	L.Push(glua.LString(tag))
	L.Push(ts)
	L.Push(rec)
	if err := L.PCall(3, 3, nil); err != nil {
		L.SetTop(top)
		return pipeline.Keep, nil, fmt.Errorf("lua: %s: %w", f.Call, err)
	}
	retCode, retTS, retRec := L.Get(-3), L.Get(-2), L.Get(-1)
	L.SetTop(top)
	code, ok := retCode.(glua.LNumber)
	if !ok {
		return pipeline.Keep, nil, fmt.Errorf("lua: %s returned %s as its code, want -1, 0, 1 or 2", f.Call, retCode.Type())
	}
	switch code {
	case -1:
		return pipeline.Drop, nil, nil
	case 0:
		return pipeline.Keep, nil, nil
	case 1, 2:
	default:
		return pipeline.Keep, nil, fmt.Errorf("lua: %s returned code %v, want -1, 0, 1 or 2", f.Call, code)
	}
	tbl, ok := retRec.(*glua.LTable)
	if !ok {
		return pipeline.Keep, nil, fmt.Errorf("lua: %s returned %s as the record, want a table", f.Call, retRec.Type())
	}
	var newTime time.Time
	if _, isNum := ts.(glua.LNumber); isNum && code == 1 && retTS == ts {
		code = 2 // the timestamp came back as it went: keep it exact (a float has no nanoseconds)
	}
	if code == 1 {
		t, err := f.readTime(retTS)
		if err != nil {
			return pipeline.Keep, nil, err
		}
		newTime = t
	}
	if n := arrayLength(tbl); n > 0 {
		// An array of records: the first replaces ev, the others follow it.
		var recs []event.Map
		for i := 1; i <= n; i++ {
			if t, ok := tbl.RawGetInt(i).(*glua.LTable); ok {
				recs = append(recs, f.record(t))
			}
		}
		if len(recs) == 0 {
			return pipeline.Drop, nil, nil
		}
		more := make([]event.Event, len(recs)-1)
		for i := range more {
			more[i] = event.Event{Time: ev.Time, Metadata: ev.Metadata.Clone(), Record: recs[i+1]}
			if code == 1 {
				more[i].Time = newTime
			}
		}
		ev.Record = recs[0]
		if code == 1 {
			ev.Time = newTime
		}
		return pipeline.Keep, more, nil
	}
	ev.Record = f.record(tbl)
	if code == 1 {
		ev.Time = newTime
	}
	return pipeline.Keep, nil, nil
}

// record converts a returned table to a record, applying type_int_key and type_array_key.
func (f *Lua) record(t *glua.LTable) event.Map {
	var m event.Map
	if v := fromLua(t, 0); v != nil {
		m, _ = v.(event.Map)
	}
	if m == nil {
		m = event.Map{} // an array where a record was wanted: Fluent Bit makes it an empty map
	}
	for _, k := range f.intKeys {
		if i := m.Index(k); i >= 0 {
			if v, ok := m[i].Value.(float64); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				m[i].Value = int64(v)
			}
		}
	}
	for _, k := range f.arrKeys {
		if i := m.Index(k); i >= 0 {
			if v, ok := m[i].Value.(event.Map); ok && len(v) == 0 {
				m[i].Value = []any{}
			}
		}
	}
	return m
}

func (f *Lua) readTime(v glua.LValue) (time.Time, error) {
	switch x := v.(type) {
	case glua.LNumber:
		fl := float64(x)
		if math.IsNaN(fl) || math.IsInf(fl, 0) || math.Abs(fl) > 1e12 {
			return time.Time{}, fmt.Errorf("lua: %s returned timestamp %v", f.Call, fl)
		}
		sec := math.Floor(fl)
		return time.Unix(int64(sec), int64(math.Round((fl-sec)*1e9))), nil
	case *glua.LTable:
		s, ok1 := x.RawGetString("sec").(glua.LNumber)
		n, ok2 := x.RawGetString("nsec").(glua.LNumber)
		if !ok1 || math.Abs(float64(s)) > 1e12 {
			return time.Time{}, fmt.Errorf("lua: %s returned a timestamp table without a valid sec", f.Call)
		}
		if !ok2 {
			n = 0
		}
		return time.Unix(int64(s), int64(n)), nil
	}
	return time.Time{}, fmt.Errorf("lua: %s returned %s as the timestamp", f.Call, v.Type())
}

// maxDepth bounds conversion of nested values (a self-referencing Lua table would
// otherwise recurse forever).
const maxDepth = 64

// mapToTable builds the table in record order: gopher-lua's next() walks a table's keys in
// the order they were first set, so the keys of the record come back in their places.
func mapToTable(L *glua.LState, m event.Map) *glua.LTable {
	t := L.CreateTable(0, len(m))
	for _, kv := range m {
		t.RawSetString(kv.Key, toLua(L, kv.Value, 0))
	}
	return t
}

func toLua(L *glua.LState, v any, depth int) glua.LValue {
	if depth > maxDepth {
		return glua.LNil
	}
	switch x := v.(type) {
	case nil:
		return glua.LNil
	case string:
		return glua.LString(x)
	case []byte:
		return glua.LString(x)
	case bool:
		return glua.LBool(x)
	case int64:
		return glua.LNumber(x)
	case uint64:
		return glua.LNumber(x)
	case int:
		return glua.LNumber(x)
	case int32:
		return glua.LNumber(x)
	case float64:
		return glua.LNumber(x)
	case float32:
		return glua.LNumber(x)
	case event.Map:
		t := L.CreateTable(0, len(x))
		for _, kv := range x {
			t.RawSetString(kv.Key, toLua(L, kv.Value, depth+1))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, toLua(L, e, depth+1))
		}
		return t
	case []any:
		t := L.CreateTable(len(x), 0)
		for i, e := range x {
			t.RawSetInt(i+1, toLua(L, e, depth+1))
		}
		return t
	case time.Time:
		return glua.LNumber(float64(x.UnixNano()) / 1e9)
	case event.Ext:
		return glua.LString(x.Data)
	}
	return glua.LString(fmt.Sprint(v))
}

// maxArray bounds the array a table becomes: a key like 1e9 would otherwise make an array
// of a billion nulls (Fluent Bit's would); such a table is written as a map.
const maxArray = 1 << 20

// arrayLength is Fluent Bit's flb_lua_arraylength: the largest positive number key
// (truncated to an integer), 0 when there is none (the table is a map).
func arrayLength(t *glua.LTable) int {
	n := 0
	for k, _ := t.Next(glua.LNil); k != glua.LNil; k, _ = t.Next(k) {
		if kn, ok := k.(glua.LNumber); ok {
			if f := float64(kn); f >= 1 {
				if f > maxArray {
					return 0
				}
				n = max(n, int(f))
			}
		}
	}
	return n
}

// tableToMap reads t's pairs in next() order: the keys the table was built with first, in
// their order, then the keys the script added, in the order it added them.
func tableToMap(t *glua.LTable, depth int) event.Map {
	m := make(event.Map, 0, 8)
	for k, v := t.Next(glua.LNil); k != glua.LNil; k, v = t.Next(k) {
		var key string
		switch kk := k.(type) {
		case glua.LString:
			key = string(kk)
		case glua.LNumber:
			key = numberKey(float64(kk))
		default:
			key = k.String()
		}
		m.Set(key, fromLua(v, depth+1))
	}
	return m
}

func numberKey(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func fromLua(v glua.LValue, depth int) any {
	switch x := v.(type) {
	case *glua.LNilType:
		return nil
	case glua.LBool:
		return bool(x)
	case glua.LString:
		return string(x)
	case glua.LNumber:
		f := float64(x)
		if f == math.Trunc(f) && f >= -9.2e18 && f <= 9.2e18 {
			return int64(f)
		}
		return f
	case *glua.LTable:
		if depth > maxDepth {
			return nil
		}
		if n := arrayLength(x); n > 0 {
			out := make([]any, n)
			for i := 1; i <= n; i++ {
				out[i-1] = fromLua(x.RawGetInt(i), depth+1)
			}
			return out
		}
		return tableToMap(x, depth)
	}
	// Functions, userdata, threads and channels have no record form.
	return nil
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Filter      = (*Lua)(nil)
	_ pipeline.Splitter    = (*Lua)(nil)
	_ pipeline.Validator   = (*Lua)(nil)
	_ pipeline.Initializer = (*Lua)(nil)
	_ pipeline.Closer      = (*Lua)(nil)
)
