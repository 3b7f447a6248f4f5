// Package forward is the Fluentd Forward Protocol Specification v1, as both the forward
// input and the forward output speak it: the codec for the four carrier modes (Message,
// Forward, PackedForward, CompressedPackedForward), the options (size, chunk,
// compressed), the ack response, and the handshake (HELO, PING, PONG) with shared key and
// username/password, for both sides.
//
// Entries are never re-encoded: decoding hands back the entries exactly as the client
// encoded them, concatenated in the form chunks hold them (package event), so they can go
// into the buffer and out again as they came — Fluent Bit's v2 entries [[time, metadata],
// record] included. Encoding copies a chunk's bytes into a PackedForward (or gzipped)
// message.
//
// The Decoder reads a stream with bounded memory: its buffer grows by Limits.ChunkSize
// and never past Limits.MaxSize, and a message whose declared length or element count
// cannot fit is refused as soon as the declaration is read. Gzip payloads are bounded by
// Limits.MaxDecompressed.
//
// The package knows nothing of connections, TLS or the pipeline: the plugins do.
package forward
