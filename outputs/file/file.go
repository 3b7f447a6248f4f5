// Package file appends records to files, like Fluent Bit's file output: one file per tag
// (or one named file) in a directory, in one of Fluent Bit's text formats. With rotate on
// it rotates a file by size as Fluent Bit does (rotate.go); logrotate works too, because
// every flush opens the file anew.
//
//	[OUTPUT]
//	    Name   file
//	    Match  app.*
//	    Path   /var/log/fluentbit
//	    Format plain
//	    Mkdir  on
//
// Keys:
//
//   - path DIR: the directory the files go in (default: the working directory).
//   - file NAME: the file to write (default: the tag, made safe as below). With path it is
//     a name inside path; without, a path of its own (absolute or relative).
//   - format out_file|plain|json_lines|csv|ltsv|template|msgpack (default out_file,
//     case-insensitive).
//   - mkdir on|off (default off): create path (or file's directory) and its parents,
//     mode 0750, at Init and again if it disappears.
//   - delimiter (csv, ltsv): the field separator: tab or \t, space, comma, or one
//     character (default "," for csv, tab for ltsv).
//   - label_delimiter (ltsv): between label and value, same choices (default ":").
//   - csv_column_names on|off (csv; default off): write the record's keys as a header
//     line when the file is empty.
//   - template TEXT (template; default "{time} {message}").
//   - json_date_key, json_date_format (json_lines): as in the stdout output (default
//     "date" and double).
//   - rotate on|off (default off), rotate_max_size (default 100M), rotate_max_files
//     (default 7), rotate_gzip (default on): size rotation, as Fluent Bit's: the full file
//     becomes NAME.YYYYmmdd_HHMMSS_<hex>[.gz] and the oldest rotated files past
//     rotate_max_files are removed.
//
// Formats, for an event of tag app at 1700000000.123456789 with record {"k":"v","n":1}:
//
//	out_file    app: [1700000000.123456789, {"k":"v","n":1}]
//	plain       {"k":"v","n":1}
//	json_lines  {"date":1700000000.123457,"k":"v","n":1}
//	csv         1700000000.123456789,"v",1
//	ltsv        "time":1700000000.123457<TAB>"k":"v"<TAB>"n":1
//	template    {time} {k} -> 1700000000.123457 v
//	msgpack     the chunk's msgpack entries, as they are
//
// out_file, plain, csv, ltsv, template and msgpack are Fluent Bit's formats, written as
// its current code writes them (csv and ltsv print values as msgpack-c does: strings in
// double quotes, unescaped; records with no keys are skipped). json_lines is ours: plain
// with the time under json_date_key. In template, {time} is the event time and {KEY} the
// value of the record's top-level KEY (strings without quotes); a placeholder with no
// such key is written as it stands.
//
// File names. A tag is a name inside path, never a path: '/', '\', NUL and control
// characters become '_', and "", "." and ".." become "_", so a tag like
// "../../etc/passwd" writes path/.._.._etc_passwd. A name longer than 255 bytes is cut and
// given a hash of the tag, so that long tags stay distinct. The file is opened through an
// os.Root on path, so a symbolic link inside path cannot lead a tag's records outside it
// either: a tag whose file would resolve outside path fails its chunk with an error that
// is not retried (the chunk is dropped for this output and counted as failed, since no
// retry can succeed until someone removes the link). The file key is the operator's: it
// is used as written.
//
// Writing. Files are opened with O_APPEND|O_CREATE, mode 0640, for each flush and closed
// after it, rather than kept open: a file moved away by logrotate is never written to
// after the flush that follows, no descriptors pile up with many tags, and opening and
// closing cost about 9 µs per flush (BenchmarkOpenWriteClose on a 2-core amd64 VM; about
// what rendering nine records costs), a few percent of a chunk of a few hundred records. A chunk is
// rendered into a buffer and written in one write, under a lock per file, so chunks of
// several workers never interleave, and a write that fails part-way is cut back off the
// file (no half record is left). Every I/O error (ENOSPC, EIO, EACCES, a missing
// directory) asks the engine to retry the chunk, so nothing is lost while a disk is full
// or unmounted; only a file that resolves outside path (above) is not retried. At Init, a directory that is missing (without mkdir) or cannot be written
// is an error naming the key.
//
// Where this differs from Fluent Bit: keys are written sorted, not in arrival order (a
// record is a Go map here); JSON strings keep non-ASCII as UTF-8; the tag is made safe
// by replacing only what could change the directory, where recent Fluent Bit also replaces
// every character but letters, digits, '-', '_' and '.'; a delimiter may be any single
// character, and an unknown one, like an unknown format, is a configuration error (Fluent Bit
// silently keeps its default); mkdir creates directories 0750, not 0755; write errors
// are retried where Fluent Bit's fprintf results go unchecked.
package file

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/outputs/internal/render"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

func init() {
	pipeline.RegisterOutput("file", func() pipeline.Output { return New() })
}

// Output is the file output. Set the fields (or let the engine decode them), then call
// Init before the first Flush.
type Output struct {
	Path           string `conf:"path"`
	File           string `conf:"file"`
	Format         string `conf:"format"`
	Mkdir          bool   `conf:"mkdir"`
	Delimiter      string `conf:"delimiter"`
	LabelDelimiter string `conf:"label_delimiter"`
	CSVColumnNames bool   `conf:"csv_column_names"`
	Template       string `conf:"template"`
	JSONDateKey    string `conf:"json_date_key"`
	JSONDateFormat string `conf:"json_date_format"`

	// Size rotation, Fluent Bit's keys (see rotate.go).
	Rotate         bool        `conf:"rotate"`
	RotateMaxSize  config.Size `conf:"rotate_max_size"`
	RotateMaxFiles int         `conf:"rotate_max_files"`
	RotateGzip     bool        `conf:"rotate_gzip"`

	format     format
	delim      string
	labelDelim string
	dateKey    string
	dateFormat render.DateFormat

	locks [32]sync.Mutex // striped by file path: one writer per file at a time
	bufs  sync.Pool      // *[]byte render buffers
}

type format int

const (
	formatOutFile format = iota
	formatPlain
	formatJSONLines
	formatCSV
	formatLTSV
	formatTemplate
	formatMsgpack
)

// Modes of what the output creates.
const (
	fileMode = 0o640
	dirMode  = 0o750
)

// maxName is the longest file name most file systems take (NAME_MAX).
const maxName = 255

// maxPooled is the largest render buffer kept for reuse.
const maxPooled = 4 << 20

// New returns an Output with Fluent Bit's defaults.
func New() *Output {
	return &Output{Format: "out_file", Template: "{time} {message}", JSONDateKey: "date", JSONDateFormat: "double",
		RotateMaxSize: 100 << 20, RotateMaxFiles: 7, RotateGzip: true}
}

// Validate checks the keys, without side effects, so that mistakes show up when the
// configuration is loaded (and at --dry-run). Errors are config.KeyErrorf errors naming
// the key and the value at fault. It may be called more than once.
func (o *Output) Validate() error {
	var f format
	var delim, labelDelim string
	switch render.Lower(o.Format) {
	case "", "out_file":
		f = formatOutFile
	case "plain":
		f = formatPlain
	case "json_lines":
		f = formatJSONLines
	case "csv":
		f, delim = formatCSV, ","
	case "ltsv":
		f, delim, labelDelim = formatLTSV, "\t", ":"
	case "template":
		f = formatTemplate
	case "msgpack":
		f = formatMsgpack
	default:
		return config.KeyErrorf("format", "%q: want out_file, plain, json_lines, csv, ltsv, template or msgpack", o.Format)
	}
	if o.Delimiter != "" {
		d, err := parseDelimiter(o.Delimiter)
		if err != nil {
			return config.KeyErrorf("delimiter", "%v", err)
		}
		delim = d
	}
	if o.LabelDelimiter != "" {
		d, err := parseDelimiter(o.LabelDelimiter)
		if err != nil {
			return config.KeyErrorf("label_delimiter", "%v", err)
		}
		labelDelim = d
	}
	df, ok := render.ParseDateFormat(o.JSONDateFormat)
	if !ok {
		return config.KeyErrorf("json_date_format", "%q: want double, epoch, epoch_ms, iso8601 or java_sql_timestamp", o.JSONDateFormat)
	}
	if o.Rotate && o.RotateMaxSize <= 0 {
		return config.KeyErrorf("rotate_max_size", "%d: want more than 0 bytes", o.RotateMaxSize)
	}
	if o.Rotate && o.RotateMaxFiles < 1 {
		return config.KeyErrorf("rotate_max_files", "%d: want 1 or more", o.RotateMaxFiles)
	}
	if f == formatTemplate && o.Template == "" {
		o.Template = "{time} {message}"
	}
	o.format, o.delim, o.labelDelim, o.dateFormat = f, delim, labelDelim, df
	switch {
	case render.DateKeyOff(o.JSONDateKey):
		o.dateKey = ""
	case o.JSONDateKey == "":
		o.dateKey = "date"
	default:
		o.dateKey = o.JSONDateKey
	}
	return nil
}

// Init validates the keys again (the fields may have been set since Configure), makes
// the directory with mkdir, and checks that files can be written there. Errors name the
// key.
func (o *Output) Init(context.Context, pipeline.Env) error {
	if err := o.Validate(); err != nil {
		return err
	}
	return o.checkWritable()
}

// parseDelimiter reads Fluent Bit's delimiter names, or takes one character as it is.
func parseDelimiter(s string) (string, error) {
	switch render.Lower(s) {
	case `\t`, "tab":
		return "\t", nil
	case "space":
		return " ", nil
	case "comma":
		return ",", nil
	}
	if len(s) == 1 && s[0] != '\n' && s[0] != '\r' {
		return s, nil
	}
	return "", fmt.Errorf("%q: want tab, space, comma or one character", s)
}

// checkWritable makes the directory when asked and checks that files can be created in
// it, so that a wrong path or permission stops the agent at start instead of filling
// the retry queue.
func (o *Output) checkWritable() error {
	key, dir := "path", o.Path
	if o.Path == "" && o.File != "" {
		key, dir = "file", filepath.Dir(o.File)
	}
	if dir == "" {
		dir = "."
	}
	if o.Mkdir {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return config.KeyErrorf(key, "%q: mkdir: %w", dir, err)
		}
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return config.KeyErrorf(key, "%q: no such directory (mkdir on creates it)", dir)
	case err != nil:
		return config.KeyErrorf(key, "%q: %w", dir, err)
	case !st.IsDir():
		return config.KeyErrorf(key, "%q: not a directory", dir)
	}
	if o.File != "" {
		// The one file there will be: create it now, as a tail -f would want anyway.
		full := o.fullPath(o.File)
		f, err := os.OpenFile(full, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
		if err != nil {
			return config.KeyErrorf("file", "%q: cannot open for writing: %w", full, err)
		}
		return f.Close()
	}
	f, err := os.CreateTemp(dir, ".fluentbit-probe-*")
	if err != nil {
		return config.KeyErrorf(key, "%q: cannot create files: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// fullPath is where the file key's file is.
func (o *Output) fullPath(name string) string {
	if o.Path == "" {
		return name
	}
	return filepath.Join(o.Path, name)
}

// SafeName turns a tag into a file name that stays inside the output directory: it has
// no separators, NUL or control characters, is not "", "." or "..", and is at most 255
// bytes long (a longer tag is cut and given a hash of the whole tag, to stay distinct).
func SafeName(tag string) string {
	b := []byte(tag)
	for i, c := range b {
		if c == '/' || c == '\\' || c < 0x20 || c == 0x7f {
			b[i] = '_'
		}
	}
	s := string(b)
	switch s {
	case "", ".", "..":
		return "_"
	}
	if len(s) > maxName {
		h := fnv.New64a()
		h.Write([]byte(tag))
		s = s[:maxName-17] + "." + fmt.Sprintf("%016x", h.Sum64())
	}
	return s
}

// Flush appends c to its file in one write. I/O errors are retried by the engine. A
// damaged chunk has its good records (those before the damage) written and is reported
// as an error that is not retried.
func (o *Output) Flush(_ context.Context, c *pipeline.Chunk) error {
	bp, _ := o.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer func() {
		if cap(*bp) <= maxPooled {
			o.bufs.Put(bp)
		}
	}()
	var header []byte
	buf, decodeErr := o.render((*bp)[:0], c, &header)
	*bp = buf
	if len(buf) > 0 {
		if err := o.write(c.Tag, buf, header); err != nil {
			if errors.Is(err, errOutsidePath) {
				// Permanent: every retry would meet the same link.
				return err
			}
			return pipeline.Retry(err)
		}
	}
	if decodeErr != nil {
		return fmt.Errorf("file: chunk %q: %w", c.Tag, decodeErr)
	}
	return nil
}

// write appends buf (after header, when the file is empty and header is not nil) to the
// tag's file.
func (o *Output) write(tag string, buf, header []byte) error {
	dir, name, viaRoot := o.Path, o.File, false
	if o.File == "" {
		name, viaRoot = SafeName(tag), true
		if dir == "" {
			dir = "."
		}
	} else {
		dir, name = filepath.Split(o.fullPath(o.File))
		if dir == "" {
			dir = "."
		}
	}
	full := filepath.Join(dir, name)
	h := fnv.New32a()
	h.Write([]byte(full))
	mu := &o.locks[h.Sum32()%uint32(len(o.locks))]
	mu.Lock()
	defer mu.Unlock()

	f, err := o.open(dir, name, viaRoot)
	if err != nil && o.Mkdir && errors.Is(err, fs.ErrNotExist) {
		if mkErr := os.MkdirAll(dir, dirMode); mkErr == nil {
			f, err = o.open(dir, name, viaRoot)
		}
	}
	if err != nil {
		if viaRoot && isPathEscape(err) {
			return fmt.Errorf("file: tag %q: %s %w %q (a symbolic link?); chunk dropped, not retried: %v",
				tag, full, errOutsidePath, dir, err)
		}
		return fmt.Errorf("file: open %s: %w", full, err)
	}
	if o.Rotate {
		if st, err := f.Stat(); err == nil && o.needsRotation(st.Size(), len(buf)) {
			f.Close()
			if err := o.rotate(dir, name); err != nil {
				return fmt.Errorf("file: rotate %s: %w", full, err)
			}
			if f, err = o.open(dir, name, viaRoot); err != nil {
				return fmt.Errorf("file: open %s: %w", full, err)
			}
		}
	}
	if header != nil {
		if st, err := f.Stat(); err == nil && st.Size() == 0 {
			buf = append(header, buf...)
		}
	}
	n, err := f.Write(buf)
	if err != nil {
		if n > 0 {
			// Take the part that made it back off, so that the retry does not leave half
			// a record in the file. We hold the file's lock; O_APPEND put our bytes last.
			if st, serr := f.Stat(); serr == nil && st.Size() >= int64(n) {
				_ = f.Truncate(st.Size() - int64(n))
			}
		}
		f.Close()
		return fmt.Errorf("file: write %s: %w", full, err)
	}
	if err := f.Close(); err != nil {
		// Some file systems (NFS) report failed writes only here.
		return fmt.Errorf("file: close %s: %w", full, err)
	}
	return nil
}

// errOutsidePath marks a write refused because the tag's file would resolve outside path.
var errOutsidePath = errors.New("resolves outside path")

// isPathEscape reports whether err is os.Root's refusal to follow a name out of its
// directory. The os package does not export that error, so it is recognized by its text
// (os.errPathEscapes, "path escapes from parent", the same on every platform).
func isPathEscape(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent"
}

func (o *Output) open(dir, name string, viaRoot bool) (*os.File, error) {
	const flags = os.O_WRONLY | os.O_APPEND | os.O_CREATE
	if !viaRoot {
		return os.OpenFile(filepath.Join(dir, name), flags, fileMode)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.OpenFile(name, flags, fileMode)
}

// render appends the text of c's events to dst. For csv with csv_column_names, *header
// is set to the header line of the first record that has keys. With an error, dst holds
// the events before the damaged one.
func (o *Output) render(dst []byte, c *pipeline.Chunk, header *[]byte) ([]byte, error) {
	if o.format == formatMsgpack {
		_, valid, err := event.Count(c.Data)
		return append(dst, c.Data[:valid]...), err
	}
	var keys []string
	err := c.Events(func(ev event.Event) error {
		switch o.format {
		case formatOutFile:
			dst = append(dst, c.Tag...)
			dst = append(dst, ": ["...)
			dst = render.AppendSecNsec(dst, ev.Time)
			dst = append(dst, ", "...)
			dst = render.AppendMapJSON(dst, ev.Record, &keys)
			dst = append(dst, "]\n"...)
		case formatPlain:
			dst = render.AppendMapJSON(dst, ev.Record, &keys)
			dst = append(dst, '\n')
		case formatJSONLines:
			dst = render.AppendRecordJSON(dst, &ev, o.dateKey, o.dateFormat, &keys)
			dst = append(dst, '\n')
		case formatCSV:
			if len(ev.Record) == 0 {
				return nil
			}
			if o.CSVColumnNames && *header == nil {
				h := append([]byte("timestamp"), o.delim...)
				for i, kv := range ev.Record {
					if i > 0 {
						h = append(h, o.delim...)
					}
					h = render.AppendPrint(h, kv.Key)
				}
				*header = append(h, '\n')
			}
			dst = render.AppendSecNsec(dst, ev.Time)
			for _, kv := range ev.Record {
				dst = append(dst, o.delim...)
				dst = render.AppendPrint(dst, kv.Value)
			}
			dst = append(dst, '\n')
		case formatLTSV:
			if len(ev.Record) == 0 {
				return nil
			}
			dst = append(dst, `"time"`...)
			dst = append(dst, o.labelDelim...)
			dst = render.AppendCFloat(dst, render.TimeDouble(ev.Time))
			for _, kv := range ev.Record {
				dst = append(dst, o.delim...)
				dst = render.AppendPrint(dst, kv.Key)
				dst = append(dst, o.labelDelim...)
				dst = render.AppendPrint(dst, kv.Value)
			}
			dst = append(dst, '\n')
		case formatTemplate:
			dst = appendTemplate(dst, o.Template, &ev)
		}
		return nil
	})
	return dst, err
}

// appendTemplate fills {time} and {KEY} placeholders as Fluent Bit's template_output does:
// an unknown key leaves its placeholder as written, a '{' inside an open brace restarts
// it ("{a{b}" writes "{a" and fills {b}), and an unclosed brace is written as it stands.
func appendTemplate(dst []byte, tmpl string, ev *event.Event) []byte {
	open := -1 // index of the last '{' not yet closed
	for i := 0; i < len(tmpl); i++ {
		switch c := tmpl[i]; {
		case c == '{':
			if open >= 0 {
				dst = append(dst, tmpl[open:i]...)
			}
			open = i
		case c == '}' && open >= 0:
			key := tmpl[open+1 : i]
			if key == "time" {
				dst = render.AppendCFloat(dst, render.TimeDouble(ev.Time))
			} else if v, ok := ev.Record.Get(key); ok {
				if s, ok := v.(string); ok {
					dst = append(dst, s...)
				} else {
					dst = render.AppendPrint(dst, v)
				}
			} else {
				dst = append(dst, tmpl[open:i+1]...)
			}
			open = -1
		default:
			if open < 0 {
				dst = append(dst, c)
			}
		}
	}
	if open >= 0 {
		dst = append(dst, tmpl[open:]...)
	}
	return append(dst, '\n')
}

// Interface guards: a lifecycle method with a wrong signature fails the build.
var (
	_ pipeline.Output      = (*Output)(nil)
	_ pipeline.Validator   = (*Output)(nil)
	_ pipeline.Initializer = (*Output)(nil)
)
