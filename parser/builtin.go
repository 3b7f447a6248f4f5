package parser

import "sync"

// builtins are parsers every configuration has, defined as in Fluent Bit's own
// conf/parsers.conf (same regexes, time formats and time_keep), because inputs name them
// by default (the syslog input: syslog-rfc5424 and syslog-rfc3164-local). A parser of the
// same name in a parsers file or [PARSER] section replaces one of these.
var builtins = map[string]func() (*Parser, error){
	"syslog-rfc5424": sync.OnceValues(func() (*Parser, error) {
		return New(Definition{
			Name:   "syslog-rfc5424",
			Format: "regex",
			Regex: `^\<(?<pri>[0-9]{1,5})\>1 (?<time>[^ ]+) (?<host>[^ ]+) (?<ident>[^ ]+) (?<pid>[-0-9]+) (?<msgid>[^ ]+) ` +
				`(?<extradata>(\[(.*?)\]|-)) (?<message>.+)$`,
			TimeKey:         "time",
			TimeFormat:      "%Y-%m-%dT%H:%M:%S.%L%z",
			TimeKeep:        true,
			SkipEmptyValues: true,
		})
	}),
	"syslog-rfc3164-local": sync.OnceValues(func() (*Parser, error) {
		return New(Definition{
			Name:            "syslog-rfc3164-local",
			Format:          "regex",
			Regex:           `^\<(?<pri>[0-9]+)\>(?<time>[^ ]* {1,2}[^ ]* [^ ]*) (?<ident>[a-zA-Z0-9_\/\.\-]*)(?:\[(?<pid>[0-9]+)\])?(?:[^\:]*\:)? *(?<message>.*)$`,
			TimeKey:         "time",
			TimeFormat:      "%b %d %H:%M:%S",
			TimeKeep:        true,
			SkipEmptyValues: true,
		})
	}),
	"syslog-rfc3164": sync.OnceValues(func() (*Parser, error) {
		return New(Definition{
			Name:            "syslog-rfc3164",
			Format:          "regex",
			Regex:           `/^\<(?<pri>[0-9]+)\>(?<time>[^ ]* {1,2}[^ ]* [^ ]*) (?<host>[^ ]*) (?<ident>[a-zA-Z0-9_\/\.\-]*)(?:\[(?<pid>[0-9]+)\])?(?:[^\:]*\:)? *(?<message>.*)$/`,
			TimeKey:         "time",
			TimeFormat:      "%b %d %H:%M:%S",
			TimeKeep:        true,
			SkipEmptyValues: true,
		})
	}),
}

// Builtin returns the built-in parser named name: syslog-rfc5424, syslog-rfc3164 or
// syslog-rfc3164-local, as Fluent Bit's parsers.conf defines them.
func Builtin(name string) (*Parser, bool) {
	mk, ok := builtins[name]
	if !ok {
		return nil, false
	}
	p, err := mk()
	if err != nil {
		panic("parser: built-in " + name + ": " + err.Error()) // a bug in the definitions above
	}
	return p, true
}

// BuiltinNames lists the built-in parsers.
func BuiltinNames() []string {
	return []string{"syslog-rfc3164", "syslog-rfc3164-local", "syslog-rfc5424"}
}
