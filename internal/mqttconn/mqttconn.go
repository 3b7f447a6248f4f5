// Package mqttconn holds what the MQTT input and output share: the connection keys (broker
// address, client id, credentials, TLS, keepalive, reconnect backoff), their validation,
// and the paho client options built from them. It is not a plugin and registers nothing,
// so the output can import it without importing the input. It does not subscribe or
// publish.
package mqttconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/internal/tlsconf"
)

// Options are the connection keys, embedded in the input's and the output's structs.
type Options struct {
	Host     string `conf:"host"`
	Port     int    `conf:"port"` // 0: 1883, or 8883 with tls
	ClientID string `conf:"client_id"`
	Username string `conf:"username"`
	Password string `conf:"password"`

	tlsconf.ClientSettings // tls, tls.verify, tls.ca_file, tls.ca_path, tls.crt_file, tls.key_file, tls.vhost, tls.debug

	Keepalive            time.Duration `conf:"keepalive"`
	ConnectTimeout       time.Duration `conf:"connect_timeout"`
	ReconnectMaxInterval time.Duration `conf:"reconnect_max_interval"`
}

// Defaults returns the connection defaults: 127.0.0.1, keepalive 60s, connect timeout
// 10s, reconnect backoff capped at 30s, TLS verification on when TLS is on.
func Defaults() Options {
	return Options{
		Host:                 "127.0.0.1",
		ClientSettings:       tlsconf.DefaultClient(),
		Keepalive:            60 * time.Second,
		ConnectTimeout:       10 * time.Second,
		ReconnectMaxInterval: 30 * time.Second,
	}
}

// Validate checks the keys without touching files or the network.
func (o *Options) Validate() error {
	switch {
	case strings.TrimSpace(o.Host) == "":
		return config.KeyErrorf("host", "empty: want the broker's host name or address")
	case o.Port < 0 || o.Port > 65535:
		return config.KeyErrorf("port", "%d: want 1 to 65535", o.Port)
	case len(o.ClientID) > 65535:
		return config.KeyErrorf("client_id", "longer than MQTT allows (65535 bytes)")
	case o.Password != "" && o.Username == "":
		return config.KeyErrorf("password", "set without username: MQTT 3.1.1 sends a password only with a user name")
	case o.Keepalive < 0 || (o.Keepalive > 0 && o.Keepalive < time.Second) || o.Keepalive > 65535*time.Second:
		return config.KeyErrorf("keepalive", "%v: want 0 (off) or 1s to 65535s", o.Keepalive)
	case o.ConnectTimeout <= 0:
		return config.KeyErrorf("connect_timeout", "%v: want more than 0", o.ConnectTimeout)
	case o.ReconnectMaxInterval < time.Second:
		return config.KeyErrorf("reconnect_max_interval", "%v: want 1s or more", o.ReconnectMaxInterval)
	case !o.TLS && (o.TLSCAFile != "" || o.TLSCAPath != "" || o.TLSCrtFile != "" || o.TLSKeyFile != ""):
		return config.KeyErrorf("tls", "tls.* files are set but tls is off")
	}
	return o.ClientSettings.Validate()
}

// Addr returns host:port with the default port filled in.
func (o *Options) Addr() string {
	port := o.Port
	if port == 0 {
		port = 1883
		if o.TLS {
			port = 8883
		}
	}
	return net.JoinHostPort(o.Host, strconv.Itoa(port))
}

// URL returns the broker URL paho dials.
func (o *Options) URL() string {
	if o.TLS {
		return "ssl://" + o.Addr()
	}
	return "tcp://" + o.Addr()
}

// DefaultClientID derives a client id that stays the same across restarts of the same
// configuration on the same host, so a persistent session (clean_session off) finds its
// queued messages again: "fbgo" and 16 hex digits of a hash of the host name, the kind
// ("in" or "out", so an input and an output never take each other's session) and the
// instance name. 20 characters of [0-9a-z], which every MQTT 3.1.1 broker must accept.
func DefaultClientID(kind, instance string) string {
	host, _ := os.Hostname()
	h := fnv.New64a()
	_, _ = h.Write([]byte(host + "\x00" + kind + "\x00" + instance))
	return fmt.Sprintf("fbgo%016x", h.Sum64())
}

// TLSConfig loads the CA and client certificate files (see package tlsconf); nil when tls
// is off. It reads files: call it from Init.
func (o *Options) TLSConfig() (*tls.Config, error) { return o.ClientSettings.Config(o.Host) }

// ClientOptions builds paho options from the keys: the broker, the client id (clientID,
// already defaulted by the caller), credentials, TLS, keepalive, and automatic
// reconnection with exponential backoff from 1s up to reconnect_max_interval. The
// caller adds its own handlers and session settings.
func (o *Options) ClientOptions(clientID string) (*paho.ClientOptions, error) {
	tc, err := o.TLSConfig()
	if err != nil {
		return nil, err
	}
	po := paho.NewClientOptions().
		AddBroker(o.URL()).
		SetClientID(clientID).
		SetProtocolVersion(4).
		SetKeepAlive(o.Keepalive).
		SetPingTimeout(max(o.Keepalive/2, 5*time.Second)).
		SetConnectTimeout(o.ConnectTimeout).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(o.ReconnectMaxInterval).
		SetConnectRetry(false).
		SetWriteTimeout(o.ConnectTimeout)
	if o.Username != "" {
		po.SetUsername(o.Username)
		po.SetPassword(o.Password)
	}
	if tc != nil {
		po.SetTLSConfig(tc)
	}
	return po, nil
}

// Connect connects c, trying again with exponential backoff (1s doubling up to maxWait)
// until it succeeds or ctx is done. Each failure is logged with its cause (a refused
// CONNACK names the reason: bad credentials, not authorized). It returns ctx's error when
// ctx ends first.
func Connect(ctx context.Context, c paho.Client, log *slog.Logger, addr string, maxWait time.Duration) error {
	wait := time.Second
	for attempt := 1; ; attempt++ {
		tok := c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
		err := tok.Error()
		if err == nil {
			return nil
		}
		log.Warn("mqtt: connect failed; trying again", "broker", addr, "attempt", attempt, "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		wait = min(2*wait, maxWait)
	}
}

// Wait waits for tok until ctx is done or timeout passes, and returns its error.
func Wait(ctx context.Context, tok paho.Token, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("timed out")
	}
}

// ValidTopicFilter checks a subscription filter: not empty, no NUL, '#' only as the last
// level and alone in it, '+' alone in its level.
func ValidTopicFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	if len(f) > 65535 {
		return errors.New("topic filter longer than 65535 bytes")
	}
	if strings.IndexByte(f, 0) >= 0 {
		return errors.New("topic filter contains NUL")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("%q: '#' must be the whole last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("%q: '+' must be a whole level", f)
		}
	}
	return nil
}
