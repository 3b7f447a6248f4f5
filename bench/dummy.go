package main

import (
	"fmt"
	"time"
)

func init() {
	register(&Scenario{
		Name: "dummy-null",
		Desc: "the dummy input as fast as it goes into the null output: the engine's own ceiling",
		Run: func(env *Env) (Result, error) {
			a, err := env.StartAgent(fmt.Sprintf(`
service:
  flush: 0.2
  log_level: debug
pipeline:
  inputs:
    - name: dummy
      dummy: '{"message":"dummy","level":"info","temp":21.5}'
      rate: 1000000000
      samples: %d
  outputs:
    - name: null
      match: '*'
`, env.Records))
			if err != nil {
				return Result{}, err
			}
			start := time.Now()
			if err := a.WaitLog(`msg="input finished"`, 10*time.Minute); err != nil {
				return Result{}, err
			}
			rss := a.PeakRSS()
			in, out, err := a.Stop()
			elapsed := time.Since(start)
			if err != nil {
				return Result{}, err
			}
			if in != env.Records || out != env.Records {
				return Result{}, fmt.Errorf("records in %d, out %d; want %d", in, out, env.Records)
			}
			return Result{Records: out, Elapsed: elapsed, AgentCPU: a.TotalCPU(), PeakRSS: rss}, nil
		},
	})
}
