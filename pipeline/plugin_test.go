package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
)

// lcLog records the lifecycle calls of the lc_* plugins, in order.
var lcLog struct {
	sync.Mutex
	calls   []string
	flushed chan struct{}
}

func lcCall(format string, args ...any) {
	lcLog.Lock()
	defer lcLog.Unlock()
	lcLog.calls = append(lcLog.calls, fmt.Sprintf(format, args...))
}

// lcPlugin is the part every lc_* plugin shares: it logs each lifecycle step it sees.
type lcPlugin struct {
	kind string
	ID   string `conf:"id"`
	Fail bool   `conf:"fail_init"`
}

func (p *lcPlugin) SetConfig(*config.Config) { lcCall("%s SetConfig", p.kind) }
func (p *lcPlugin) Validate() error          { lcCall("%s Validate", p.ID); return nil }
func (p *lcPlugin) Init(context.Context, Env) error {
	lcCall("%s Init", p.ID)
	if p.Fail {
		return errors.New("no")
	}
	return nil
}
func (p *lcPlugin) Close(context.Context) error { lcCall("%s Close", p.ID); return nil }

type lcIn struct{ lcPlugin }

func (in *lcIn) Run(ctx context.Context, emit Emitter) error {
	if in.ID == "in1" {
		lcCall("%s Run", in.ID)
		if err := emit.Emit("", rec(1)); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

type lcFilter struct{ lcPlugin }

func (f *lcFilter) Filter(string, *event.Event) (Verdict, error) {
	lcCall("%s Filter", f.ID)
	return Keep, nil
}

// lcOut reads its own properties, so the log shows SetProperties in the place of decoding.
type lcOut struct{ lcPlugin }

func (o *lcOut) SetProperties(props []config.Property) error {
	for _, p := range props {
		if p.Key == "id" {
			o.ID = p.Value
		}
	}
	lcCall("%s SetProperties", o.ID)
	return nil
}

func (o *lcOut) Flush(context.Context, *Chunk) error {
	lcCall("%s Flush", o.ID)
	select {
	case lcLog.flushed <- struct{}{}:
	default:
	}
	return nil
}

func init() {
	RegisterInput("lc_in", func() Input { return &lcIn{lcPlugin{kind: "input"}} })
	RegisterFilter("lc_filter", func() Filter { return &lcFilter{lcPlugin{kind: "filter"}} })
	RegisterOutput("lc_out", func() Output { return &lcOut{lcPlugin{kind: "output"}} })
}

const lcConf = `
[INPUT]
    Name lc_in
    Tag  t
    id   in1
[INPUT]
    Name lc_in
    Tag  u
    id   in2
    fail_init %v
[FILTER]
    Name  lc_filter
    Match t
    id    f1
[OUTPUT]
    Name  lc_out
    Match t
    id    o1
`

// The order written in the package documentation (Plugin lifecycle) is the order the
// engine calls: configuration outputs first, Init outputs first, Close in reverse.
func TestLifecycleOrder(t *testing.T) {
	lcLog.Lock()
	lcLog.calls, lcLog.flushed = nil, make(chan struct{}, 1)
	lcLog.Unlock()
	cfg, err := config.ParseClassic("lc.conf", fmt.Appendf(nil, lcConf, false))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(fastOpts())
	if err := e.AddConfigured(cfg); err != nil {
		t.Fatal(err)
	}
	startEngine(t, e)
	select {
	case <-lcLog.flushed:
	case <-time.After(10 * time.Second):
		t.Fatal("the record was not flushed")
	}
	e.Stop(context.Background())
	want := []string{
		"output SetConfig", "o1 SetProperties", "o1 Validate",
		"input SetConfig", "in1 Validate", "input SetConfig", "in2 Validate",
		"filter SetConfig", "f1 Validate",
		"o1 Init", "f1 Init", "in1 Init", "in2 Init",
		"in1 Run", "f1 Filter", "o1 Flush",
		"in2 Close", "in1 Close", "f1 Close", "o1 Close",
	}
	lcLog.Lock()
	defer lcLog.Unlock()
	if !slices.Equal(lcLog.calls, want) {
		t.Errorf("lifecycle calls:\n got  %q\n want %q", lcLog.calls, want)
	}
}

// A failed Init closes what was initialised before it, in reverse, and not the plugin
// that failed; nothing runs.
func TestLifecycleInitFailureClosesInReverse(t *testing.T) {
	lcLog.Lock()
	lcLog.calls = nil
	lcLog.Unlock()
	cfg, err := config.ParseClassic("lc.conf", fmt.Appendf(nil, lcConf, true))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(fastOpts())
	if err := e.AddConfigured(cfg); err != nil {
		t.Fatal(err)
	}
	err = e.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "lc.conf:6") || !strings.Contains(err.Error(), "init: no") {
		t.Fatalf("Start: %v, want the failing input's place and error", err)
	}
	lcLog.Lock()
	defer lcLog.Unlock()
	got := lcLog.calls[slices.Index(lcLog.calls, "o1 Init"):]
	want := []string{"o1 Init", "f1 Init", "in1 Init", "in2 Init", "in1 Close", "f1 Close", "o1 Close"}
	if !slices.Equal(got, want) {
		t.Errorf("calls from Start on:\n got  %q\n want %q", got, want)
	}
}

type wrongInit struct{}

func (wrongInit) Run(context.Context, Emitter) error { return nil }
func (wrongInit) Init(context.Context) error         { return nil } // no Env: never called

type ioCloser struct{ lcIn }

func (*ioCloser) Close() error { return nil } // io.Closer's, not Closer's

type pointerInit struct{}

func (pointerInit) Run(context.Context, Emitter) error { return nil }
func (*pointerInit) Init(context.Context, Env) error   { return nil }

func TestCheckLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    any
		want string // "" for no error
	}{
		{"right signatures", &lcIn{}, ""},
		{"no lifecycle methods", buildFilter{}, ""},
		{"Init without Env", wrongInit{}, "pipeline: pipeline.wrongInit: method Init(context.Context) error does not match pipeline.Initializer (want Init(context.Context, pipeline.Env) error)"},
		{"io.Closer's Close", &ioCloser{}, "method Close() error does not match pipeline.Closer (want Close(context.Context) error)"},
		{"pointer method on a value", pointerInit{}, "method Init is declared on *pointerInit but the plugin is a pointerInit value"},
		{"nil", nil, "plugin is nil"},
	} {
		err := CheckLifecycle(tc.p)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want no error", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s:\n got  %v\n want %s", tc.name, err, tc.want)
		}
	}
}

func TestRegisterRejectsWrongLifecycle(t *testing.T) {
	defer func() {
		r := recover()
		if msg, _ := r.(string); !strings.Contains(msg, `plugin "wrong_init"`) || !strings.Contains(msg, "Initializer") {
			t.Errorf("panic %v, want the plugin's name and the interface", r)
		}
		if _, ok := NewInput("wrong_init"); ok {
			t.Error("the plugin was registered anyway")
		}
	}()
	RegisterInput("wrong_init", func() Input { return wrongInit{} })
}
