package main

import "regexp"

// The storage scenarios are the http-null load (64 keep-alive clients, one small JSON
// record per request, a 2xx meaning accepted) with the input's buffer in memory, then on
// disk with storage.sync normal, then full: what accepting into durable storage costs, in
// the same run. The note gives fsyncs/s (from the agent's "storage closed fsyncs=N" line)
// and records per fsync (sync full: the group commit of concurrent requests).
// http-fs-file is the whole durable path: filesystem buffer, then every record written to
// a file, the run ending when the file holds them all.
func init() {
	for _, s := range []struct {
		name, desc string
		setup      httpSetup
	}{
		{"storage-memory", "64 clients POST one record per request to the http input, memory buffer -> null (the baseline)", httpSetup{}},
		{"storage-fs-normal", "the same with storage.type filesystem, storage.sync normal", httpSetup{storage: "normal"}},
		{"storage-fs-full", "the same with storage.sync full (fsync before each 2xx; at most 50000 records)", httpSetup{storage: "full", maxCount: 50_000}},
		{"http-fs-file", "64 clients POST to the http input -> filesystem storage (sync normal) -> file output; ends when the file holds every record", httpSetup{storage: "normal", file: true}},
	} {
		setup := s.setup
		register(&Scenario{Name: s.name, Desc: s.desc, Records: 300_000, Peers: []string{"fluent-bit"},
			Run: func(env *Env) (Result, error) { return runHTTP(env, setup) }})
	}
}

var fsyncsRE = regexp.MustCompile(`msg="storage closed" fsyncs=(\d+)`)
