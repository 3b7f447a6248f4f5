package http

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// OAuth2 is Fluent Bit's oauth2.* keys of the http output: the client-credentials grant
// (RFC 6749 4.4). The token is fetched before the first request, cached until it expires
// (less oauth2.refresh_skew_seconds) and fetched again when the server answers 401.
type OAuth2 struct {
	Enable       bool          `conf:"oauth2.enable"`
	TokenURL     string        `conf:"oauth2.token_url"`
	ClientID     string        `conf:"oauth2.client_id"`
	ClientSecret string        `conf:"oauth2.client_secret"`
	Scope        string        `conf:"oauth2.scope"`
	Audience     string        `conf:"oauth2.audience"`
	Resource     string        `conf:"oauth2.resource"`
	AuthMethod   string        `conf:"oauth2.auth_method"` // basic (default) or post
	UserAgent    string        `conf:"oauth2.user_agent"`
	RefreshSkew  int           `conf:"oauth2.refresh_skew_seconds"`
	Timeout      time.Duration `conf:"oauth2.timeout"`
	ConnTimeout  time.Duration `conf:"oauth2.connect_timeout"`
}

// validate checks the keys; errors name the key.
func (a *OAuth2) validate() error {
	if !a.Enable {
		return nil
	}
	u, err := url.Parse(a.TokenURL)
	if a.TokenURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return config.KeyErrorf("oauth2.token_url", "%q: want an http:// or https:// URL (oauth2.enable is on)", a.TokenURL)
	}
	if a.ClientID == "" {
		return config.KeyErrorf("oauth2.client_id", "needed with oauth2.enable on")
	}
	if a.ClientSecret == "" {
		return config.KeyErrorf("oauth2.client_secret", "needed with oauth2.enable on")
	}
	switch strings.ToLower(a.AuthMethod) {
	case "", "basic", "post":
	default:
		return config.KeyErrorf("oauth2.auth_method", "%q: want basic or post (the client-secret grant; private_key_jwt is not built in)", a.AuthMethod)
	}
	if a.RefreshSkew < 0 {
		return config.KeyErrorf("oauth2.refresh_skew_seconds", "%d: want 0 or more", a.RefreshSkew)
	}
	return nil
}

// tokenSource fetches and caches the access token.
type tokenSource struct {
	cfg    OAuth2
	client *http.Client
	now    func() time.Time

	mu     sync.Mutex
	token  string
	expiry time.Time
}

func newTokenSource(cfg OAuth2, tr *http.Transport) *tokenSource {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	t := tr.Clone()
	if cfg.ConnTimeout > 0 {
		t.DialContext = (&net.Dialer{Timeout: cfg.ConnTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	return &tokenSource{cfg: cfg, client: &http.Client{Transport: t, Timeout: timeout}, now: time.Now}
}

// get returns a valid token, fetching one when there is none or it has expired. Errors
// are pipeline.Retry: the chunk waits for the token endpoint.
func (ts *tokenSource) get(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token != "" && ts.now().Before(ts.expiry) {
		return ts.token, nil
	}
	tok, ttl, err := ts.fetch(ctx)
	if err != nil {
		return "", pipeline.Retry(fmt.Errorf("http: oauth2 token from %s: %w", ts.cfg.TokenURL, err))
	}
	skew := time.Duration(ts.cfg.RefreshSkew) * time.Second
	if skew >= ttl {
		skew = ttl / 2
	}
	ts.token, ts.expiry = tok, ts.now().Add(ttl-skew)
	return tok, nil
}

// invalidate forgets tok (the server refused it), so the next get fetches a new one.
func (ts *tokenSource) invalidate(tok string) {
	ts.mu.Lock()
	if ts.token == tok {
		ts.token = ""
	}
	ts.mu.Unlock()
}

func (ts *tokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range map[string]string{"scope": ts.cfg.Scope, "audience": ts.cfg.Audience, "resource": ts.cfg.Resource} {
		if v != "" {
			form.Set(k, v)
		}
	}
	post := strings.EqualFold(ts.cfg.AuthMethod, "post")
	if post {
		form.Set("client_id", ts.cfg.ClientID)
		form.Set("client_secret", ts.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if ts.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", ts.cfg.UserAgent)
	}
	if !post {
		// RFC 6749 2.3.1: the id and secret form-encoded, then basic authentication.
		req.SetBasicAuth(url.QueryEscape(ts.cfg.ClientID), url.QueryEscape(ts.cfg.ClientSecret))
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode/100 != 2 {
		return "", 0, fmt.Errorf("%s: %s", resp.Status, clipBody(body))
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", 0, fmt.Errorf("answer is not JSON: %w", err)
	}
	if tr.AccessToken == "" {
		return "", 0, fmt.Errorf("answer has no access_token")
	}
	// expires_in is a number, or (some servers) a string holding one; without it the
	// token is kept an hour, as Fluent Bit does.
	ttl := time.Hour
	var secs float64
	if err := json.Unmarshal(tr.ExpiresIn, &secs); err != nil {
		var s string
		if json.Unmarshal(tr.ExpiresIn, &s) == nil {
			fmt.Sscanf(s, "%g", &secs)
		}
	}
	if secs > 0 {
		ttl = time.Duration(secs * float64(time.Second))
	}
	return tr.AccessToken, ttl, nil
}

func clipBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
