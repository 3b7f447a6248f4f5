package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The footprint report: what the agent costs a device when it has little to do. Idle
// memory is the packaged default configuration (packaging/deb/fluentbit-go.yaml: cpu and
// mem metrics every 10 s, the http input, the file output, the monitoring API) run by the
// binary the package ships (stripped), read 10 s after start; binary sizes are those of
// the package builds for each target.
func init() {
	addReport(&Report{
		Name: "footprint",
		Desc: "idle RSS 10 s after start on the packaged configuration (median of 3), stripped binary size per target",
		Run:  runFootprint,
	})
}

// idleTargetMB is the bound for idle RSS.
const idleTargetMB = 10.0

var targets = []struct{ name, goarch, goarm string }{
	{"linux/amd64", "amd64", ""},
	{"linux/arm64", "arm64", ""},
	{"linux/arm GOARM=7", "arm", "7"},
	{"linux/arm GOARM=6 (Raspberry Pi Zero/1)", "arm", "6"},
}

func runFootprint(o *Options) (string, error) {
	dir := filepath.Join(o.Dir, "footprint")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var b strings.Builder
	sizes := map[string]int64{}
	for i, t := range targets {
		if o.Quick && i > 0 {
			break
		}
		bin := filepath.Join(dir, "fluentbit-go-"+t.goarch+t.goarm)
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid=", "-o", bin, "./cmd/fluentbit")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+t.goarch, "GOARM="+t.goarm)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building for %s: %v\n%s", t.name, err, out)
		}
		fi, err := os.Stat(bin)
		if err != nil {
			return "", err
		}
		sizes[t.name] = fi.Size()
	}

	cfg, err := os.ReadFile("packaging/deb/fluentbit-go.yaml")
	if err != nil {
		return "", fmt.Errorf("the packaged configuration (run from the module root): %w", err)
	}
	wait := 10 * time.Second
	if o.Quick {
		wait = time.Second
	}
	type sample struct{ rss, anon, file int64 }
	var samples []sample
	for i := 0; i < 3; i++ {
		env := &Env{Agent: filepath.Join(dir, "fluentbit-go-amd64"), Dir: filepath.Join(dir, fmt.Sprintf("idle-%d", i))}
		if err := os.MkdirAll(env.Dir, 0o755); err != nil {
			return "", err
		}
		apiPort, err := FreePort()
		if err != nil {
			return "", err
		}
		httpPort, err := FreePort()
		if err != nil {
			return "", err
		}
		c := strings.NewReplacer(
			"http_port: 2020", "http_port: "+strconv.Itoa(apiPort),
			"port: 9880", "port: "+strconv.Itoa(httpPort),
			"/var/lib/fluentbit-go/out", filepath.Join(env.Dir, "out"),
		).Replace(string(cfg))
		a, err := env.StartAgent(c)
		if err != nil {
			env.cleanup()
			return "", err
		}
		select {
		case <-a.done:
			env.cleanup()
			return "", fmt.Errorf("agent exited while idle:\n%s", a.Log())
		case <-time.After(wait): // the measurement is "RSS after 10 s": time is the point
		}
		st, err := a.procStatus()
		if err != nil {
			env.cleanup()
			return "", err
		}
		samples = append(samples, sample{statusBytes(st, "VmRSS"), statusBytes(st, "RssAnon"), statusBytes(st, "RssFile")})
		_, _, err = a.Stop()
		env.cleanup()
		if err != nil {
			return "", err
		}
	}
	slices.SortFunc(samples, func(x, y sample) int { return int(x.rss - y.rss) })
	m := samples[len(samples)/2]
	mb := func(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
	verdict := "within"
	if float64(m.rss)/(1<<20) > idleTargetMB {
		verdict = "**above**"
	}
	fmt.Fprintf(&b, "**Idle footprint** (packaged configuration, stripped linux/amd64 binary, RSS %v after start, median of 3):\n\n", wait)
	fmt.Fprintf(&b, "| RSS MB | anonymous (heap, stacks) MB | file-backed (binary pages) MB | target |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %s | %s | %s | ≤ %.0f MB: %s |\n\n", mb(m.rss), mb(m.anon), mb(m.file), idleTargetMB, verdict)
	fmt.Fprintf(&b, "**Binary size** (`CGO_ENABLED=0 go build -trimpath -ldflags \"-s -w\"`, as the packages ship it):\n\n| target | MB |\n|---|---|\n")
	for _, t := range targets {
		if s, ok := sizes[t.name]; ok {
			fmt.Fprintf(&b, "| %s | %.1f |\n", t.name, float64(s)/(1<<20))
		}
	}
	return b.String(), nil
}
