package pipeline

// This file is how one engine hands over to the next in a configuration reload, without
// closing the inputs for longer than it takes to start the new ones:
//
//	old.StopInputs()      // no record is taken any more; open chunks go to the outputs
//	next.ShareStorage(old) // same storage.path: next uses old's store, loads no backlog
//	next.Start(ctx)        // its inputs take the listeners old released (internal/handoff)
//	left := old.Stop(ctx)  // in the background: old's outputs deliver within grace
//	next.Adopt(left)       // what old could not deliver, memory and disk chunks alike
//
// The two engines run side by side during old's grace: old only delivers, next takes and
// delivers new records.

// StopInputs stops the engine taking records: inputs stop (listeners are released),
// emitters return ErrStopped, and open chunks are sealed and handed to the outputs, which
// go on delivering until Stop. It returns false when the engine was not running.
func (e *Engine) StopInputs() bool {
	if !e.state.CompareAndSwap(stateRunning, stateStopping) {
		return false
	}
	// Wake emitters blocked by backpressure: they return ErrStopped.
	for _, in := range e.inputs {
		in.mu.Lock()
		in.cond.Broadcast()
		in.mu.Unlock()
	}
	e.inCancel()
	e.budgetCancel() // emitters waiting for memory return ErrStopped
	e.inWG.Wait()
	close(e.tickStop)
	e.tickWG.Wait()
	// Inputs emit until they see their context end; other emitters (Agent.Push, a
	// filter's emitter) may go on. From here every append is refused, and FlushAll takes
	// each input's lock after that: a record appended before is sealed by it.
	e.sealed.Store(true)
	e.FlushAll()
	e.inputsStopped.Store(true)
	return true
}

// ShareStorage makes e, not yet started, use prev's filesystem store when both have the
// same storage.path: prev keeps delivering the chunks it holds while e takes new records
// into the same directory. e then loads no backlog at Start (the backlog is prev's,
// handed over by prev's Stop and e's Adopt) and leaves closing the store to whichever
// engine owns it last. It reports whether the store is shared.
func (e *Engine) ShareStorage(prev *Engine) bool {
	if e.state.Load() != stateNew || prev.store == nil || e.opts.Storage.Path == "" ||
		e.opts.Storage.Path != prev.opts.Storage.Path {
		return false
	}
	e.store = prev.store
	e.sharedFrom = prev
	prev.storeLent.Store(true)
	return true
}

// handOverDisk returns c, a filesystem chunk still owed when e stops, as a Chunk for the
// engine that took e's store: it is read back from its file when its turn comes.
func (c *chunk) handOverDisk() *Chunk {
	return &Chunk{Tag: c.Tag, Records: c.Records, file: c.file}
}

// adoptFile dispatches a filesystem chunk another engine left to the outputs of e that
// match its tag and have not delivered it yet (its acks file names those that have).
// It returns false when no output of e matches the tag.
func (e *Engine) adoptFile(c *Chunk) bool {
	all := e.route(c.Tag).outputs
	if len(all) == 0 {
		return false
	}
	acked := c.file.Acked()
	var owed []*outputInst
	for _, o := range all {
		if !acked[o.name] {
			owed = append(owed, o)
		}
	}
	if len(owed) == 0 {
		if err := c.file.Remove(); err != nil {
			e.log.Warn("storage: cannot remove a delivered chunk", "err", err)
		}
		return true
	}
	e.dispatchTo(&chunk{Chunk: Chunk{Tag: c.Tag, Records: c.Records}, file: c.file, e: e, down: true}, owed)
	return true
}

// OnDisk reports whether c is a filesystem chunk handed over by a stopping engine (its
// records are in its file, not in Data).
func (c *Chunk) OnDisk() bool { return c.file != nil }
