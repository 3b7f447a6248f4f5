package forward

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/tinylib/msgp/msgp"
)

// Helo is the server's first message when it requires authentication:
// ["HELO", {"nonce": nonce, "auth": salt, "keepalive": bool}]. Auth is empty when the
// server does not ask for a username and password.
type Helo struct {
	Nonce     []byte
	Auth      []byte
	Keepalive bool
}

// Ping is the client's answer to HELO:
// ["PING", hostname, shared_key_salt, sha512_hex(shared_key_salt + hostname + nonce +
// shared_key), username, sha512_hex(auth_salt + username + password)]. Username and
// PasswordDigest are empty when the server asked for no user authentication.
type Ping struct {
	Hostname        string
	SharedKeySalt   []byte
	SharedKeyDigest string
	Username        string
	PasswordDigest  string
}

// Pong is the server's verdict: ["PONG", auth_result, reason, hostname,
// sha512_hex(shared_key_salt + hostname + nonce + shared_key)], where hostname is the
// server's and the salt the client's.
type Pong struct {
	AuthResult      bool
	Reason          string
	Hostname        string
	SharedKeyDigest string
}

// SharedKeyDigest is sha512_hex(salt + hostname + nonce + sharedKey), the digest both PING
// and PONG carry.
func SharedKeyDigest(salt []byte, hostname string, nonce []byte, sharedKey string) string {
	h := sha512.New()
	h.Write(salt)
	h.Write([]byte(hostname))
	h.Write(nonce)
	h.Write([]byte(sharedKey))
	return hex.EncodeToString(h.Sum(nil))
}

// PasswordDigest is sha512_hex(authSalt + username + password).
func PasswordDigest(authSalt []byte, username, password string) string {
	h := sha512.New()
	h.Write(authSalt)
	h.Write([]byte(username))
	h.Write([]byte(password))
	return hex.EncodeToString(h.Sum(nil))
}

// AppendHelo appends a HELO message.
func AppendHelo(dst []byte, h Helo) []byte {
	dst = msgp.AppendArrayHeader(dst, 2)
	dst = msgp.AppendString(dst, "HELO")
	dst = msgp.AppendMapHeader(dst, 3)
	// As str, as Fluent Bit sends them; both ends read str and bin alike.
	dst = msgp.AppendString(dst, "nonce")
	dst = msgp.AppendStringFromBytes(dst, h.Nonce)
	dst = msgp.AppendString(dst, "auth")
	dst = msgp.AppendStringFromBytes(dst, h.Auth)
	dst = msgp.AppendString(dst, "keepalive")
	return msgp.AppendBool(dst, h.Keepalive)
}

// AppendPing appends a PING message.
func AppendPing(dst []byte, p Ping) []byte {
	dst = msgp.AppendArrayHeader(dst, 6)
	dst = msgp.AppendString(dst, "PING")
	dst = msgp.AppendString(dst, p.Hostname)
	dst = msgp.AppendStringFromBytes(dst, p.SharedKeySalt) // Fluent Bit refuses a bin here
	dst = msgp.AppendString(dst, p.SharedKeyDigest)
	dst = msgp.AppendString(dst, p.Username)
	return msgp.AppendString(dst, p.PasswordDigest)
}

// AppendPong appends a PONG message.
func AppendPong(dst []byte, p Pong) []byte {
	dst = msgp.AppendArrayHeader(dst, 5)
	dst = msgp.AppendString(dst, "PONG")
	dst = msgp.AppendBool(dst, p.AuthResult)
	dst = msgp.AppendString(dst, p.Reason)
	dst = msgp.AppendString(dst, p.Hostname)
	return msgp.AppendString(dst, p.SharedKeyDigest)
}

func readVerb(raw []byte, verb string, min, max uint32) ([]byte, uint32, error) {
	n, b, err := msgp.ReadArrayHeaderBytes(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("forward: %s: not an array: %w", verb, wrap(err))
	}
	if n < min || n > max {
		return nil, 0, fmt.Errorf("forward: %s: an array of %d, want %d to %d", verb, n, min, max)
	}
	v, b, err := readStr(b)
	if err != nil || v != verb {
		return nil, 0, fmt.Errorf("forward: want %s, got %q", verb, v)
	}
	return b, n, nil
}

// ParseHelo decodes a HELO message. Unknown option keys are ignored.
func ParseHelo(raw []byte) (Helo, error) {
	var h Helo
	b, _, err := readVerb(raw, "HELO", 2, 2)
	if err != nil {
		return h, err
	}
	if kind(b) != kindMap {
		return h, errors.New("forward: HELO: options are not a map")
	}
	n, b, err := msgp.ReadMapHeaderBytes(b)
	if err != nil {
		return h, fmt.Errorf("forward: HELO: %w", wrap(err))
	}
	for i := uint32(0); i < n; i++ {
		var key string
		if key, b, err = readStr(b); err != nil {
			return h, fmt.Errorf("forward: HELO key: %w", err)
		}
		var v []byte
		switch key {
		case "nonce", "auth":
			if v, b, err = readBytesZC(b); err != nil {
				return h, fmt.Errorf("forward: HELO %s: %w", key, err)
			}
			v = append([]byte(nil), v...)
			if key == "nonce" {
				h.Nonce = v
			} else {
				h.Auth = v
			}
		case "keepalive":
			if h.Keepalive, b, err = readBool(b); err != nil {
				return h, fmt.Errorf("forward: HELO keepalive: %w", err)
			}
		default:
			if b, err = skipN(b, 1); err != nil {
				return h, fmt.Errorf("forward: HELO: %w", err)
			}
		}
	}
	if len(h.Nonce) == 0 {
		return h, errors.New("forward: HELO without a nonce")
	}
	return h, nil
}

// ParsePing decodes a PING message.
func ParsePing(raw []byte) (Ping, error) {
	var p Ping
	b, _, err := readVerb(raw, "PING", 6, 6)
	if err != nil {
		return p, err
	}
	var salt []byte
	if p.Hostname, b, err = readStr(b); err == nil {
		if salt, b, err = readBytesZC(b); err == nil {
			p.SharedKeySalt = append([]byte(nil), salt...)
			if p.SharedKeyDigest, b, err = readStr(b); err == nil {
				if p.Username, b, err = readStr(b); err == nil {
					p.PasswordDigest, _, err = readStr(b)
				}
			}
		}
	}
	if err != nil {
		return p, fmt.Errorf("forward: PING: %w", err)
	}
	return p, nil
}

// ParsePong decodes a PONG message.
func ParsePong(raw []byte) (Pong, error) {
	var p Pong
	b, _, err := readVerb(raw, "PONG", 5, 5)
	if err != nil {
		return p, err
	}
	if p.AuthResult, b, err = readBool(b); err == nil {
		if p.Reason, b, err = readStr(b); err == nil {
			if p.Hostname, b, err = readStr(b); err == nil {
				p.SharedKeyDigest, _, err = readStr(b)
			}
		}
	}
	if err != nil {
		return p, fmt.Errorf("forward: PONG: %w", err)
	}
	return p, nil
}

// ServerAuth is what a server checks in the handshake.
type ServerAuth struct {
	SharedKey string            // may be empty (Fluent Bit's empty_shared_key)
	Hostname  string            // the server's self_hostname, sent in PONG
	Users     map[string]string // username -> password; none: no user authentication
	Keepalive bool              // HELO's keepalive
	Rand      io.Reader         // nonce and salt source; nil: crypto/rand
}

// ErrAuth is wrapped by handshake errors that are authentication failures (a wrong shared
// key, user or password), as opposed to protocol or network faults.
var ErrAuth = errors.New("forward: authentication failed")

// ServerHandshake runs the server's side on a new connection: it sends HELO, reads PING
// with dec, checks the shared key digest and the user, and answers PONG. A failed check
// is answered with a PONG saying why (auth_result false) and returned as an error
// wrapping ErrAuth; the caller closes the connection. It returns the client's PING.
func ServerHandshake(w io.Writer, dec *Decoder, a ServerAuth) (Ping, error) {
	rnd := a.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	helo := Helo{Nonce: make([]byte, 16), Keepalive: a.Keepalive}
	if _, err := io.ReadFull(rnd, helo.Nonce); err != nil {
		return Ping{}, fmt.Errorf("forward: nonce: %w", err)
	}
	if len(a.Users) > 0 {
		helo.Auth = make([]byte, 16)
		if _, err := io.ReadFull(rnd, helo.Auth); err != nil {
			return Ping{}, fmt.Errorf("forward: auth salt: %w", err)
		}
	}
	if _, err := w.Write(AppendHelo(nil, helo)); err != nil {
		return Ping{}, fmt.Errorf("forward: send HELO: %w", err)
	}
	raw, err := dec.ReadRaw()
	if err != nil {
		return Ping{}, fmt.Errorf("forward: read PING: %w", err)
	}
	ping, err := ParsePing(raw)
	if err != nil {
		return ping, err
	}
	reason := ""
	want := SharedKeyDigest(ping.SharedKeySalt, ping.Hostname, helo.Nonce, a.SharedKey)
	if subtle.ConstantTimeCompare([]byte(want), []byte(ping.SharedKeyDigest)) != 1 {
		reason = "shared_key mismatch"
	} else if len(a.Users) > 0 {
		pass, ok := a.Users[ping.Username]
		wantPw := PasswordDigest(helo.Auth, ping.Username, pass)
		if !ok || subtle.ConstantTimeCompare([]byte(wantPw), []byte(ping.PasswordDigest)) != 1 {
			reason = "username/password mismatch"
		}
	}
	pong := Pong{AuthResult: reason == "", Reason: reason, Hostname: a.Hostname}
	if reason == "" {
		pong.SharedKeyDigest = SharedKeyDigest(ping.SharedKeySalt, a.Hostname, helo.Nonce, a.SharedKey)
	}
	if _, err := w.Write(AppendPong(nil, pong)); err != nil {
		return ping, fmt.Errorf("forward: send PONG: %w", err)
	}
	if reason != "" {
		return ping, fmt.Errorf("%w: %s from %q", ErrAuth, reason, ping.Hostname)
	}
	return ping, nil
}

// ClientAuth is what a client presents in the handshake.
type ClientAuth struct {
	SharedKey string
	Hostname  string // the client's self_hostname
	Username  string // sent only when the server's HELO asks (auth salt set)
	Password  string
	Rand      io.Reader // salt source; nil: crypto/rand
}

// ClientHandshake runs the client's side on a new connection: it reads HELO with dec,
// sends PING and reads PONG, checking the server's shared key digest. It returns the
// server's HELO (its Keepalive says whether the server keeps the connection open).
func ClientHandshake(w io.Writer, dec *Decoder, a ClientAuth) (Helo, error) {
	raw, err := dec.ReadRaw()
	if err != nil {
		return Helo{}, fmt.Errorf("forward: read HELO: %w", err)
	}
	helo, err := ParseHelo(raw)
	if err != nil {
		return helo, err
	}
	rnd := a.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	// 16 printable bytes, like Fluent Bit's: servers that treat the salt as a C string
	// then hash all of it.
	var raw8 [8]byte
	if _, err := io.ReadFull(rnd, raw8[:]); err != nil {
		return helo, fmt.Errorf("forward: salt: %w", err)
	}
	ping := Ping{Hostname: a.Hostname, SharedKeySalt: []byte(hex.EncodeToString(raw8[:]))}
	ping.SharedKeyDigest = SharedKeyDigest(ping.SharedKeySalt, a.Hostname, helo.Nonce, a.SharedKey)
	if len(helo.Auth) > 0 {
		ping.Username = a.Username
		ping.PasswordDigest = PasswordDigest(helo.Auth, a.Username, a.Password)
	}
	if _, err := w.Write(AppendPing(nil, ping)); err != nil {
		return helo, fmt.Errorf("forward: send PING: %w", err)
	}
	if raw, err = dec.ReadRaw(); err != nil {
		return helo, fmt.Errorf("forward: read PONG: %w", err)
	}
	pong, err := ParsePong(raw)
	if err != nil {
		return helo, err
	}
	if !pong.AuthResult {
		return helo, fmt.Errorf("%w: server %q says: %s", ErrAuth, pong.Hostname, pong.Reason)
	}
	want := SharedKeyDigest(ping.SharedKeySalt, pong.Hostname, helo.Nonce, a.SharedKey)
	if subtle.ConstantTimeCompare([]byte(want), []byte(pong.SharedKeyDigest)) != 1 {
		return helo, fmt.Errorf("%w: server %q does not know the shared key", ErrAuth, pong.Hostname)
	}
	return helo, nil
}
