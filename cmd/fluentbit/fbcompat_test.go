package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// peerFluentBit is the real Fluent Bit v5.1.1 used to check that both agents accept the
// same configurations; tests skip that part when it is absent.
const peerFluentBit = "../../../shared/peers/fluent-bit"

// fbConfigs are configurations written for Fluent Bit (testdata/fluentbit) and the keys
// whose warnings --dry-run must print: keys Fluent Bit has that have no effect here.
var fbConfigs = []struct {
	file string
	warn []string
}{
	{"fluent-bit.conf", []string{
		"http_monitor", "dns.mode", "dns.resolver", "dns.prefer_ipv4", "hot_reload.timeout",
		"hot_reload.ensure_thread_safety", "enable_chunk_trace", "flush.adaptive",
		"json.convert_nan_to_null", "multiline_buffer_limit", "security.fips_mode",
		"sp.convert_from_str_to_num", "storage.type", "threaded", "log_level",
	}},
	{"shared-keys.conf", []string{
		"net.dns.mode", "http_server.ingress_queue_event_limit", "workers", "net.backlog",
	}},
	{"processors.yaml", []string{"hot_reload.timeout", "threaded"}},
	{"log-inputs.conf", nil}, // syslog, tcp, udp, tail's multiline parsers
	{"sys-inputs.conf", nil}, // systemd, kmsg, exec
}

// runDryRun runs `binary --dry-run -c file` (or the peer's) in testdata/fluentbit with
// FB_STORAGE_DIR set, bounded in time.
func runDryRun(t *testing.T, bin, file, storage string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, "--dry-run", "-c", file)
	cmd.Dir = filepath.Join("testdata", "fluentbit")
	cmd.Env = append(os.Environ(), "FB_STORAGE_DIR="+storage)
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Fluent Bit's stock configuration shape (plugins_file with an empty [PLUGINS],
// parsers_file) and configs using the keys of the plugins both agents share load with
// --dry-run, with one warning per Fluent Bit key that has no effect here, naming it at its
// line; the peer Fluent Bit accepts the same files.
func TestDryRunFluentBitConfigs(t *testing.T) {
	storage := t.TempDir()
	for _, tc := range fbConfigs {
		t.Run(tc.file, func(t *testing.T) {
			out, err := runDryRun(t, binary, tc.file, storage)
			if err != nil || !strings.Contains(out, "configuration test is successful") {
				t.Fatalf("--dry-run: %v\n%s", err, out)
			}
			for _, k := range tc.warn {
				needle := `key "` + k + `": `
				if n := strings.Count(out, needle); n != 1 {
					t.Errorf("%d warnings naming %s, want 1:\n%s", n, k, out)
				}
			}
			if n := strings.Count(out, "warning: "); n != len(tc.warn) {
				t.Errorf("%d warnings, want %d:\n%s", n, len(tc.warn), out)
			}
		})
	}
	peer, err := filepath.Abs(peerFluentBit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(peer); err != nil {
		t.Skipf("no peer Fluent Bit (%v): only this agent checked", err)
	}
	for _, tc := range fbConfigs {
		out, err := runDryRun(t, peer, tc.file, storage)
		if err != nil || !strings.Contains(out, "configuration test is successful") {
			t.Errorf("Fluent Bit --dry-run %s: %v\n%s", tc.file, err, out)
		}
	}
}

// A key neither agent knows is still an error at its line, with the closest known key.
func TestDryRunUnknownToBothIsError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "typo.conf")
	body := "[INPUT]\n    name http\n    enable_health_endpont on\n[OUTPUT]\n    name null\n    match *\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "--dry-run", "-c", path).CombinedOutput()
	want := path + `:3: key "enable_health_endpont": unknown key (did you mean "enable_health_endpoint"?)`
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("%v:\n%s\nwant %s", err, out, want)
	}
	// A plugins file that names a plugin to load is refused: nothing can load a .so here.
	plugins := filepath.Join(dir, "plugins.conf")
	main := filepath.Join(dir, "main.conf")
	os.WriteFile(plugins, []byte("[PLUGINS]\n    Path /usr/lib/out_gstdout.so\n"), 0o600)
	os.WriteFile(main, []byte("[SERVICE]\n    plugins_file plugins.conf\n[INPUT]\n    name dummy\n[OUTPUT]\n    name null\n    match *\n"), 0o600)
	out, err = exec.Command(binary, "--dry-run", "-c", main).CombinedOutput()
	if err == nil || !strings.Contains(string(out), plugins+`:2: key "path": external plugins`) {
		t.Errorf("plugins_file naming a plugin: %v\n%s", err, out)
	}
}
