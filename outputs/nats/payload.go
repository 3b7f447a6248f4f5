package nats

import (
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
	b.rec = appendRecord(b.rec[:0], ev, b.tagJSON)
	if len(b.rec)+2 > b.limit {
		return false, nil
	}
	bt := b.get(subject)
	if bt.n > 0 && len(bt.buf)+1+len(b.rec)+1 > b.limit {
		if err := b.emit(bt); err != nil {
			return true, err
		}
	}
	if bt.n == 0 {
		bt.buf = append(bt.buf[:0], '[')
	} else {
		bt.buf = append(bt.buf, ',')
	}
	bt.buf = append(bt.buf, b.rec...)
	bt.n++
	return true, nil
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
