package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/fluentbit-go/fluentbit-go/pipeline/storage"
)

// This file is the engine's side of filesystem storage: writing an input's chunks to
// files as records arrive, keeping at most storage.max_chunks_up sealed chunks in memory,
// loading the backlog at start, reading chunks back for delivery, and dropping the oldest
// chunks of an output over its storage.total_limit_size. Package storage does the I/O.

// ErrStorage wraps the error an Emit returns when its records could not be written to the
// input's chunk file (a full or failing disk): they were not accepted.
var ErrStorage = errors.New("pipeline: storage")

func (e *Engine) openStore() error {
	fsInputs := 0
	for _, in := range e.inputs {
		if in.fs {
			fsInputs++
			if e.opts.Storage.Path == "" {
				return fmt.Errorf("input %s: storage.type filesystem needs storage.path in the service section", in.name)
			}
		}
	}
	if e.opts.Storage.Path == "" || e.store != nil { // none, or shared (ShareStorage)
		return nil
	}
	st, err := storage.Open(storage.Options{
		Dir: e.opts.Storage.Path, Checksum: e.opts.Storage.Checksum,
		DeleteIrrecoverable: e.opts.Storage.DeleteIrrecoverable, Logger: e.log,
	})
	if err != nil {
		return err
	}
	e.store = st
	e.log.Info("storage", "path", st.Dir(), "sync", e.opts.Storage.Sync, "checksum", e.opts.Storage.Checksum,
		"max_chunks_up", e.opts.Storage.MaxChunksUp, "filesystem_inputs", fsInputs)
	return nil
}

// loadBacklog hands the chunks an earlier run left on disk (storage.Load) to the outputs
// that still owe them, before any input starts, so they are first in every output's queue.
func (e *Engine) loadBacklog(loaded []*storage.Loaded) {
	budget := e.opts.Storage.BacklogMemLimit
	chunks, records := 0, 0
	for _, l := range loaded {
		all := e.route(l.File.Tag).outputs
		if len(all) == 0 {
			e.log.Warn("storage: no output matches a backlog chunk's tag; kept on disk",
				"tag", l.File.Tag, "records", l.Records, "file", l.File.Path())
			continue
		}
		var owed []*outputInst
		for _, o := range all {
			if !l.Acked[o.name] {
				owed = append(owed, o)
			}
		}
		if len(owed) == 0 {
			_ = l.File.Remove()
			continue
		}
		c := &chunk{Chunk: Chunk{Tag: l.File.Tag, Records: l.Records}, file: l.File, e: e, down: true}
		if size := l.File.Size(); size <= budget && e.upChunks.Load() < int64(e.opts.Storage.MaxChunksUp) {
			if data, n, _, err := l.File.ReadAll(); err == nil {
				budget -= size
				c.Data, c.Records, c.down, c.up = data, n, false, true
				e.upChunks.Add(1)
			}
		}
		chunks++
		records += c.Records
		e.dispatchTo(c, owed)
	}
	if chunks > 0 {
		e.log.Info("storage: backlog loaded", "chunks", chunks, "records", records)
	}
}

// sealFile syncs and closes a chunk's file as it is sealed, and decides whether its data
// stays in memory (up) or is read back when an output's turn comes (down).
func (e *Engine) sealFile(c *chunk) {
	c.e = e
	if err := c.file.Seal(true); err != nil {
		// The file may not hold the records (or not durably): reading it back could lose
		// them, so the chunk stays up whatever max_chunks_up and mem_buf_limit say. Its
		// records are lost only if the agent dies before delivering them.
		e.log.Error("storage: sealing a chunk failed; its records stay in memory for delivery",
			"tag", c.Tag, "records", c.Records, "err", err)
		e.upChunks.Add(1)
		c.up = true
		return
	}
	// A chunk stays up only if a whole open chunk still fits beside it under mem_buf_limit:
	// chunks up that fill the limit would have appendFile seal the open chunk at every
	// batch, each batch a chunk file of its own (an fsync, a flush attempt).
	over := c.in != nil && c.in.limit > 0 && c.in.bufferedNow()+int64(e.opts.ChunkLimit) > c.in.limit
	if !over && e.upChunks.Add(1) <= int64(e.opts.Storage.MaxChunksUp) {
		c.up = true
		return
	}
	if !over {
		e.upChunks.Add(-1)
	}
	c.down = true
	e.bufs.put(c) // the data is read back from the file when an output's turn comes
	if c.in != nil {
		c.in.putDown(c)
	}
}

func (in *inputInst) bufferedNow() int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.buffered
}

// appendFile is appendEntries for a filesystem input: the records go into the tag's open
// chunk in memory and, as one frame, into its file. It never waits for memory: over
// mem_buf_limit, open chunks are sealed and put down to disk instead. With sync full it
// returns once the frame is fsynced. With cp (not nil), the checkpoint goes into the
// same frame (CheckpointEmitter), in a version 2 chunk.
//
// The open chunk's buffer comes from the engine's pool, reserved from the memory budget
// like a memory chunk's (off the Go heap); when the budget has no room it grows on the
// heap, counted over the budget, rather than wait: the chunk goes down to disk soon.
func (in *inputInst) appendFile(tag string, n, size int, enc func([]byte) ([]byte, error), cp []Checkpoint) error {
	e := in.e
	in.mu.Lock()
	if e.state.Load() >= stateStopping {
		in.mu.Unlock()
		return ErrStopped
	}
	var sealed []*chunk
	c := in.open[tag]
	if c != nil && cp != nil && !c.file.Checkpointed() {
		// A version 1 chunk takes no checkpoint: it goes, a version 2 one follows.
		delete(in.open, tag)
		if c.Records > 0 {
			sealed = append(sealed, c)
		} else {
			_ = c.file.Remove()
			e.bufs.put(c)
		}
		c = nil
	}
	if c == nil {
		create := e.store.Create
		if cp != nil {
			create = e.store.CreateCheckpointed
		}
		f, err := create(in.name, tag)
		if err != nil {
			in.mu.Unlock()
			in.dispatchAll(sealed)
			return in.storageFailed(err)
		}
		c = &chunk{Chunk: Chunk{Tag: tag}, in: in, file: f, e: e, created: time.Now()}
		in.open[tag] = c
	}
	if need := len(c.Data) + max(size, 512); need > cap(c.Data) {
		var none int64
		e.bufs.grow(c, need, e.opts.ChunkLimit, &none)
	}
	before := len(c.Data)
	oldCap := cap(c.Data)
	data, err := enc(c.Data)
	if cap(data) != oldCap {
		e.bufs.regrown(c, oldCap, cap(data))
	}
	if err != nil {
		c.Data = data[:before]
		in.mu.Unlock()
		in.dispatchAll(sealed)
		return fmt.Errorf("pipeline: encode record for %q: %w", tag, err)
	}
	var werr error
	if cp != nil {
		werr = c.file.AppendCheckpoint(data[before:], n, cp)
	} else {
		werr = c.file.Append(data[before:], n)
	}
	if werr != nil {
		c.Data = data[:before]
		if c.file.Broken() {
			delete(in.open, tag)
			if c.Records > 0 {
				sealed = append(sealed, c)
			} else {
				_ = c.file.Remove()
				e.bufs.put(c)
			}
		}
		in.mu.Unlock()
		in.dispatchAll(sealed)
		return in.storageFailed(werr)
	}
	c.Data = data
	c.Records += n
	in.records.Add(uint64(n)) // with the append, as appendEntries does
	added := int64(len(data) - before)
	in.buffered += added
	in.bytes.Add(uint64(added))
	file, syncTo := c.file, c.file.Size()
	if len(c.Data) >= e.opts.ChunkLimit {
		delete(in.open, tag)
		sealed = append(sealed, c)
	}
	if in.limit > 0 && in.buffered >= in.limit {
		// Over mem_buf_limit: what is open goes down to disk rather than pausing the input.
		sealed = append(sealed, in.sealAllLocked()...)
	}
	in.mu.Unlock()
	in.dispatchAll(sealed)
	if e.opts.Storage.Sync == SyncFull {
		if err := file.SyncTo(syncTo); err != nil {
			return in.storageFailed(err)
		}
	}
	return nil
}

// storageFailed notes a failed chunk write: the input reports Paused for a second, so a
// listener refuses work (HTTP 503) instead of accepting what it cannot keep.
func (in *inputInst) storageFailed(err error) error {
	prev := in.storageErrAt.Swap(time.Now().UnixNano())
	if prev == 0 || time.Since(time.Unix(0, prev)) > 10*time.Second {
		in.log.Error("storage: cannot write records to disk; refusing them until it can", "err", err)
	}
	return fmt.Errorf("%w: %w", ErrStorage, err)
}

// readBack reads a chunk that is down from its file for one flush. A chunk that cannot be
// read at all is given up for this output (counted as dropped): no retry would help.
func (o *outputInst) readBack(t *task) (*Chunk, bool) {
	c := t.c
	data, n, dmg, err := c.file.ReadAll()
	if err != nil {
		o.errors.Add(1)
		o.droppedRecords.Add(uint64(c.Records))
		o.log.Error("storage: cannot read a chunk back; dropped for this output", "tag", c.Tag, "records", c.Records, "err", err)
		o.finish(t)
		return nil, false
	}
	if dmg.SkippedFrames > 0 || dmg.CutBytes > 0 {
		o.log.Warn("storage: chunk damaged on disk; sending the records that check out",
			"tag", c.Tag, "file", c.file.Path(), "damage", dmg.String(), "records", n, "of", c.Records)
		if n < c.Records {
			o.droppedRecords.Add(uint64(c.Records - n))
		}
	}
	return &Chunk{Tag: c.Tag, Data: data, Records: n}, true
}

// overLimitLocked counts t against storage.total_limit_size and, when the output is over
// it, takes its oldest waiting chunks (queued or waiting for a retry; never one being
// flushed) off the queue and returns them to be dropped.
func (o *outputInst) overLimitLocked(t *task) []*task {
	if o.totalLimit <= 0 || t.c.file == nil {
		return nil
	}
	t.size = t.c.file.Size()
	o.owed += t.size
	var dropped []*task
	for o.owed > o.totalLimit {
		var oldest *task
		qi := -1
		for i, q := range o.queue {
			if q.size > 0 && (oldest == nil || q.c.seq < oldest.c.seq) {
				oldest, qi = q, i
			}
		}
		for r := range o.retrying {
			if r.size > 0 && (oldest == nil || r.c.seq < oldest.c.seq) {
				oldest, qi = r, -1
			}
		}
		if oldest == nil {
			break // everything else is being flushed: over by at most a chunk per worker
		}
		if qi >= 0 {
			o.queue = append(o.queue[:qi], o.queue[qi+1:]...)
		} else {
			o.retrying[oldest].Stop()
			delete(o.retrying, oldest)
		}
		o.owed -= oldest.size
		dropped = append(dropped, oldest)
	}
	return dropped
}

// StorageMetrics is a snapshot of filesystem storage, for the monitoring API's
// /api/v1/storage.
type StorageMetrics struct {
	Enabled    bool   // storage.path is set
	Path       string // storage.path
	Sync       string // storage.sync
	Chunks     int    // filesystem chunks owed to some output (backlog included)
	ChunksUp   int    // of those, held in memory
	ChunksDown int    // of those, on disk only (read back when their turn comes)
	Fsyncs     uint64 // fsyncs made since start
}

// StorageMetrics returns a snapshot of filesystem storage. Open chunks (still being
// appended to) are not counted.
func (e *Engine) StorageMetrics() StorageMetrics {
	if e.store == nil {
		return StorageMetrics{Path: e.opts.Storage.Path, Sync: e.opts.Storage.Sync}
	}
	m := StorageMetrics{Enabled: true, Path: e.store.Dir(), Sync: e.opts.Storage.Sync, Fsyncs: e.store.Fsyncs()}
	e.liveMu.Lock()
	for c := range e.live {
		if c.file == nil {
			continue
		}
		m.Chunks++
		if c.down {
			m.ChunksDown++
		} else {
			m.ChunksUp++
		}
	}
	e.liveMu.Unlock()
	return m
}
