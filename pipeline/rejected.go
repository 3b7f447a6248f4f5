package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// This file is what happens to a chunk an output gives up on (a permanent error from
// Flush, or retry_limit reached): it is never dropped without a trace. Each is counted
// (OutputMetrics.RejectedChunks and DroppedRecords) and logged with its tag and record
// count; with storage.keep.rejected on (Fluent Bit's dead letter queue) it is also kept in
// the rejected directory for a person to look at and replay:
//
//	<dir>/<tag>_<output>_<unix nanoseconds>.msgpack   the chunk's entries as they were
//	                                                  ([time, record] msgpack, one after
//	                                                  another: forward's entry format)
//	<dir>/<tag>_<output>_<unix nanoseconds>.json      tag, output, plugin, records, bytes,
//	                                                  attempts, error, rejected_at
//
// The tag in the name keeps only [A-Za-z0-9._-] (others become _). The sidecar is written
// after the chunk, so a .json always has its .msgpack whole. Replay: send the .msgpack
// with its tag to a forward input (e.g. `fluentbit -i forward` and a forward client).

// RejectedSidecar is the JSON written next to a kept rejected chunk.
type RejectedSidecar struct {
	Tag        string    `json:"tag"`
	Output     string    `json:"output"`
	Plugin     string    `json:"plugin"`
	Records    int       `json:"records"`
	Bytes      int       `json:"bytes"`
	Attempts   int       `json:"attempts"`
	Error      string    `json:"error"`
	RejectedAt time.Time `json:"rejected_at"`
	Chunk      string    `json:"chunk"` // the .msgpack file's name
}

// rejectedDir is where kept rejected chunks go, "" when they are not kept.
func (o *Options) rejectedDir() string {
	if !o.Storage.KeepRejected {
		return ""
	}
	dir := o.Storage.RejectedPath
	if dir == "" {
		dir = "rejected"
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(o.Storage.Path, dir)
	}
	return dir
}

// reject gives up on ch for o: counts the chunk, logs it and, with storage.keep.rejected,
// keeps it. The caller counts its records in droppedRecords.
func (o *outputInst) reject(ch *Chunk, attempts int, why string, err error) {
	o.rejectedChunks.Add(1)
	dir := o.e.opts.rejectedDir()
	if dir == "" {
		o.log.Error(why+"; chunk dropped (storage.keep.rejected is off)", "tag", ch.Tag, "records", ch.Records,
			"bytes", len(ch.Data), "rejected_chunks", o.rejectedChunks.Load(), "err", err)
		return
	}
	path, kerr := keepRejected(dir, o.name, o.plugin, ch, attempts, err)
	if kerr != nil {
		o.log.Error(why+"; chunk dropped: it could not be kept in the rejected directory", "tag", ch.Tag,
			"records", ch.Records, "err", err, "keep_err", kerr)
		return
	}
	o.rejectedKept.Add(1)
	o.log.Error(why+"; chunk kept in the rejected directory", "tag", ch.Tag, "records", ch.Records,
		"file", path, "err", err)
}

func keepRejected(dir, output, plugin string, ch *Chunk, attempts int, cause error) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	now := time.Now()
	base := fmt.Sprintf("%s_%s_%d", sanitizeName(ch.Tag), sanitizeName(output), now.UnixNano())
	data := filepath.Join(dir, base+".msgpack")
	if err := writeSynced(data, ch.Data); err != nil {
		return "", err
	}
	msg := ""
	if cause != nil {
		msg = cause.Error()
	}
	side, err := json.MarshalIndent(RejectedSidecar{
		Tag: ch.Tag, Output: output, Plugin: plugin, Records: ch.Records, Bytes: len(ch.Data),
		Attempts: attempts, Error: msg, RejectedAt: now.UTC(), Chunk: base + ".msgpack",
	}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := writeSynced(filepath.Join(dir, base+".json"), append(side, '\n')); err != nil {
		return "", err
	}
	return data, nil
}

// writeSynced writes data to a new file at path and syncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// sanitizeName keeps a tag or instance name usable in a file name.
func sanitizeName(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
