package multiline

import "sync"

// builtinRules are Fluent Bit's built-in regex multiline parsers, rule for rule
// (src/multiline/flb_ml_parser_go.c, _python.c, _java.c).
var builtinRules = map[string][]RuleDef{
	"go": {
		{"start_state", `/\bpanic: /`, "go_after_panic"},
		{"start_state", `/http: panic serving/`, "go_goroutine"},
		{"go_after_panic", `/^$/`, "go_goroutine"},
		{"go_after_panic, go_after_signal, go_frame_1", `/^$/`, "go_goroutine"},
		{"go_after_panic", `/^\[signal /`, "go_after_signal"},
		{"go_goroutine", `/^goroutine \d+ \[[^\]]+\]:$/`, "go_frame_1"},
		{"go_frame_1", `/^(?:[^\s.:]+\.)*[^\s.():]+\(|^created by /`, "go_frame_2"},
		{"go_frame_2", `/^\s/`, "go_frame_1"},
	},
	"python": {
		{"start_state", `/^Traceback \(most recent call last\):$/`, "python"},
		{"python", `/^[\t ]+File /`, "python_code"},
		{"python_code", `/[^\t ]/`, "python"},
		{"python", `/^(?:[^\s.():]+\.)*[^\s.():]+:/`, "start_state"},
		// Not in Fluent Bit: Python 3.11+ marks the failing expression under its code
		// line (    ^^^^ or ~~~^^^); without this rule a traceback breaks there.
		{"python", `/^[\t ]+[\^~]+[\t ]*$/`, "python"},
	},
	"java": {
		{"start_state, java_start_exception", `/(.)(?:Exception|Error|Throwable|V8 errors stack trace)[:\r\n]/`, "java_after_exception"},
		{"java_after_exception", `/^[\t ]*nested exception is:[\t ]*/`, "java_start_exception"},
		{"java_after_exception", `/^[\r\n]*$/`, "java_after_exception"},
		{"java_after_exception, java", `/^[\t ]+(?:eval )?at /`, "java"},
		{"java_after_exception, java", `/^[\t ]+--- End of inner exception stack trace ---$/`, "java"},
		{"java_after_exception, java", `/^--- End of stack trace from previous location where exception was thrown ---$/`, "java"},
		{"java_after_exception, java", `/^[\t ]*(?:Caused by|Suppressed):/`, "java_after_exception"},
		{"java_after_exception, java", `/^[\t ]*... \d+ (?:more|common frames omitted)/`, "java"},
	},
}

var builtins = func() map[string]func() (*Parser, error) {
	m := map[string]func() (*Parser, error){}
	for name, defs := range builtinRules {
		m[name] = sync.OnceValues(func() (*Parser, error) { return New(name, DefaultFlushTimeout, defs) })
	}
	return m
}()

// Builtin returns the built-in regex parser named name: go, python or java.
func Builtin(name string) (*Parser, bool) {
	mk, ok := builtins[name]
	if !ok {
		return nil, false
	}
	p, err := mk()
	if err != nil {
		panic("multiline: built-in " + name + ": " + err.Error()) // a bug in the rules above
	}
	return p, true
}
