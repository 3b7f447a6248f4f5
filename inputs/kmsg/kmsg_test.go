package kmsg

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/pipeline/pipelinetest"
)

// fromFixture makes in read the lines of testdata/kmsg.txt (a few real messages of this
// machine's /dev/kmsg and hand-made ones with a facility, flags and dictionary lines)
// through a pipe, one message per write as the device gives them, then the end.
func fromFixture(t *testing.T, in *Input, bootID string, extra ...string) {
	t.Helper()
	data, err := os.ReadFile("testdata/kmsg.txt")
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "boot_id")
	os.WriteFile(idFile, []byte(bootID+"\n"), 0o644)
	in.bootIDPath = idFile
	in.open = func() (io.ReadCloser, error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		go func() {
			defer w.Close()
			var msg strings.Builder
			flush := func() {
				if msg.Len() > 0 {
					w.Write([]byte(msg.String()))
					msg.Reset()
				}
			}
			for _, l := range append(strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n"), extra...) {
				if !strings.HasSuffix(l, "\n") {
					l += "\n"
				}
				if l[0] != ' ' {
					flush()
				}
				msg.WriteString(l)
			}
			flush()
		}()
		return r, nil
	}
}

func TestRecordsAsFluentBitsAndPrioLevel(t *testing.T) {
	in := pipelinetest.Input[*Input](t, "kmsg")
	fromFixture(t, in, "boot-a")
	recs := pipelinetest.RunToEnd(t, in, pipeline.Env{Name: "kmsg.0"}, 10*time.Second)
	if len(recs) != 6 {
		t.Fatalf("%d records, want 6", len(recs))
	}
	r := recs[3].Event
	want := []string{"priority", "sequence", "sec", "usec", "msg"}
	if got := r.Record.Keys(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("keys %v, want %v (Fluent Bit's order)", got, want)
	}
	for k, v := range map[string]any{"priority": int64(6), "sequence": int64(9000), "sec": int64(52000), "usec": int64(123456), "msg": "systemd[1]: Started app.service."} {
		if got := r.Record.Value(k); got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	if want := in.boot.Add(52000123456 * time.Microsecond); !r.Time.Equal(want) {
		t.Errorf("time %v, want boot time + 52000.123456s = %v", r.Time, want)
	}
	if got := recs[4].Event.Record.Value("msg"); got != "usb 1-1: device descriptor read/64, error -71" {
		t.Errorf("msg with dictionary lines: %q", got)
	}
	if got := recs[0].Event.Record.Value("msg"); !strings.HasPrefix(got.(string), "Linux version") {
		t.Errorf("first msg %q", got)
	}

	in = pipelinetest.Input[*Input](t, "kmsg", "prio_level", "4")
	fromFixture(t, in, "boot-a")
	recs = pipelinetest.RunToEnd(t, in, pipeline.Env{Name: "kmsg.0"}, 10*time.Second)
	var seqs []any
	for _, r := range recs {
		seqs = append(seqs, r.Event.Record.Value("sequence"))
	}
	if fmt.Sprint(seqs) != "[2 9001]" {
		t.Errorf("prio_level 4 keeps sequences %v, want [2 9001] (warning and error)", seqs)
	}
}

// With db, a restart in the same boot emits only what the kernel logged since; in a new
// boot (another boot id) everything is new.
func TestDBResumesWithinABoot(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kmsg.seq")
	in := pipelinetest.Input[*Input](t, "kmsg", "db", db, "db.sync", "normal")
	fromFixture(t, in, "boot-a")
	if n := len(pipelinetest.RunToEnd(t, in, pipeline.Env{Name: "kmsg.0"}, 10*time.Second)); n != 6 {
		t.Fatalf("first run: %d records, want 6", n)
	}
	if b, _ := os.ReadFile(db); string(b) != "boot-a 9002\n" {
		t.Fatalf("db holds %q, want \"boot-a 9002\\n\"", b)
	}
	in = pipelinetest.Input[*Input](t, "kmsg", "db", db)
	fromFixture(t, in, "boot-a", "6,9003,52001000000,-;after the restart", "6,9004,52001000001,-;and more")
	recs := pipelinetest.RunToEnd(t, in, pipeline.Env{Name: "kmsg.0"}, 10*time.Second)
	if len(recs) != 2 || recs[0].Event.Record.Value("msg") != "after the restart" {
		t.Fatalf("after a restart in the same boot: %d records (%v), want only the 2 new ones", len(recs), recs)
	}
	in = pipelinetest.Input[*Input](t, "kmsg", "db", db)
	fromFixture(t, in, "boot-b")
	if n := len(pipelinetest.RunToEnd(t, in, pipeline.Env{Name: "kmsg.0"}, 10*time.Second)); n != 6 {
		t.Errorf("another boot: %d records, want all 6", n)
	}
}

// The real /dev/kmsg, where this process may read it: the oldest message the kernel
// still holds comes first, and a message written to /dev/kmsg (where it may write)
// arrives with its priority; with db, a restart does not emit it again.
func TestRealDevKmsg(t *testing.T) {
	f, err := os.Open(Device)
	if err != nil {
		t.Skipf("%s is not readable here (%v): the fixture tests cover the parsing; reading it needs root or CAP_SYSLOG", Device, err)
	}
	f.Close()
	db := filepath.Join(t.TempDir(), "kmsg.seq")
	in := pipelinetest.Input[*Input](t, "kmsg", "db", db)
	r := pipelinetest.StartInput(t, in, pipeline.Env{Name: "kmsg.0"}, nil)
	first := r.Wait(1, 10*time.Second)[0].Event
	if _, ok := first.Record.Value("sequence").(int64); !ok || first.Record.Value("msg") == nil {
		t.Fatalf("first record %v: want sequence and msg", first.Record)
	}
	w, err := os.OpenFile(Device, os.O_WRONLY, 0)
	if err != nil {
		r.Stop()
		t.Skipf("%s is readable but not writable (%v): the following and resuming part needs root", Device, err)
	}
	defer w.Close()
	if b, _ := os.ReadFile("/proc/sys/kernel/printk_devkmsg"); strings.TrimSpace(string(b)) == "off" {
		r.Stop()
		t.Skip("kernel.printk_devkmsg is off: the kernel drops what user space writes to /dev/kmsg")
	}
	nonce := rand.Text()
	// <12>: facility user (1), level warning (4). The newline ends the message: without
	// it the kernel holds it back as the start of a continued line.
	if _, err := fmt.Fprintf(w, "<12>fluentbit-go kmsg test %s one\n", nonce); err != nil {
		t.Fatal(err)
	}
	waitFor := func(r *pipelinetest.Running, what string) pipelinetest.Record {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for n := 1; time.Now().Before(deadline); n++ {
			recs := r.Wait(n, time.Until(deadline))
			for _, rc := range recs {
				if strings.Contains(fmt.Sprint(rc.Event.Record.Value("msg")), what) {
					return rc
				}
			}
			n = len(recs)
		}
		t.Fatalf("no record with %q", what)
		return pipelinetest.Record{}
	}
	one := waitFor(r, nonce+" one")
	if p := one.Event.Record.Value("priority"); p != int64(4) {
		t.Errorf("priority %v, want 4 (the facility dropped)", p)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "<14>fluentbit-go kmsg test %s two\n", nonce)
	in = pipelinetest.Input[*Input](t, "kmsg", "db", db)
	r = pipelinetest.StartInput(t, in, pipeline.Env{Name: "kmsg.0"}, nil)
	two := waitFor(r, nonce+" two")
	for _, rc := range r.Rec.Records() {
		if rc.Event.Record.Value("sequence").(int64) <= one.Event.Record.Value("sequence").(int64) {
			t.Errorf("after the restart, sequence %v came again (the last one before was %v)",
				rc.Event.Record.Value("sequence"), one.Event.Record.Value("sequence"))
			break
		}
	}
	if two.Event.Record.Value("priority") != int64(6) {
		t.Errorf("priority %v, want 6", two.Event.Record.Value("priority"))
	}
}

func TestBadKeys(t *testing.T) {
	for _, kv := range [][]string{{"prio_level", "9"}, {"prio_level", "-1"}, {"db.sync", "x"}} {
		if err := pipelinetest.Configure("input", "kmsg", kv...); err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%v: %v, want an error naming %s", kv, err, kv[0])
		}
	}
	db := filepath.Join(t.TempDir(), "db")
	os.WriteFile(db, []byte("garbage"), 0o644)
	in := pipelinetest.Input[*Input](t, "kmsg", "db", db)
	if err := in.Init(t.Context(), pipeline.Env{}); err == nil || !strings.Contains(err.Error(), "db") {
		t.Errorf("a damaged db: %v", err)
	}
}
