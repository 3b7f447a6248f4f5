// Package expect checks that records have the keys and values a pipeline expects, like
// Fluent Bit's expect filter, to test configurations.
//
//	[FILTER]
//	    Name           expect
//	    Match          *
//	    Key_Exists     color
//	    Key_Val_Eq     $label['name'] abc
//	    Action         exit
//
// Keys (each rule key repeatable; every rule must hold):
//
//   - key_exists KEY: KEY is in the record (its value may be null).
//   - key_not_exists KEY: KEY is not in the record.
//   - key_val_is_null KEY: KEY is in the record and its value is null.
//   - key_val_is_not_null KEY: KEY is in the record and its value is not null.
//   - key_val_eq KEY VALUE: KEY's value, as text, is VALUE (strings compare as they
//     are; numbers and booleans by their text: 1, 2.5, true). VALUE is the rest of the
//     line after KEY, so it may contain spaces.
//   - action warn|exit|result_key (default warn): on a record that breaks a rule, warn
//     logs the rule at warning level; exit logs it at error level and ends the process
//     with status 255, as Fluent Bit does (a program embedding the agent can set OnExit
//     instead); result_key adds result_key to every record, true when all rules hold.
//   - result_key KEY (default matched): the key action result_key adds.
//
// KEY is a record accessor ($kubernetes['labels']['app'], $items[0]) or a plain key.
// Records always pass (only result_key changes them).
package expect

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/event/accessor"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Expect is the expect filter.
type Expect struct {
	KeyExists       []string `conf:"key_exists"`
	KeyNotExists    []string `conf:"key_not_exists"`
	KeyValIsNull    []string `conf:"key_val_is_null"`
	KeyValIsNotNull []string `conf:"key_val_is_not_null"`
	KeyValEq        []string `conf:"key_val_eq"`
	Action          string   `conf:"action"`
	ResultKey       string   `conf:"result_key"`

	// OnExit, when set, is called (once) instead of os.Exit(255) for action exit.
	OnExit func()

	rules  []rule
	action action
	log    *slog.Logger
	once   sync.Once
}

type kind int

const (
	kExists kind = iota
	kNotExists
	kIsNull
	kIsNotNull
	kEq
)

var kindKeys = [...]string{"key_exists", "key_not_exists", "key_val_is_null", "key_val_is_not_null", "key_val_eq"}

type rule struct {
	kind  kind
	key   *accessor.Accessor
	value string
}

type action int

const (
	actWarn action = iota
	actExit
	actResultKey
)

func init() {
	pipeline.RegisterFilter("expect", func() pipeline.Filter { return &Expect{} })
}

// Validate parses the rules.
func (e *Expect) Validate() error {
	switch strings.ToLower(strings.TrimSpace(e.Action)) {
	case "", "warn":
		e.action = actWarn
	case "exit":
		e.action = actExit
	case "result_key":
		e.action = actResultKey
	default:
		return config.KeyErrorf("action", "%q: want warn, exit or result_key", e.Action)
	}
	if e.ResultKey == "" {
		e.ResultKey = "matched"
	}
	var rules []rule
	for k, list := range [][]string{e.KeyExists, e.KeyNotExists, e.KeyValIsNull, e.KeyValIsNotNull, e.KeyValEq} {
		for _, v := range list {
			r := rule{kind: kind(k)}
			keyStr := strings.TrimSpace(v)
			if r.kind == kEq {
				i := strings.IndexAny(keyStr, " \t")
				if i < 0 {
					return config.KeyErrorf(kindKeys[k], "%q: want KEY VALUE", v)
				}
				keyStr, r.value = keyStr[:i], strings.TrimLeft(keyStr[i:], " \t")
			}
			a, err := accessor.Parse(keyStr)
			if err != nil {
				return config.KeyErrorf(kindKeys[k], "%v", err)
			}
			r.key = a
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		return config.KeyErrorf("key_exists", "no rule: give key_exists, key_not_exists, key_val_is_null, key_val_is_not_null or key_val_eq")
	}
	e.rules = rules
	return nil
}

// Init validates and keeps the logger.
func (e *Expect) Init(_ context.Context, env pipeline.Env) error {
	e.log = env.Logger
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e.Validate()
}

func (r *rule) holds(rec event.Map) bool {
	v, ok := r.key.Get(rec)
	switch r.kind {
	case kExists:
		return ok
	case kNotExists:
		return !ok
	case kIsNull:
		return ok && v == nil
	case kIsNotNull:
		return ok && v != nil
	case kEq:
		if !ok {
			return false
		}
		switch x := v.(type) {
		case string:
			return x == r.value
		case []byte:
			return string(x) == r.value
		case int64:
			return strconv.FormatInt(x, 10) == r.value
		case uint64:
			return strconv.FormatUint(x, 10) == r.value
		case int:
			return strconv.Itoa(x) == r.value
		case float64:
			f, err := strconv.ParseFloat(r.value, 64)
			return err == nil && f == x
		case bool:
			return strconv.FormatBool(x) == r.value
		}
	}
	return false
}

func (r *rule) String() string {
	if r.kind == kEq {
		return fmt.Sprintf("%s %s %s", kindKeys[r.kind], r.key, r.value)
	}
	return fmt.Sprintf("%s %s", kindKeys[r.kind], r.key)
}

// Filter checks the rules. The record always passes.
func (e *Expect) Filter(tag string, ev *event.Event) (pipeline.Verdict, error) {
	var failed *rule
	for i := range e.rules {
		if !e.rules[i].holds(ev.Record) {
			failed = &e.rules[i]
			break
		}
	}
	switch e.action {
	case actResultKey:
		if ev.Record == nil {
			ev.Record = event.Map{}
		}
		ev.Record.Set(e.ResultKey, failed == nil)
	case actWarn:
		if failed != nil {
			e.log.Warn("expect: rule failed", "rule", failed.String(), "tag", tag)
		}
	case actExit:
		if failed != nil {
			e.log.Error("expect: rule failed, exiting with status 255", "rule", failed.String(), "tag", tag)
			e.once.Do(func() {
				if e.OnExit != nil {
					e.OnExit()
					return
				}
				os.Exit(255)
			})
		}
	}
	return pipeline.Keep, nil
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Filter      = (*Expect)(nil)
	_ pipeline.Validator   = (*Expect)(nil)
	_ pipeline.Initializer = (*Expect)(nil)
)
