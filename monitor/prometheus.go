package monitor

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// family is one metric with its samples.
type family struct {
	name, help, typ string
	samples         []sample
}

type sample struct {
	labels []string // name, value, name, value...
	value  uint64
	float  *float64            // a non-integer value, instead of value
	hist   *pipeline.Histogram // for a histogram family, instead of value
}

const (
	counter   = "counter"
	gauge     = "gauge"
	histogram = "histogram"
)

func byName(name string, v uint64) sample { return sample{labels: []string{"name", name}, value: v} }

// instanceFamilies are the per-instance counters with Fluent Bit's names and help texts;
// v2 changes the filter help texts.
func instanceFamilies(met pipeline.Metrics, v2 bool) []family {
	in := func(name, help string, get func(pipeline.InputMetrics) uint64) family {
		f := family{name: name, help: help, typ: counter}
		for _, x := range met.Inputs {
			f.samples = append(f.samples, byName(x.Name, get(x)))
		}
		return f
	}
	fl := func(name, help, helpV2 string, get func(pipeline.FilterMetrics) uint64) family {
		if v2 {
			help = helpV2
		}
		f := family{name: name, help: help, typ: counter}
		for _, x := range met.Filters {
			f.samples = append(f.samples, byName(x.Name, get(x)))
		}
		return f
	}
	out := func(name, help string, get func(pipeline.OutputMetrics) uint64) family {
		f := family{name: name, help: help, typ: counter}
		for _, x := range met.Outputs {
			f.samples = append(f.samples, byName(x.Name, get(x)))
		}
		return f
	}
	const flbHelp = "Fluentbit metrics."
	return []family{
		in("fluentbit_input_bytes_total", "Number of input bytes.", func(x pipeline.InputMetrics) uint64 { return x.Bytes }),
		in("fluentbit_input_records_total", "Number of input records.", func(x pipeline.InputMetrics) uint64 { return x.Records }),
		fl("fluentbit_filter_records_total", flbHelp, "Total number of new records processed.", func(x pipeline.FilterMetrics) uint64 { return x.Records }),
		fl("fluentbit_filter_bytes_total", flbHelp, "Total number of new bytes processed.", func(pipeline.FilterMetrics) uint64 { return 0 }),
		fl("fluentbit_filter_add_records_total", flbHelp, "Total number of new added records.", func(x pipeline.FilterMetrics) uint64 { return x.AddRecords }),
		fl("fluentbit_filter_drop_records_total", flbHelp, "Total number of dropped records.", func(x pipeline.FilterMetrics) uint64 { return x.DropRecords }),
		fl("fluentbit_filter_drop_bytes_total", flbHelp, "Total number of dropped bytes.", func(pipeline.FilterMetrics) uint64 { return 0 }),
		out("fluentbit_output_proc_records_total", "Number of processed output records.", func(x pipeline.OutputMetrics) uint64 { return x.ProcRecords }),
		out("fluentbit_output_proc_bytes_total", "Number of processed output bytes.", func(x pipeline.OutputMetrics) uint64 { return x.ProcBytes }),
		out("fluentbit_output_errors_total", "Number of output errors.", func(x pipeline.OutputMetrics) uint64 { return x.Errors }),
		out("fluentbit_output_retries_total", "Number of output retries.", func(x pipeline.OutputMetrics) uint64 { return x.Retries }),
		out("fluentbit_output_retries_failed_total", "Number of abandoned batches because the maximum number of re-tries was reached.", func(x pipeline.OutputMetrics) uint64 { return x.RetriesFailed }),
		out("fluentbit_output_dropped_records_total", "Number of dropped records.", func(x pipeline.OutputMetrics) uint64 { return x.DroppedRecords }),
		out("fluentbit_output_retried_records_total", "Number of retried records.", func(x pipeline.OutputMetrics) uint64 { return x.RetriedRecords }),
	}
}

// v1Families is /api/v1/metrics/prometheus: the instance counters sorted by name (as
// Fluent Bit sorts them), then uptime, start time and build information.
func (m *Monitor) v1Families(met pipeline.Metrics) []family {
	fams := instanceFamilies(met, false)
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	for _, f := range fams {
		sort.SliceStable(f.samples, func(i, j int) bool { return f.samples[i].labels[1] < f.samples[j].labels[1] })
	}
	fams = append(fams,
		family{"fluentbit_uptime", "Number of seconds that Fluent Bit has been running.", counter,
			[]sample{{value: uint64(m.uptimeSeconds())}}},
		family{"process_start_time_seconds", "Start time of the process since unix epoch in seconds.", gauge,
			[]sample{{value: uint64(m.o.Start.Unix())}}},
		family{"fluentbit_build_info", "Build version information.", gauge,
			[]sample{{labels: []string{"version", m.o.Version, "edition", m.o.Edition}, value: 1}}},
	)
	return append(fams, memoryFamilies(met, nil)...)
}

// v2Families is the v2 set, in Fluent Bit's order. Families that mean nothing here (the
// logger queue, ring buffers, the rate gate, HTTP ingress queues, input rates: see
// docs/monitoring.md) are left out rather than reported as 0.
func (m *Monitor) v2Families(met pipeline.Metrics) []family {
	host := []string{"hostname", m.o.Hostname}
	reloads := 0
	if m.o.Reloads != nil {
		reloads = m.o.Reloads()
	}
	fams := []family{
		{"fluentbit_uptime", "Number of seconds that Fluent Bit has been running.", counter,
			[]sample{{labels: host, value: uint64(m.uptimeSeconds())}}},
		{"fluentbit_hot_reloaded_times", "Collect the count of hot reloaded times.", counter,
			[]sample{{labels: host, value: uint64(reloads)}}},
	}
	if m.o.Logs != nil {
		f := family{"fluentbit_logger_logs_total", "Total number of logs", counter, nil}
		for i, n := range m.o.Logs.Counts() {
			f.samples = append(f.samples, sample{labels: []string{"message_type", LogLevels[i]}, value: n})
		}
		fams = append(fams, f)
	}
	fams = append(fams, routingFamilies(met)...)
	fams = append(fams, instanceFamilies(met, true)...)
	start := uint64(m.o.Start.Unix())
	fams = append(fams,
		family{"fluentbit_process_start_time_seconds", "Start time of the process since unix epoch in seconds.", gauge,
			[]sample{{labels: host, value: start}}},
		// Fluent Bit's value for build_info is the start time too.
		family{"fluentbit_build_info", "Build version information.", gauge,
			[]sample{{labels: []string{"hostname", m.o.Hostname, "version", m.o.Version, "os", goos}, value: start}}},
	)
	// Served with memory-only storage too, as Fluent Bit does.
	g := func(name, help string, v int) family {
		return family{name, help, gauge, []sample{{value: uint64(v)}}}
	}
	cc := met.Chunks
	fams = append(fams,
		g("fluentbit_storage_chunks", "Total number of chunks in the storage layer.", cc.Total),
		g("fluentbit_storage_mem_chunks", "Total number of memory chunks.", cc.Mem),
		g("fluentbit_storage_fs_chunks", "Total number of filesystem chunks.", cc.FS),
		g("fluentbit_storage_fs_chunks_up", "Total number of filesystem chunks up in memory.", cc.FSUp),
		g("fluentbit_storage_fs_chunks_down", "Total number of filesystem chunks down.", cc.FSDown),
	)
	in := func(name, help string, get func(pipeline.InputMetrics) uint64) family {
		f := family{name: name, help: help, typ: gauge}
		for _, x := range met.Inputs {
			f.samples = append(f.samples, byName(x.Name, get(x)))
		}
		return f
	}
	b2u := func(b bool) uint64 {
		if b {
			return 1
		}
		return 0
	}
	fams = append(fams,
		in("fluentbit_input_ingestion_paused", "Is the input paused or not?", func(x pipeline.InputMetrics) uint64 { return b2u(x.Paused) }),
		in("fluentbit_input_storage_overlimit", "Is the input memory usage overlimit ?.", func(x pipeline.InputMetrics) uint64 { return b2u(x.Paused) }),
		in("fluentbit_input_storage_memory_bytes", "Memory bytes used by the chunks.", func(x pipeline.InputMetrics) uint64 { return uint64(max(x.Buffered, 0)) }),
		in("fluentbit_input_storage_chunks", "Total number of chunks.", func(x pipeline.InputMetrics) uint64 { return uint64(x.Chunks) }),
		in("fluentbit_input_storage_chunks_up", "Total number of chunks up in memory.", func(x pipeline.InputMetrics) uint64 { return uint64(x.ChunksUp) }),
		in("fluentbit_input_storage_chunks_down", "Total number of chunks down.", func(x pipeline.InputMetrics) uint64 { return uint64(x.ChunksDown) }),
		in("fluentbit_input_storage_chunks_busy", "Total number of chunks in a busy state.", func(x pipeline.InputMetrics) uint64 { return uint64(x.ChunksBusy) }),
		in("fluentbit_input_storage_chunks_busy_bytes", "Total number of bytes used by chunks in a busy state.", func(x pipeline.InputMetrics) uint64 { return uint64(max(x.ChunksBusyBytes, 0)) }),
	)
	out := func(name, help string, get func(pipeline.OutputMetrics) uint64) family {
		f := family{name: name, help: help, typ: gauge}
		for _, x := range met.Outputs {
			f.samples = append(f.samples, byName(x.Name, get(x)))
		}
		return f
	}
	// An output that holds no connections (file, stdout, null) reports 0, as in Fluent Bit.
	conns := func(x pipeline.OutputMetrics) (total, busy uint64) {
		if x.Connections == nil {
			return 0, 0
		}
		return uint64(max(x.Connections.Total, 0)), uint64(max(x.Connections.Busy, 0))
	}
	fams = append(fams,
		out("fluentbit_output_upstream_total_connections", "Total Connection count.", func(x pipeline.OutputMetrics) uint64 { t, _ := conns(x); return t }),
		out("fluentbit_output_upstream_busy_connections", "Busy Connection count.", func(x pipeline.OutputMetrics) uint64 { _, b := conns(x); return b }),
		out("fluentbit_output_chunk_available_capacity_percent", "Available chunk capacity (percent)", capacityPercent),
	)
	// Only here (docs/monitoring.md): chunks given up, and those kept by storage.keep.rejected.
	rej := func(name, help string, get func(pipeline.OutputMetrics) uint64) family {
		f := out(name, help, get)
		f.typ = counter
		return f
	}
	fams = append(fams,
		rej("fluentbit_output_chunks_rejected_total", "Number of chunks the output gave up on (permanent error or retries spent).", func(x pipeline.OutputMetrics) uint64 { return x.RejectedChunks }),
		rej("fluentbit_output_chunks_rejected_kept_total", "Number of rejected chunks kept in storage.rejected.path.", func(x pipeline.OutputMetrics) uint64 { return x.RejectedKept }),
	)
	lat := family{name: "fluentbit_output_latency_seconds", help: "End-to-end latency in seconds", typ: histogram}
	for _, o := range met.Outputs {
		for i := range o.Routes {
			r := &o.Routes[i]
			if r.Latency.Count == 0 {
				continue // as in Fluent Bit, a pair appears once it has delivered
			}
			lat.samples = append(lat.samples, sample{labels: []string{"input", r.Input, "output", o.Name}, hist: &r.Latency})
		}
	}
	fams = append(fams, lat)
	return append(fams, memoryFamilies(met, host)...)
}

// capacityPercent is Fluent Bit's calculate_chunk_capacity_percent: the share of
// storage.total_limit_size the output's owed chunks leave free; 100 without a limit.
func capacityPercent(x pipeline.OutputMetrics) uint64 {
	if x.TotalLimit <= 0 {
		return 100
	}
	free := x.TotalLimit - x.Owed
	if free <= 0 {
		return 0
	}
	return uint64(free * 100 / x.TotalLimit)
}

// routingFamilies are what each output delivered of each input's records (Fluent Bit
// lists the pairs by output, then by input).
func routingFamilies(met pipeline.Metrics) []family {
	recs := family{name: "fluentbit_routing_logs_records_total", help: "Total log records routed from input to output", typ: counter}
	bytes := family{name: "fluentbit_routing_logs_bytes_total", help: "Total bytes routed from input to output (logs)", typ: counter}
	dropRecs := family{name: "fluentbit_routing_logs_drop_records_total", help: "Total log records dropped during routing", typ: counter}
	dropBytes := family{name: "fluentbit_routing_logs_drop_bytes_total", help: "Total bytes dropped during routing (logs)", typ: counter}
	for _, o := range met.Outputs {
		for _, r := range o.Routes {
			l := []string{"input", r.Input, "output", o.Name}
			if r.Records > 0 || r.Bytes > 0 {
				recs.samples = append(recs.samples, sample{labels: l, value: r.Records})
				bytes.samples = append(bytes.samples, sample{labels: l, value: r.Bytes})
			}
			// As in Fluent Bit, a pair appears here once it has dropped something.
			if r.DropRecords > 0 {
				dropRecs.samples = append(dropRecs.samples, sample{labels: l, value: r.DropRecords})
				dropBytes.samples = append(dropBytes.samples, sample{labels: l, value: r.DropBytes})
			}
		}
	}
	return []family{recs, bytes, dropRecs, dropBytes}
}

// appendProm writes families in the Prometheus text format 0.0.4; ts (milliseconds) is
// put on labelled samples when not 0, as Fluent Bit's v1 endpoint does.
func appendProm(b []byte, fams []family, ts int64) []byte {
	for _, f := range fams {
		if len(f.samples) == 0 {
			continue
		}
		b = append(b, "# HELP "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = append(b, escapeHelp(f.help)...)
		b = append(b, "\n# TYPE "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = append(b, f.typ...)
		b = append(b, '\n')
		for _, s := range f.samples {
			if s.hist != nil {
				b = appendPromHistogram(b, f.name, s)
				continue
			}
			b = appendSeries(b, f.name, s.labels)
			b = append(b, ' ')
			b = appendValue(b, s)
			if ts != 0 && len(s.labels) > 0 && s.labels[0] == "name" {
				b = append(b, ' ')
				b = strconv.AppendInt(b, ts, 10)
			}
			b = append(b, '\n')
		}
	}
	return b
}

// appendPromHistogram writes one histogram sample as Fluent Bit does: le first among the
// labels, bounds with at least one decimal ("1.0"), the sum with 17 significant digits.
func appendPromHistogram(b []byte, name string, s sample) []byte {
	h := s.hist
	for i, n := range h.Counts {
		le := "+Inf"
		if i < len(h.Bounds) {
			le = strconv.FormatFloat(h.Bounds[i], 'f', -1, 64)
			if !strings.Contains(le, ".") {
				le += ".0"
			}
		}
		b = appendSeries(b, name+"_bucket", append([]string{"le", le}, s.labels...))
		b = append(b, ' ')
		b = strconv.AppendUint(b, n, 10)
		b = append(b, '\n')
	}
	b = appendSeries(b, name+"_sum", s.labels)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, h.Sum, 'g', 17, 64)
	b = append(b, '\n')
	b = appendSeries(b, name+"_count", s.labels)
	b = append(b, ' ')
	b = strconv.AppendUint(b, h.Count, 10)
	return append(b, '\n')
}

func appendSeries(b []byte, name string, labels []string) []byte {
	b = append(b, name...)
	if len(labels) == 0 {
		return b
	}
	b = append(b, '{')
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, labels[i]...)
		b = append(b, `="`...)
		b = append(b, escapeLabel(labels[i+1])...)
		b = append(b, '"')
	}
	return append(b, '}')
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

// appendV2Text writes /api/v2/metrics: "time name{labels} = value" per sample.
func appendV2Text(b []byte, fams []family, now time.Time) []byte {
	ts := now.UTC().Format("2006-01-02T15:04:05.000000000Z")
	for _, f := range fams {
		for _, s := range f.samples {
			b = append(b, ts...)
			b = append(b, ' ')
			b = appendSeries(b, f.name, s.labels)
			b = append(b, " = "...)
			if h := s.hist; h != nil {
				// Fluent Bit's text form: { buckets = { 0.5=0, 1=2, ..., +Inf=5 }, sum=4.65337, count=5 }
				b = append(b, "{ buckets = { "...)
				for i, n := range h.Counts {
					if i > 0 {
						b = append(b, ", "...)
					}
					if i < len(h.Bounds) {
						b = strconv.AppendFloat(b, h.Bounds[i], 'g', -1, 64)
					} else {
						b = append(b, "+Inf"...)
					}
					b = append(b, '=')
					b = strconv.AppendUint(b, n, 10)
				}
				b = append(b, " }, sum="...)
				b = strconv.AppendFloat(b, h.Sum, 'g', 6, 64)
				b = append(b, ", count="...)
				b = strconv.AppendUint(b, h.Count, 10)
				b = append(b, " }\n"...)
				continue
			}
			b = appendValue(b, s)
			b = append(b, '\n')
		}
	}
	return b
}

func appendValue(b []byte, s sample) []byte {
	if s.float != nil {
		return strconv.AppendFloat(b, *s.float, 'g', -1, 64)
	}
	return strconv.AppendUint(b, s.value, 10)
}

// memoryFamilies are the process's memory budget (service memory_limit), served only
// when it is on: ours, Fluent Bit has no such budget.
func memoryFamilies(met pipeline.Metrics, labels []string) []family {
	mm := met.Memory
	if mm.Limit <= 0 {
		return nil
	}
	waited := mm.Waited.Seconds()
	return []family{
		{"fluentbit_memory_budget_bytes", "Bytes of the process's memory budget (memory_limit) buffers may reserve.", gauge,
			[]sample{{labels: labels, value: uint64(mm.Limit)}}},
		{"fluentbit_memory_budget_used_bytes", "Bytes reserved from the memory budget now.", gauge,
			[]sample{{labels: labels, value: uint64(max(mm.Used, 0))}}},
		{"fluentbit_memory_budget_wait_seconds_total", "Seconds spent waiting for room in the memory budget, summed over waiters.", counter,
			[]sample{{labels: labels, float: &waited}}},
	}
}

const promContentType = "text/plain; version=0.0.4"

func (m *Monitor) metricsPromV1(w http.ResponseWriter, _ *http.Request) {
	fams := m.v1Families(m.o.Metrics())
	writeText(w, promContentType, appendProm(nil, fams, m.o.Now().UnixMilli()))
}

func (m *Monitor) metricsPromV2(w http.ResponseWriter, _ *http.Request) {
	writeText(w, promContentType, appendProm(nil, m.v2Families(m.o.Metrics()), 0))
}

func (m *Monitor) metricsTextV2(w http.ResponseWriter, _ *http.Request) {
	writeText(w, "text/plain; charset=utf-8", appendV2Text(nil, m.v2Families(m.o.Metrics()), m.o.Now()))
}

func writeText(w http.ResponseWriter, ct string, b []byte) {
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(200)
	w.Write(b)
}
