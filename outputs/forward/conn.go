package forward

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/fluentbit-go/fluentbit-go/forward"
	"github.com/fluentbit-go/fluentbit-go/upstream"
)

// pool holds the idle connections to one node.
type pool struct {
	o         *Output
	node      upstream.Node
	sec       Security
	network   string
	addr      string
	hostname  string // self_hostname for the handshake
	handshake bool
	tls       *tls.Config

	mu   sync.Mutex
	idle []*conn
}

type conn struct {
	nc        net.Conn
	dec       *forward.Decoder
	uses      int
	idleSince time.Time
	keepalive bool // the server's HELO allows reuse (true without a handshake)
}

// responseLimits bound what the output reads from a server: HELO, PONG and acks are small.
var responseLimits = forward.Limits{ChunkSize: 4096, MaxSize: 64 << 10}

func (p *pool) get(ctx context.Context) (*conn, error) {
	for {
		p.mu.Lock()
		if len(p.idle) == 0 {
			p.mu.Unlock()
			return p.dial(ctx)
		}
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		p.mu.Unlock()
		if time.Since(c.idleSince) > p.o.KeepaliveIdle || !alive(c.nc) {
			_ = c.nc.Close()
			continue
		}
		return c, nil
	}
}

// alive reports whether an idle connection still looks open, so a chunk is not written
// into a connection the server has closed (without acks it would be lost). A plain
// connection with bytes waiting is not: the server said something unasked. A TLS one may
// hold records the server sends after the handshake (TLS 1.3 session tickets, or a
// close_notify): a short read processes them and tells which.
func alive(nc net.Conn) bool {
	closed, pending := peek(nc)
	if closed {
		return false
	}
	if !pending {
		return true
	}
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return false
	}
	var b [1]byte
	_ = tc.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
	n, err := tc.Read(b[:])
	var ne net.Error
	if n == 0 && errors.As(err, &ne) && ne.Timeout() {
		_ = tc.SetReadDeadline(time.Time{})
		return true
	}
	return false
}

func (p *pool) put(c *conn) {
	if !p.o.Keepalive || !c.keepalive || (p.o.KeepaliveMaxRecycle > 0 && c.uses >= p.o.KeepaliveMaxRecycle) {
		_ = c.nc.Close()
		return
	}
	c.idleSince = time.Now()
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

func (p *pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.nc.Close()
	}
}

func (p *pool) dial(ctx context.Context) (*conn, error) {
	d := net.Dialer{Timeout: p.o.ConnectTimeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, p.network, p.addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if p.tls != nil {
		tc := tls.Client(nc, p.tls)
		hctx, cancel := context.WithTimeout(ctx, p.o.ConnectTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	c := &conn{nc: nc, dec: forward.NewDecoder(nc, responseLimits), keepalive: true}
	if p.handshake {
		if p.o.IOTimeout > 0 {
			_ = nc.SetDeadline(time.Now().Add(p.o.IOTimeout))
		}
		stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
		helo, err := forward.ClientHandshake(nc, c.dec, forward.ClientAuth{
			SharedKey: p.sec.SharedKey, Hostname: p.hostname, Username: p.sec.Username, Password: p.sec.Password,
		})
		if !stop() || err != nil {
			_ = nc.Close()
			if err == nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("handshake: %w", err)
		}
		_ = nc.SetDeadline(time.Time{})
		c.keepalive = helo.Keepalive
	}
	return c, nil
}

// deliver sends one message of n entries on a connection to the node and, with acks,
// waits for its ack.
func (p *pool) deliver(ctx context.Context, tag string, data []byte, n int) error {
	c, err := p.get(ctx)
	if err != nil {
		return fmt.Errorf("forward: %s: %w", p.addr, err)
	}
	p.o.busy.Add(1)
	defer p.o.busy.Add(-1)
	if err := p.exchange(ctx, c, tag, data, n); err != nil {
		_ = c.nc.Close()
		return fmt.Errorf("forward: %s: %w", p.addr, err)
	}
	c.uses++
	p.put(c)
	return nil
}

func (p *pool) exchange(ctx context.Context, c *conn, tag string, data []byte, n int) error {
	o := p.o
	buf := getBuf()
	defer putBuf(buf)
	msg := (*buf)[:0]

	var chunkID string
	if o.RequireAck {
		var id [16]byte
		if _, err := rand.Read(id[:]); err != nil {
			return fmt.Errorf("chunk id: %w", err)
		}
		chunkID = base64.StdEncoding.EncodeToString(id[:])
	}
	if o.options {
		msg = msgp.AppendArrayHeader(msg, 3)
	} else {
		msg = msgp.AppendArrayHeader(msg, 2)
	}
	msg = msgp.AppendString(msg, tag)
	payload := data
	switch {
	case o.gzip:
		msg = appendGzipBin(msg, data)
		payload = nil
	case o.packed:
		msg = msgp.AppendBytesHeader(msg, uint32(len(data)))
	default:
		msg = msgp.AppendArrayHeader(msg, uint32(n))
	}
	head := len(msg)
	if o.options {
		msg = o.appendOptions(msg, n, chunkID)
	}
	bufs := net.Buffers{msg[:head], payload, msg[head:]}

	if o.IOTimeout > 0 {
		_ = c.nc.SetDeadline(time.Now().Add(o.IOTimeout))
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Now()) })
	err := p.roundTrip(c, &bufs, chunkID)
	if !stop() {
		// ctx ended during the exchange: the deadline was cut short, so the connection
		// may be half-way through a message.
		return errors.Join(ctx.Err(), err)
	}
	if err != nil {
		return err
	}
	return c.nc.SetDeadline(time.Time{})
}

func (p *pool) roundTrip(c *conn, bufs *net.Buffers, chunkID string) error {
	if _, err := bufs.WriteTo(c.nc); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if chunkID == "" {
		return nil
	}
	raw, err := c.dec.ReadRaw()
	if err != nil {
		return fmt.Errorf("waiting for ack: %w", err)
	}
	ack, err := forward.ParseAck(raw)
	if err != nil {
		return err
	}
	if ack != chunkID {
		return fmt.Errorf("ack for chunk %q, want %q", ack, chunkID)
	}
	return nil
}

// appendOptions appends the option map as Fluent Bit writes it: a map32, with chunk
// (when acks are asked), size, compressed (when gzipped) and fluent_signal 0 (logs), in
// that order, then add_option's keys.
func (o *Output) appendOptions(dst []byte, n int, chunkID string) []byte {
	count := 2 + len(o.extraOpt)
	if chunkID != "" {
		count++
	}
	if o.gzip {
		count++
	}
	dst = append(dst, 0xdf, byte(count>>24), byte(count>>16), byte(count>>8), byte(count))
	if chunkID != "" {
		dst = msgp.AppendString(dst, "chunk")
		dst = msgp.AppendString(dst, chunkID)
	}
	dst = msgp.AppendString(dst, "size")
	dst = msgp.AppendInt(dst, n)
	if o.gzip {
		dst = msgp.AppendString(dst, "compressed")
		dst = msgp.AppendString(dst, "gzip")
	}
	dst = msgp.AppendString(dst, "fluent_signal")
	dst = msgp.AppendInt(dst, 0)
	for _, kv := range o.extraOpt {
		dst = msgp.AppendString(dst, kv[0])
		dst = msgp.AppendString(dst, kv[1])
	}
	return dst
}

var gzipWriters = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

// appendGzipBin appends data gzipped, as a bin32.
func appendGzipBin(dst, data []byte) []byte {
	at := len(dst)
	dst = append(dst, 0xc6, 0, 0, 0, 0)
	w := bytes.NewBuffer(dst)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(w)
	_, _ = zw.Write(data) // a bytes.Buffer does not fail
	_ = zw.Close()
	zw.Reset(nil)
	gzipWriters.Put(zw)
	dst = w.Bytes()
	n := len(dst) - at - 5
	dst[at+1], dst[at+2], dst[at+3], dst[at+4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return dst
}

// maxPooled is the largest buffer kept for reuse.
const maxPooled = 8 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}
