package main

import (
	"fmt"
	"time"
)

// The filter chains of filters/chain_test.go, through the daemon: read each against
// dummy-null from the same run.
func init() {
	for _, sc := range []struct{ name, desc, filters string }{
		{"dummy-5filters-null", "dummy-null through grep, modify, record_modifier, nest and throttle", `
    - name: grep
      match: '*'
      regex: level ^info$
    - name: modify
      match: '*'
      rename: temp temperature
    - name: record_modifier
      match: '*'
      record: host gateway-1
    - name: nest
      match: '*'
      operation: nest
      wildcard: Mem.*
      nest_under: mem
    - name: throttle
      match: '*'
      rate: 1000000000000`},
		{"dummy-lua-rewrite_tag-null", "dummy-null through lua (adds a key) and rewrite_tag (re-emits every record)", `
    - name: lua
      match: '*'
      call: cb
      code: 'function cb(tag, ts, r) r["tag"] = tag return 2, ts, r end'
    - name: rewrite_tag
      match: dummy.0
      rule: $level ^(info)$ out.$1 false`},
	} {
		sc := sc
		register(&Scenario{
			Name: sc.name,
			Desc: sc.desc,
			Run: func(env *Env) (Result, error) {
				a, err := env.StartAgent(fmt.Sprintf(`
service:
  flush: 0.2
  log_level: debug
pipeline:
  inputs:
    - name: dummy
      dummy: '{"message":"dummy","level":"info","temp":21.5,"Mem.used":1024}'
      rate: 1000000000
      samples: %d
  filters:%s
  outputs:
    - name: null
      match: '*'
`, env.Records, sc.filters))
				if err != nil {
					return Result{}, err
				}
				start := time.Now()
				if err := a.WaitLog(`msg="input finished"`, 10*time.Minute); err != nil {
					return Result{}, err
				}
				rss := a.PeakRSS()
				_, out, err := a.Stop()
				elapsed := time.Since(start)
				if err != nil {
					return Result{}, err
				}
				if out != env.Records {
					return Result{}, fmt.Errorf("records out %d; want %d", out, env.Records)
				}
				return Result{Records: out, Elapsed: elapsed, AgentCPU: a.TotalCPU(), PeakRSS: rss}, nil
			},
		})
	}
}
