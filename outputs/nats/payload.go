package nats

import (
	"sync"

	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/outputs/internal/render"
)

// appendRecord writes one event as Fluent Bit's nats output does: [time, record], the time
// a float of seconds ("%.16g", a whole number with ".0"), the record a JSON object led by
// "tag": tagJSON unless the record has a "tag" key of its own. Metadata is left out, as
// Fluent Bit leaves it out.
func appendRecord(dst []byte, ev *event.Event, tagJSON []byte) []byte {
	dst = append(dst, '[')
	dst = render.AppendDouble(dst, render.TimeDouble(ev.Time))
	dst = append(dst, ',', '{')
	if _, has := ev.Record.Get("tag"); !has {
		dst = append(dst, `"tag":`...)
		dst = append(dst, tagJSON...)
		if len(ev.Record) > 0 {
			dst = append(dst, ',')
		}
	}
	dst = render.AppendMembers(dst, ev.Record)
	return append(dst, '}', ']')
}

// batcher gathers the records of one chunk into messages: one JSON array of records per
// subject, a new message whenever the next record would take it past limit bytes. Which
// records go into which message, and the order messages are published in, depend only on
// the chunk's content and limit, so a retried chunk gets the same messages with the same
// indexes (its Nats-Msg-Ids).
type batcher struct {
	limit   int
	tag     string
	publish func(subject string, data []byte) error
	// reuse says publish copied the data (core NATS): one buffer serves every message.
	// JetStream keeps each message until it is acknowledged.
	reuse bool
	// hint is the capacity a message buffer starts with (about the whole chunk as JSON,
	// within limit): growing a buffer of megabytes by appends cost a third of the CPU.
	hint int
	// pool, when set, lends message buffers; used collects those handed out, for the
	// caller to give back once no publish holds them.
	pool *sync.Pool
	used []*[]byte

	tagJSON []byte
	rec     []byte
	last    *batch // the batch of the previous record: most chunks have one subject
	byName  map[string]*batch
	order   []*batch // in the order subjects first appeared
}

type batch struct {
	subject string
	buf     []byte
	n       int
}

// add appends ev to its subject's message. fits is false when the record alone is larger
// than a message may be (it is left out); err is a failed publish of a full message.
func (b *batcher) add(subject string, ev *event.Event) (fits bool, err error) {
	if b.tagJSON == nil {
		b.tagJSON = event.AppendJSON(nil, b.tag)
	}
	// The record is written straight into its message; only when it turns out not to fit
	// is it copied aside, to open the next message.
	bt := b.get(subject)
	if bt.buf == nil {
		bt.buf = b.newBuf()
	}
	mark := len(bt.buf)
	if bt.n == 0 {
		bt.buf = append(bt.buf[:0], '[')
		mark = 0
	} else {
		bt.buf = append(bt.buf, ',')
	}
	bt.buf = appendRecord(bt.buf, ev, b.tagJSON)
	rec := bt.buf[mark+1:]
	if len(rec)+2 > b.limit {
		bt.buf = bt.buf[:mark]
		return false, nil
	}
	if len(bt.buf)+1 <= b.limit {
		bt.n++
		return true, nil
	}
	// Not with the others (bt.n > 0 here: alone it fits): publish them, then start anew.
	b.rec = append(b.rec[:0], rec...)
	bt.buf = bt.buf[:mark]
	err = b.emit(bt)
	if bt.buf == nil {
		bt.buf = b.newBuf()
	}
	bt.buf = append(append(bt.buf[:0], '['), b.rec...)
	bt.n = 1
	return true, err
}

func (b *batcher) get(subject string) *batch {
	if b.last != nil && b.last.subject == subject {
		return b.last
	}
	if b.byName == nil {
		b.byName = map[string]*batch{}
	}
	bt := b.byName[subject]
	if bt == nil {
		bt = &batch{subject: subject}
		b.byName[subject] = bt
		b.order = append(b.order, bt)
	}
	b.last = bt
	return bt
}

// newBuf returns an empty buffer of at least hint bytes, from the pool when there is one.
func (b *batcher) newBuf() []byte {
	if b.pool != nil {
		if p, ok := b.pool.Get().(*[]byte); ok && cap(*p) >= b.hint {
			b.used = append(b.used, p)
			return (*p)[:0]
		}
	}
	buf := make([]byte, 0, b.hint)
	if b.pool != nil {
		b.used = append(b.used, &buf)
	}
	return buf
}

// release gives the buffers handed out back to the pool: call it only when no publish
// holds them any more.
func (b *batcher) release() {
	for _, p := range b.used {
		*p = (*p)[:0]
		b.pool.Put(p)
	}
	b.used = nil
}

// emit publishes bt's message and empties it.
func (b *batcher) emit(bt *batch) error {
	bt.buf = append(bt.buf, ']')
	err := b.publish(bt.subject, bt.buf)
	bt.n = 0
	if b.reuse {
		bt.buf = bt.buf[:0]
	} else {
		bt.buf = nil
	}
	return err
}

// close publishes the messages not yet full, in the order their subjects first appeared.
func (b *batcher) close() error {
	for _, bt := range b.order {
		if bt.n > 0 {
			if err := b.emit(bt); err != nil {
				return err
			}
		}
	}
	return nil
}
