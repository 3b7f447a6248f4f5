package forward

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/tinylib/msgp/msgp"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
	"github.com/fluentbit-go/fluentbit-go/upstream"
)

// span is one entry of a chunk and the hash of its key.
type span struct {
	start, end int
	hash       uint64
}

// flushHashed splits a chunk by the node each record's key hashes to, sends each part to
// its node, and moves the records of a node that fails to the next node on the ring.
// splitState is the scratch space of one hashed flush, pooled.
type splitState struct {
	spans   []span
	pending []int
	failed  []int
	groups  map[int][]int
	kb      []byte
}

var splitStates = sync.Pool{New: func() any { return &splitState{groups: map[int][]int{}} }}

func (o *Output) flushHashed(ctx context.Context, plan *upstream.Plan, tag string, data []byte, n int) error {
	st := splitStates.Get().(*splitState)
	defer func() {
		if cap(st.spans) <= 1<<16 {
			splitStates.Put(st)
		}
	}()
	spans := st.spans[:0]
	kb := st.kb[:0]
	for off := 0; off < len(data); {
		rest, err := event.SkipEntry(data[off:])
		if err != nil {
			o.log.Warn("damaged entries left out of chunk", "tag", tag, "error", err)
			break
		}
		end := len(data) - len(rest)
		var h uint64
		kb, h = o.hashEntry(kb[:0], data[off:end])
		spans = append(spans, span{start: off, end: end, hash: h})
		off = end
	}
	st.spans, st.kb = spans, kb
	pending := st.pending[:0]
	for i := range spans {
		pending = append(pending, i)
	}
	var errs []error
	groups := st.groups
	buf := getBuf()
	defer putBuf(buf)
	for len(pending) > 0 {
		for k, v := range groups {
			groups[k] = v[:0]
		}
		for _, i := range pending {
			node := plan.NodeFor(spans[i].hash)
			if node < 0 {
				return pipeline.Retry(errors.Join(errs...))
			}
			groups[node] = append(groups[node], i)
		}
		var nodesBuf [16]int
		nodes := nodesBuf[:0]
		for node, idx := range groups {
			if len(idx) > 0 {
				nodes = append(nodes, node)
			}
		}
		slices.Sort(nodes)
		failed := st.failed[:0]
		for _, node := range nodes {
			idx := groups[node]
			part := data
			if len(idx) != len(spans) {
				// Only part of the chunk goes to this node: copy its entries.
				*buf = (*buf)[:0]
				for _, i := range idx {
					*buf = append(*buf, data[spans[i].start:spans[i].end]...)
				}
				part = *buf
			}
			if err := o.send(ctx, node, tag, part, len(idx)); err != nil {
				errs = append(errs, err)
				if ctx.Err() != nil {
					return pipeline.Retry(errors.Join(errs...))
				}
				plan.Exclude(node)
				failed = append(failed, idx...)
			}
		}
		slices.Sort(failed)
		// The failed list becomes the pending one; the old pending slice is reused.
		st.failed, pending = pending, failed
	}
	st.pending = pending
	return nil
}

// hashEntry returns the ring hash of an entry's key value. A plain top-level key is found
// by walking the record's msgpack without decoding it; a nested accessor decodes the entry.
func (o *Output) hashEntry(kb, entry []byte) ([]byte, uint64) {
	if o.hashKey.Nested() {
		ev, _, err := event.ReadEntry(entry)
		if err == nil {
			if v, ok := o.hashKey.Get(ev.Record); ok {
				kb = keyBytes(kb, v)
			}
		}
		return kb, upstream.HashKey(kb)
	}
	rec, err := skipTime(entry)
	if err != nil {
		return kb, upstream.HashKey(kb)
	}
	want := o.hashKey.Key()
	sz, b, err := msgp.ReadMapHeaderBytes(rec)
	if err != nil {
		return kb, upstream.HashKey(kb)
	}
	for i := uint32(0); i < sz; i++ {
		var k []byte
		if msgp.NextType(b) == msgp.StrType {
			k, b, err = msgp.ReadStringZC(b)
		} else {
			k, b, err = msgp.ReadBytesZC(b)
		}
		if err != nil {
			break
		}
		if string(k) != want {
			if b, err = msgp.Skip(b); err != nil {
				break
			}
			continue
		}
		switch msgp.NextType(b) {
		case msgp.StrType:
			v, _, err := msgp.ReadStringZC(b)
			if err == nil {
				kb = append(kb, v...)
			}
		case msgp.BinType:
			v, _, err := msgp.ReadBytesZC(b)
			if err == nil {
				kb = append(kb, v...)
			}
		default:
			v, _, err := event.ReadValue(b)
			if err == nil {
				kb = keyBytes(kb, v)
			}
		}
		break
	}
	return kb, upstream.HashKey(kb)
}
