package config

// Fluent Bit's own keys, so that a configuration written for it loads here: a key Fluent
// Bit has and this agent does not act on is accepted with one warning that names it (and
// says what happens instead), while a key neither knows stays an error with a suggestion.
//
// The plugin keys are in fluentbit_keys.json, generated from `fluent-bit -J` (v5.1.1, the
// peer in ../shared/peers): TestFluentBitKeysMatchPeer checks the file against the peer
// and rewrites it with -update-fbkeys. Fluent Bit's -J does not list the service section,
// so serviceKeys below is kept by hand from its v5.1.1 source and documentation.

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

//go:embed fluentbit_keys.json
var fluentBitKeysJSON []byte

// fbSchema is fluentbit_keys.json: per kind, per plugin ("*" holds the keys every plugin
// of the kind has), the lower-case keys. A key ending in "*" is a prefix (tail's parser_*).
type fbSchema struct {
	Version string              `json:"version"`
	Input   map[string][]string `json:"input"`
	Filter  map[string][]string `json:"filter"`
	Output  map[string][]string `json:"output"`
	Custom  map[string][]string `json:"custom"`
}

var loadFBSchema = sync.OnceValue(func() *fbSchema {
	var s fbSchema
	if err := json.Unmarshal(fluentBitKeysJSON, &s); err != nil {
		panic("config: fluentbit_keys.json: " + err.Error()) // the embedded file is ours
	}
	return &s
})

// FluentBitVersion is the Fluent Bit release whose keys FluentBitKnows knows.
func FluentBitVersion() string { return loadFBSchema().Version }

// serviceKeys are the [SERVICE] keys of Fluent Bit v5.1.1 (src/flb_config.c and the
// service-section documentation), lower-case. HTTP_Monitor is an older name Fluent Bit
// still ignores silently; it is listed so configs that carry it load.
var serviceKeys = []string{
	"flush", "grace", "daemon", "log_file", "log_level", "parsers_file", "plugins_file",
	"streams_file", "http_server", "http_listen", "http_port", "http_monitor", "health_check",
	"hc_errors_count", "hc_retry_failure_count", "hc_period", "hot_reload",
	"hot_reload.timeout", "hot_reload.ensure_thread_safety", "enable_chunk_trace",
	"dns.mode", "dns.resolver", "dns.prefer_ipv4", "dns.prefer_ipv6",
	"flush.adaptive", "flush.adaptive.min_interval", "flush.adaptive.max_interval",
	"flush.adaptive.low_pressure", "flush.adaptive.medium_pressure",
	"flush.adaptive.high_pressure", "flush.adaptive.up_steps", "flush.adaptive.down_steps",
	"json.convert_nan_to_null", "json.escape_unicode", "multiline_buffer_limit",
	"security.fips_mode", "sp.convert_from_str_to_num", "coro_stack_size",
	"scheduler.base", "scheduler.cap", "windows.maxstdio",
	"storage.path", "storage.sync", "storage.metrics", "storage.checksum",
	"storage.backlog.mem_limit", "storage.backlog.flush_on_shutdown", "storage.max_chunks_up",
	"storage.delete_irrecoverable_chunks", "storage.inherit", "storage.type",
	"storage.trim_files", "storage.keep.rejected", "storage.rejected.path",
	"storage.rejected.limit",
}

func (s *fbSchema) kind(kind string) map[string][]string {
	switch kind {
	case "input":
		return s.Input
	case "filter":
		return s.Filter
	case "output":
		return s.Output
	case "custom":
		return s.Custom
	}
	return nil
}

// FluentBitKeys lists the keys Fluent Bit has for a section of kind ("service", "input",
// "filter", "output", "custom") and, but for service, plugin: the plugin's own keys and
// those every plugin of the kind has (only those for a plugin Fluent Bit does not have).
func FluentBitKeys(kind, plugin string) []string {
	if kind == "service" {
		return slices.Clone(serviceKeys)
	}
	m := loadFBSchema().kind(kind)
	return append(slices.Clone(m["*"]), m[strings.ToLower(plugin)]...)
}

// FluentBitPlugins lists the plugins of kind ("input", "filter", "output", "custom") in
// Fluent Bit's build the key table comes from, sorted.
func FluentBitPlugins(kind string) []string {
	var names []string
	for n := range loadFBSchema().kind(kind) {
		if n != "*" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// FluentBitKnows reports whether Fluent Bit has key in a section of kind for plugin.
func FluentBitKnows(kind, plugin, key string) bool {
	key = strings.ToLower(strings.TrimSpace(key))
	for _, k := range FluentBitKeys(kind, plugin) {
		if k == key || strings.HasSuffix(k, "*") && strings.HasPrefix(key, k[:len(k)-1]) {
			return true
		}
	}
	return false
}

// fbNote says, for a Fluent Bit key this agent takes without acting on it, what happens
// instead; refuse marks keys whose silent absence would change what is sent or who may
// read it, so they stay errors.
type fbNote struct {
	text   string
	refuse bool // refused whatever its value
	onOnly bool // refused only when on (a bool key), accepted with a warning when off
}

// fbNotes are keyed "kind/plugin/key", with "*" for every plugin of the kind. Keys not
// listed get the default note.
var fbNotes = map[string]fbNote{
	"service//http_monitor":                      {text: "an old Fluent Bit name: use http_server"},
	"service//dns.mode":                          {text: "Go's resolver is used (UDP, falling back to TCP as needed)"},
	"service//dns.resolver":                      {text: "Go's resolver is used"},
	"service//dns.prefer_ipv4":                   {text: "Go's resolver orders addresses itself (RFC 6724)"},
	"service//dns.prefer_ipv6":                   {text: "Go's resolver orders addresses itself (RFC 6724)"},
	"service//hot_reload.timeout":                {text: "a reload here is bounded by grace"},
	"service//hot_reload.ensure_thread_safety":   {text: "reloads here always hand over safely"},
	"service//enable_chunk_trace":                {text: "chunk tracing is not built in"},
	"service//flush.adaptive":                    {text: "the flush interval is fixed (flush)"},
	"service//json.convert_nan_to_null":          {text: "NaN is always written as null in JSON here"},
	"service//json.escape_unicode":               {text: "JSON here carries UTF-8 as is"},
	"service//multiline_buffer_limit":            {text: "a joined multiline message is bounded at 2M, its default"},
	"service//security.fips_mode":                {text: "no FIPS mode (Go's crypto/tls is used)", onOnly: true},
	"service//sp.convert_from_str_to_num":        {text: "no stream processor"},
	"service//streams_file":                      {text: "no stream processor"},
	"service//coro_stack_size":                   {text: "no coroutines (goroutines grow their stacks)"},
	"service//windows.maxstdio":                  {text: "Windows only"},
	"service//storage.inherit":                   {text: "set storage.type on each input"},
	"service//storage.type":                      {text: "set storage.type on each input"},
	"service//storage.trim_files":                {text: "chunk files are deleted once delivered"},
	"service//storage.backlog.flush_on_shutdown": {text: "the backlog is delivered at the next start instead"},
	"service//storage.rejected.limit":            {text: "rejected chunks are kept until removed"},

	"input/*/threaded":                                  {text: "every input runs in its own goroutine"},
	"input/*/thread.ring_buffer.capacity":               {text: "no ring buffer between threads"},
	"input/*/thread.ring_buffer.window":                 {text: "no ring buffer between threads"},
	"input/*/log_suppress_interval":                     {},
	"input/*/routable":                                  {text: "an input's records are always routed"},
	"input/*/storage.pause_on_chunks_overlimit":         {text: "mem_buf_limit pauses the input"},
	"input/*/rate_gate":                                 {text: "no rate gate; mem_buf_limit bounds an input"},
	"input/*/rate_window":                               {},
	"input/*/net.share_port":                            {text: "listeners are not shared between processes"},
	"input/*/tls.proxy.ca_file":                         {},
	"filter/*/log_suppress_interval":                    {},
	"output/*/log_suppress_interval":                    {},
	"output/*/tls.windows.certstore_name":               {text: "Windows only"},
	"output/*/tls.windows.use_enterprise_store":         {text: "Windows only"},
	"output/*/tls.windows.client_thumbprints":           {text: "Windows only"},
	"output/*/net.dns.mode":                             {text: "Go's resolver is used"},
	"output/*/net.dns.resolver":                         {text: "Go's resolver is used"},
	"output/*/net.source_address":                       {text: "the system picks the source address", refuse: true},
	"output/*/aws_auth":                                 {text: "AWS SigV4 signing is not built in", onOnly: true},
	"output/*/aws_service":                              {text: "AWS SigV4 signing is not built in", refuse: true},
	"output/*/aws_region":                               {text: "AWS SigV4 signing is not built in", refuse: true},
	"output/*/aws_role_arn":                             {text: "AWS SigV4 signing is not built in", refuse: true},
	"output/*/aws_profile":                              {text: "AWS SigV4 signing is not built in", refuse: true},
	"output/*/aws_sts_endpoint":                         {text: "AWS SigV4 signing is not built in", refuse: true},
	"output/*/aws_external_id":                          {text: "AWS SigV4 signing is not built in", refuse: true},
	"output/*/proxy":                                    {text: "this output does not go through proxies", refuse: true},
	"output/http/oauth2.auth_method":                    {text: "only the client-secret grant (basic) is built in", refuse: true},
	"output/http/oauth2.jwt_key_file":                   {text: "only the client-secret grant is built in", refuse: true},
	"output/http/oauth2.jwt_cert_file":                  {text: "only the client-secret grant is built in", refuse: true},
	"output/*/tls.key_passwd":                           {text: "use an unencrypted key file", refuse: true},
	"output/*/net.proxy_env_ignore":                     {text: "the environment's proxy variables are never used"},
	"input/forward/workers":                             {text: "each connection is served by a goroutine of its own"},
	"output/loki/auto_kubernetes_labels":                {text: "no kubernetes filter here, so records carry no kubernetes labels to add"},
	"output/loki/tenant_id_key":                         {text: "one tenant per output: set tenant_id", refuse: true},
	"output/loki/tenant_id_key_error_handling":          {text: "one tenant per output: set tenant_id"},
	"output/loki/structured_metadata_map_keys":          {text: "name each entry in structured_metadata", refuse: true},
	"output/loki/buffer_size":                           {text: "the answer is read up to 512 bytes for the error message"},
	"output/opentelemetry/grpc":                         {text: "OTLP/HTTP only", onOnly: true},
	"output/opentelemetry/http2":                        {text: "HTTP/1.1 is used"},
	"output/opentelemetry/batch_size":                   {text: "a chunk is one request"},
	"output/opentelemetry/traces_uri":                   {text: "no traces here"},
	"output/opentelemetry/profiles_uri":                 {text: "no profiles here"},
	"output/opentelemetry/log_response_payload":         {text: "a refusal's answer is in its error"},
	"output/opentelemetry/logs_timestamp_metadata_key":  {text: "the otlp metadata map's fields are read by their names (docs/opentelemetry.md)"},
	"output/opentelemetry/logs_attributes_metadata_key": {text: "the otlp metadata map's fields are read by their names (docs/opentelemetry.md)"},
	"input/*/tls.verify_client_cert":                    {text: "client certificates are required when tls.verify is on and tls.ca_file or tls.ca_path is set", onOnly: true},
	"input/*/net.backlog":                               {text: "the system's listen backlog is used"},
	"input/*/net.accept_timeout":                        {text: "embedhttp and forward bound a silent connection themselves"},
	"input/*/tls.key_passwd":                            {text: "use an unencrypted key file", refuse: true},
}

// FluentBitKeyNote says what key, which Fluent Bit has in a section of kind for plugin,
// does in this agent when the agent does not take it itself ("" when there is nothing more
// to say than that it has no effect), and whether it is refused: always, or (onOnly) only
// when its value is on.
func FluentBitKeyNote(kind, plugin, key string) (note string, refuse, onOnly bool) {
	key = strings.ToLower(key)
	for _, id := range []string{kind + "/" + strings.ToLower(plugin) + "/" + key, kind + "/*/" + key, kind + "//" + key} {
		if n, ok := fbNotes[id]; ok {
			return n.text, n.refuse, n.onOnly
		}
	}
	return "", false, false
}

// FluentBitKeyWarning is the warning, or with refused the error, for property p: a key
// Fluent Bit has in a section of kind for plugin that this agent does not act on.
func FluentBitKeyWarning(kind, plugin string, p Property) (warning error, refused error) {
	note, refuse, onOnly := FluentBitKeyNote(kind, plugin, p.Key)
	if onOnly {
		on, err := ParseBool(p.Value)
		refuse = err != nil || on
	}
	what := kind
	if plugin != "" {
		what = fmt.Sprintf("%s %q", kind, plugin)
	}
	if refuse {
		return nil, Errorf(p, "%s: a Fluent Bit key this agent does not support: %s", what, note)
	}
	if note != "" {
		note = ": " + note
	}
	return Errorf(p, "%s: a Fluent Bit key, accepted, no effect here%s", what, note), nil
}

// AddWarning appends w to c.Warnings unless an equal warning (same text) is there: a
// configuration built twice (a check, then the agent) warns once.
func (c *Config) AddWarning(w error) {
	for _, x := range c.Warnings {
		if x.Error() == w.Error() {
			return
		}
	}
	c.Warnings = append(c.Warnings, w)
}
