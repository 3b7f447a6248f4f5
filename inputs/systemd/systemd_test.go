package systemd

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

const (
	journalRemote = "/lib/systemd/systemd-journal-remote"
	bootID        = "0123456789abcdef0123456789abcdef"
	baseUsec      = 1700000000000000
)

// needJournalTools skips the test when the real tools are not installed (Debian packages
// systemd and systemd-journal-remote).
func needJournalTools(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("journalctl is not installed (Debian package systemd): the journal tests need the real one")
	}
	if _, err := os.Stat(journalRemote); err != nil {
		t.Skip("systemd-journal-remote is not installed (Debian package systemd-journal-remote): it writes the test journals")
	}
}

// journal is a journal directory the test writes entries into with the real
// systemd-journal-remote, from an export stream.
type journal struct {
	t   testing.TB
	dir string
	n   int // entries written so far: the next one's sequence
}

func newJournal(t testing.TB) *journal {
	needJournalTools(t)
	return &journal{t: t, dir: t.TempDir()}
}

// kv builds an entry's fields from name, value pairs.
func kv(pairs ...string) []field {
	var fs []field
	for i := 0; i+1 < len(pairs); i += 2 {
		fs = append(fs, field{[]byte(pairs[i]), []byte(pairs[i+1])})
	}
	return fs
}

// write appends entries to the journal; entry i (counting every entry written) is at
// baseUsec + i microseconds.
func (j *journal) write(entries ...[]field) {
	j.t.Helper()
	var stream []byte
	for _, fs := range entries {
		head := kv("__REALTIME_TIMESTAMP", fmt.Sprint(baseUsec+j.n), "__MONOTONIC_TIMESTAMP", fmt.Sprint(1000+j.n), "_BOOT_ID", bootID)
		stream = appendExport(stream, append(head, fs...))
		j.n++
	}
	cmd := exec.Command(journalRemote, "--output="+filepath.Join(j.dir, "remote.journal"), "-")
	cmd.Stdin = bytes.NewReader(stream)
	if out, err := cmd.CombinedOutput(); err != nil {
		j.t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
}

// messages writes n entries MESSAGE=m<i> of unit u.
func (j *journal) messages(n int, unit string) {
	j.t.Helper()
	var es [][]field
	for i := 0; i < n; i++ {
		es = append(es, kv("MESSAGE", fmt.Sprintf("m%d", j.n+i), "_SYSTEMD_UNIT", unit))
	}
	j.write(es...)
}

func start(t *testing.T, env pipeline.Env, kvs ...string) (*Input, *pipelinetest.Running) {
	t.Helper()
	in := pipelinetest.Input[*Input](t, "systemd", kvs...)
	return in, pipelinetest.StartInput(t, in, env, nil)
}

func env(tag string) pipeline.Env {
	return pipeline.Env{Name: "systemd.0", Tag: tag, Logger: slog.New(slog.DiscardHandler)}
}

// Entries written by the real journal tools come out as Fluent Bit shapes them: every
// field a string in the entry's order (_BOOT_ID first, as exported), the time from
// __REALTIME_TIMESTAMP, a binary MESSAGE (newline, NUL) byte for byte, a repeated field
// an array, and the tag's '*' expanded with the unit ("unknown" without one).
func TestReadsJournalFilesAsFluentBitShapesThem(t *testing.T) {
	j := newJournal(t)
	bin := "line one\nline two\x00\xff end"
	j.write(
		kv("MESSAGE", "hello", "PRIORITY", "6", "_SYSTEMD_UNIT", "ssh.service", "_PID", "42"),
		kv("MESSAGE", bin, "FOO", "1", "BAR", "x", "FOO", "2", "FOO", "3"),
	)
	_, r := start(t, env("host.*"), "path", j.dir)
	recs := r.Wait(2, 20*time.Second)

	r0 := recs[0]
	if r0.Tag != "host.ssh.service" {
		t.Errorf("tag %q, want host.ssh.service", r0.Tag)
	}
	if want := time.UnixMicro(baseUsec); !r0.Event.Time.Equal(want) {
		t.Errorf("time %v, want %v (__REALTIME_TIMESTAMP)", r0.Event.Time, want)
	}
	keys := strings.Join(r0.Event.Record.Keys(), ",")
	if !strings.HasPrefix(keys, "_BOOT_ID,") || !strings.Contains(keys, "MESSAGE") || strings.Contains(keys, "__") {
		t.Errorf("keys %s: want the entry's fields, _BOOT_ID first, no __ address fields", keys)
	}
	for k, want := range map[string]any{"MESSAGE": "hello", "PRIORITY": "6", "_PID": "42", "_BOOT_ID": bootID} {
		if got := r0.Event.Record.Value(k); got != want {
			t.Errorf("%s = %#v, want %#v (a string)", k, got, want)
		}
	}
	r1 := recs[1]
	if r1.Tag != "host.unknown" {
		t.Errorf("tag of an entry without a unit: %q, want host.unknown", r1.Tag)
	}
	if got := r1.Event.Record.Value("MESSAGE"); got != bin {
		t.Errorf("binary MESSAGE = %q, want %q", got, bin)
	}
	foo, ok := r1.Event.Record.Value("FOO").([]any)
	if !ok || len(foo) != 3 || foo[0] != "1" || foo[2] != "3" {
		t.Errorf("FOO = %#v, want [1 2 3]", r1.Event.Record.Value("FOO"))
	}
	if ks := r1.Event.Record.Keys(); ks[len(ks)-1] != "FOO" {
		t.Errorf("keys %v: a repeated field goes last, as in Fluent Bit", ks)
	}
}

func TestStripUnderscoresLowercaseMaxFieldsAndFieldTags(t *testing.T) {
	j := newJournal(t)
	j.write(kv("MESSAGE", "a", "_SYSTEMD_UNIT", "cron.service", "__ODD", "kept", "PRIORITY", "3"))
	_, r := start(t, env("j.$PRIORITY.$NOPE.$"), "path", j.dir, "strip_underscores", "on", "lowercase", "on", "max_fields", "3")
	rec := r.Wait(1, 20*time.Second)[0]
	if got := strings.Join(rec.Event.Record.Keys(), ","); got != "boot_id,message,systemd_unit" {
		t.Errorf("keys %s, want boot_id,message,systemd_unit (one '_' stripped, lowercased, 3 fields)", got)
	}
	if rec.Tag != "j.3.unknown.$" {
		t.Errorf("tag %q, want j.3.unknown.$", rec.Tag)
	}
}

func TestSystemdFilterOrAnd(t *testing.T) {
	j := newJournal(t)
	j.write(
		kv("MESSAGE", "a", "_SYSTEMD_UNIT", "a.service", "PRIORITY", "3"),
		kv("MESSAGE", "b", "_SYSTEMD_UNIT", "b.service", "PRIORITY", "6"),
		kv("MESSAGE", "c", "_SYSTEMD_UNIT", "c.service", "PRIORITY", "3"),
		kv("MESSAGE", "end", "_SYSTEMD_UNIT", "end.service", "PRIORITY", "3"),
	)
	for _, tc := range []struct {
		typ     string
		filters []string
		want    string
	}{
		{"or", []string{"_SYSTEMD_UNIT=a.service", "PRIORITY=6", "_SYSTEMD_UNIT=end.service"}, "a,b,end"},
		// journalctl ANDs matches of different fields.
		{"and", []string{"_SYSTEMD_UNIT=end.service", "PRIORITY=3"}, "end"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			kvs := []string{"path", j.dir, "systemd_filter_type", tc.typ}
			for _, f := range tc.filters {
				kvs = append(kvs, "systemd_filter", f)
			}
			_, r := start(t, env("t"), kvs...)
			recs := r.Wait(strings.Count(tc.want, ",")+1, 20*time.Second)
			var got []string
			for _, rc := range recs {
				got = append(got, rc.Event.Record.Value("MESSAGE").(string))
			}
			// The last wanted one is the journal's last entry: nothing can follow it.
			if strings.Join(got, ",") != tc.want {
				t.Errorf("messages %v, want %s", got, tc.want)
			}
		})
	}
}

// The cursor kept in db survives a restart: the second run emits only what was written
// after the first one's last record, and read_from_tail does not apply once there is a
// cursor.
func TestCursorInDBSurvivesARestart(t *testing.T) {
	j := newJournal(t)
	j.messages(5, "a.service")
	db := filepath.Join(t.TempDir(), "cursor")
	in, r := start(t, env("t"), "path", j.dir, "db", db, "db.sync", "normal", "read_from_tail", "on")
	// read_from_tail: the 5 entries before the start are skipped.
	j.messages(3, "a.service")
	recs := r.Wait(3, 20*time.Second)
	if got := recs[0].Event.Record.Value("MESSAGE"); got != "m5" {
		t.Fatalf("first record %v, want m5 (read_from_tail skips what was there)", got)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(db)
	if err != nil || !strings.HasPrefix(string(saved), "s=") || strings.TrimSpace(string(saved)) != in.cursor {
		t.Fatalf("db holds %q (%v), want the last cursor %q", saved, err, in.cursor)
	}

	j.messages(2, "a.service")
	_, r = start(t, env("t"), "path", j.dir, "db", db, "read_from_tail", "on")
	recs = r.Wait(2, 20*time.Second)
	if a, b := recs[0].Event.Record.Value("MESSAGE"), recs[1].Event.Record.Value("MESSAGE"); a != "m8" || b != "m9" {
		t.Errorf("after the restart: %v, %v; want m8, m9", a, b)
	}
	j.messages(1, "a.service")
	if recs = r.Wait(3, 20*time.Second); len(recs) != 3 || recs[2].Event.Record.Value("MESSAGE") != "m10" {
		t.Errorf("following after the restart: %d records, want m10 third", len(recs))
	}
}

// When journalctl exits it is started again after the last cursor, and what it says on
// stderr is in the log.
func TestJournalctlRestartsAfterItsLastCursorAndItsStderrIsLogged(t *testing.T) {
	dir := t.TempDir()
	argsLog := filepath.Join(dir, "args")
	// A journalctl that exports one entry, complains and exits; the next run exports the
	// next one.
	script := filepath.Join(dir, "journalctl")
	os.WriteFile(script, []byte(`#!/bin/sh
echo "$@" >> `+argsLog+`
n=$(wc -l < `+argsLog+`)
printf '__CURSOR=c%d\n__REALTIME_TIMESTAMP=%d000000\nMESSAGE=run %d\n\n' $n $n $n
echo "Journal file corrupted, ignoring (run $n)" >&2
exit 1
`), 0o755)
	in := pipelinetest.Input[*Input](t, "systemd")
	in.Journalctl = script
	in.minWait, in.maxWait = 10*time.Millisecond, 20*time.Millisecond
	var logs pipelinetest.Logs
	r := pipelinetest.StartInput(t, in, logs.Env("systemd.0"), nil)
	recs := r.Wait(3, 20*time.Second)
	for i, rc := range recs[:3] {
		if got, want := rc.Event.Record.Value("MESSAGE"), fmt.Sprintf("run %d", i+1); got != want {
			t.Errorf("record %d: %v, want %v", i, got, want)
		}
	}
	r.Stop()
	args, _ := os.ReadFile(argsLog)
	lines := strings.Split(strings.TrimSpace(string(args)), "\n")
	if !strings.Contains(lines[0], "--no-tail") || !strings.Contains(lines[1], "--after-cursor=c1") || !strings.Contains(lines[2], "--after-cursor=c2") {
		t.Errorf("journalctl's command lines:\n%s\nwant --after-cursor of the last entry on every restart", args)
	}
	if !logs.Wait(time.Second, func(rs []slog.Record) bool {
		for _, r := range rs {
			if strings.Contains(r.Message, "Journal file corrupted") {
				return true
			}
		}
		return false
	}) {
		t.Error("journalctl's stderr is not in the log")
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		kv  []string
		key string
	}{
		{[]string{"systemd_filter_type", "xor"}, "systemd_filter_type"},
		{[]string{"systemd_filter", "unit=ssh"}, "systemd_filter"},
		{[]string{"systemd_filter", "NOEQUALS"}, "systemd_filter"},
		{[]string{"max_fields", "0"}, "max_fields"},
		{[]string{"max_entries", "-1"}, "max_entries"},
		{[]string{"db.sync", "sometimes"}, "db.sync"},
	} {
		err := pipelinetest.Configure("input", "systemd", tc.kv...)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%v: %v, want an error naming %s", tc.kv, err, tc.key)
		}
	}
	// Fluent Bit's SQLite db is not taken for a cursor.
	db := filepath.Join(t.TempDir(), "fb.db")
	os.WriteFile(db, []byte(sqliteMagic+"rest of a database"), 0o644)
	in := pipelinetest.Input[*Input](t, "systemd", "db", db)
	if err := in.Init(t.Context(), env("t")); err == nil || !strings.Contains(err.Error(), "SQLite") {
		t.Errorf("an SQLite db: %v", err)
	}
	// Nor is a file that does not hold a cursor (journalctl would refuse it at every start).
	os.WriteFile(db, []byte("garbage\n"), 0o644)
	in = pipelinetest.Input[*Input](t, "systemd", "db", db)
	if err := in.Init(t.Context(), env("t")); err == nil || !strings.Contains(err.Error(), "cursor") {
		t.Errorf("a db without a cursor: %v", err)
	}
	in = pipelinetest.Input[*Input](t, "systemd", "path", "/no/such/journal")
	if err := in.Init(t.Context(), env("t")); err == nil || !strings.Contains(err.Error(), "path") {
		t.Errorf("a missing path: %v", err)
	}
}
