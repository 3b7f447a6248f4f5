package mqttconn

import (
	"strings"
	"testing"
)

func TestDefaultClientIDIsStableAndDistinct(t *testing.T) {
	a, b := DefaultClientID("in", "mqtt.0"), DefaultClientID("in", "mqtt.0")
	if a != b {
		t.Fatalf("%q then %q: not stable", a, b)
	}
	if a == DefaultClientID("out", "mqtt.0") || a == DefaultClientID("in", "mqtt.1") {
		t.Fatal("an output or another instance got the same client id")
	}
	if len(a) > 23 || strings.Trim(a, "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
		t.Fatalf("%q: want at most 23 characters of [0-9a-z]", a)
	}
}

func TestAddrDefaults(t *testing.T) {
	o := Defaults()
	if got := o.URL(); got != "tcp://127.0.0.1:1883" {
		t.Errorf("URL %q", got)
	}
	o.TLS = true
	if got := o.URL(); got != "ssl://127.0.0.1:8883" {
		t.Errorf("TLS URL %q", got)
	}
	o.Port, o.Host = 1999, "::1"
	if got := o.Addr(); got != "[::1]:1999" {
		t.Errorf("Addr %q", got)
	}
}

func TestValidTopicFilter(t *testing.T) {
	for f, ok := range map[string]bool{
		"#": true, "+": true, "a/+/b": true, "a/#": true, "/": true, "$SYS/#": true,
		"": false, "a#": false, "a/#/b": false, "a+/b": false, "a/b+": false, "a\x00": false,
	} {
		if err := ValidTopicFilter(f); (err == nil) != ok {
			t.Errorf("%q: error %v, want ok=%v", f, err, ok)
		}
	}
}
