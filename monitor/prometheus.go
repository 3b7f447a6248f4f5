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
}

const (
	counter = "counter"
	gauge   = "gauge"
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
	return append(fams,
		family{"fluentbit_uptime", "Number of seconds that Fluent Bit has been running.", counter,
			[]sample{{value: uint64(m.uptimeSeconds())}}},
		family{"process_start_time_seconds", "Start time of the process since unix epoch in seconds.", gauge,
			[]sample{{value: uint64(m.o.Start.Unix())}}},
		family{"fluentbit_build_info", "Build version information.", gauge,
			[]sample{{labels: []string{"version", m.o.Version, "edition", m.o.Edition}, value: 1}}},
	)
}

// v2Families is the v2 set, in Fluent Bit's order. Families this agent has no data for
// (logger, routing, ring buffer, rate gate, upstream connections, latency, memory chunk
// counts; filesystem chunk counts without Options.Storage) are left out rather than
// reported as 0.
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
	fams = append(fams, instanceFamilies(met, true)...)
	start := uint64(m.o.Start.Unix())
	fams = append(fams,
		family{"fluentbit_process_start_time_seconds", "Start time of the process since unix epoch in seconds.", gauge,
			[]sample{{labels: host, value: start}}},
		// Fluent Bit's value for build_info is the start time too.
		family{"fluentbit_build_info", "Build version information.", gauge,
			[]sample{{labels: []string{"hostname", m.o.Hostname, "version", m.o.Version, "os", goos}, value: start}}},
	)
	var st pipeline.StorageMetrics
	if m.o.Storage != nil {
		st = m.o.Storage()
	}
	if st.Enabled { // filesystem chunks only: the engine does not count memory chunks
		g := func(name, help string, v int) family {
			return family{name, help, gauge, []sample{{value: uint64(v)}}}
		}
		fams = append(fams,
			g("fluentbit_storage_chunks", "Total number of chunks in the storage layer.", st.Chunks),
			g("fluentbit_storage_fs_chunks", "Total number of filesystem chunks.", st.Chunks),
			g("fluentbit_storage_fs_chunks_up", "Total number of filesystem chunks up in memory.", st.ChunksUp),
			g("fluentbit_storage_fs_chunks_down", "Total number of filesystem chunks down.", st.ChunksDown),
		)
	}
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
	return append(fams,
		in("fluentbit_input_ingestion_paused", "Is the input paused or not?", func(x pipeline.InputMetrics) uint64 { return b2u(x.Paused) }),
		in("fluentbit_input_storage_overlimit", "Is the input memory usage overlimit ?.", func(x pipeline.InputMetrics) uint64 { return b2u(x.Paused) }),
		in("fluentbit_input_storage_memory_bytes", "Memory bytes used by the chunks.", func(x pipeline.InputMetrics) uint64 { return uint64(max(x.Buffered, 0)) }),
	)
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
			b = appendSeries(b, f.name, s.labels)
			b = append(b, ' ')
			b = strconv.AppendUint(b, s.value, 10)
			if ts != 0 && len(s.labels) > 0 && s.labels[0] == "name" {
				b = append(b, ' ')
				b = strconv.AppendInt(b, ts, 10)
			}
			b = append(b, '\n')
		}
	}
	return b
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
			b = strconv.AppendUint(b, s.value, 10)
			b = append(b, '\n')
		}
	}
	return b
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
