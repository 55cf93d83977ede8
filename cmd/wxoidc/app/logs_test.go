package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/internal/logredact"
	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// This file holds the builder shared by the hardening tests (soak, hostile
// input, logs, storage leaks, shutdown) and the log test itself.

// logBuffer collects log output; safe for concurrent use.
type logBuffer struct{ testharness.Buffer }

// logger logs at debug level through the production redaction point.
func (b *logBuffer) logger() *slog.Logger {
	return slog.New(logredact.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

// wire sits between wxoidc and the emulator: it records the credentials
// WeChat hands out (app access tokens, session keys), which the emulator's
// Go API does not expose, and lets a test see a request arrive.
type wire struct {
	next      http.Handler
	mu        sync.Mutex
	secrets   map[string]string // value → JSON field it came in
	onRequest func(path string)
}

// serveWire serves emu behind a new wire until the test ends, and returns
// the wire and its URL.
func serveWire(t *testing.T, emu *wechattest.Emulator) (*wire, string) {
	t.Helper()
	wr := &wire{next: emu.Handler(), secrets: map[string]string{}}
	srv := httptest.NewServer(wr)
	t.Cleanup(srv.Close)
	return wr, srv.URL
}

func (wr *wire) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	wr.mu.Lock()
	hook := wr.onRequest
	wr.mu.Unlock()
	if hook != nil {
		hook(r.URL.Path)
	}
	rec := &teeWriter{ResponseWriter: w}
	wr.next.ServeHTTP(rec, r)
	var answer map[string]any
	if json.Unmarshal(rec.body.Bytes(), &answer) != nil {
		return
	}
	wr.mu.Lock()
	defer wr.mu.Unlock()
	for _, k := range []string{"access_token", "session_key"} {
		if v, ok := answer[k].(string); ok && v != "" {
			wr.secrets[v] = k
		}
	}
}

func (wr *wire) setOnRequest(f func(path string)) {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	wr.onRequest = f
}

// seen returns the credentials recorded so far, by value.
func (wr *wire) seen() map[string]string {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	out := make(map[string]string, len(wr.secrets))
	for v, k := range wr.secrets {
		out[v] = k
	}
	return out
}

type teeWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (t *teeWriter) Write(p []byte) (int, error) {
	if t.body.Len() < 1<<16 {
		t.body.Write(p)
	}
	return t.ResponseWriter.Write(p)
}

func (t *teeWriter) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// hardOptions configures newHardStack.
type hardOptions struct {
	logs *logBuffer // capture debug logs
	// serve runs the instance through App.Run on a loopback listener, so the
	// production http.Server (timeouts, header limit, shutdown) answers.
	serve  bool
	emu    wechattest.Options
	config []stackOption
}

// hardStack is a stack (harness_test.go) with the hardening tests' extras.
type hardStack struct {
	*stack
	wire   *wire
	wechat *http.Client // the HTTP client wxoidc uses for WeChat
	addr   string       // listener address
	cancel context.CancelFunc
	runErr chan error // App.Run's result (serve mode)
}

// newHardStack builds an instance like newStack, with the options above.
func newHardStack(t *testing.T, o hardOptions) *hardStack {
	t.Helper()
	emu := wechattest.New(o.emu)
	emu.RegisterApp(wechattest.App{AppID: appA, Secret: secretA, OpenPlatformID: platform, PhoneAPI: true})
	emu.RegisterApp(wechattest.App{AppID: appB, Secret: secretB, OpenPlatformID: platform, PhoneAPI: true})
	wr, emuURL := serveWire(t, emu)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	c := testConfig(t, issuer, emuURL)
	for _, f := range o.config {
		f(c)
	}
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logger := slog.New(slog.DiscardHandler)
	if o.logs != nil {
		logger = o.logs.logger()
	}
	wechatClient := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	a, err := app.New(context.Background(), app.Options{Config: c, Logger: logger, HTTPClient: wechatClient})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	hs := &hardStack{wire: wr, wechat: wechatClient, addr: ln.Addr().String()}
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 30 * time.Second}
	if o.serve {
		ctx, cancel := context.WithCancel(context.Background())
		hs.cancel, hs.runErr = cancel, make(chan error, 1)
		go func() { hs.runErr <- a.Run(ctx, ln, nil) }()
		t.Cleanup(func() {
			cancel()
			select {
			case <-hs.runErr:
			case <-time.After(30 * time.Second):
				t.Error("App.Run did not return after its context ended")
			}
		})
	} else {
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: a.Public}}
		srv.Start()
		t.Cleanup(srv.Close)
	}
	t.Cleanup(client.CloseIdleConnections)
	t.Cleanup(wechatClient.CloseIdleConnections)
	hs.stack = &stack{t: t, URL: issuer, App: a, Emu: emu, client: client}
	hs.seedClients()
	return hs
}

// secretSet names every secret value a test used, with the encodings in
// which it could leak.
type secretSet struct {
	values map[string]string // value → name
}

func newSecretSet() *secretSet { return &secretSet{values: map[string]string{}} }

// add records v and its URL-encoded form.
func (s *secretSet) add(name, v string) {
	if len(v) < 6 {
		return // too short to search for without false alarms
	}
	s.values[v] = name
	if q := url.QueryEscape(v); q != v {
		s.values[q] = name + " (url-encoded)"
	}
}

// addBytes records raw bytes and their hex and base64 forms.
func (s *secretSet) addBytes(name string, b []byte) {
	if len(b) < 8 {
		return
	}
	s.values[string(b)] = name + " (raw)"
	s.values[hex.EncodeToString(b)] = name + " (hex)"
	s.values[strings.ToUpper(hex.EncodeToString(b))] = name + " (HEX)"
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		s.values[enc.EncodeToString(b)] = name + " (base64)"
	}
}

// addSessionKey records a WeChat session key (base64 text) in every form.
func (s *secretSet) addSessionKey(name, b64 string) {
	s.add(name, b64)
	if raw, err := base64.StdEncoding.DecodeString(b64); err == nil {
		s.addBytes(name, raw)
	}
}

// addToken records a token and, for JWTs and HMAC tokens, its segments.
func (s *secretSet) addToken(name, tok string) {
	s.add(name, tok)
	parts := strings.Split(tok, ".")
	if len(parts) < 2 {
		return
	}
	for i, p := range parts {
		if i == 0 && len(parts) == 3 {
			continue // a JWT header is shared by every token of its key
		}
		if len(p) >= 16 {
			s.add(name+" segment", p)
		}
	}
}

// addPhone records a number in E.164 and national form.
func (s *secretSet) addPhone(name, e164 string) {
	s.add(name, e164)
	s.add(name+" (national)", strings.TrimPrefix(e164, "+86"))
}

// find returns the names of the secrets haystack contains.
func (s *secretSet) find(haystack []byte) []string {
	var found []string
	for v, name := range s.values {
		if bytes.Contains(haystack, []byte(v)) {
			found = append(found, name)
		}
	}
	sort.Strings(found)
	return found
}

// runEveryFlow drives every flow of the provider, success and failure, and
// returns the secrets it used: app and client secrets, the KEK, login and
// phone codes, legacy phone data, session keys, phone numbers, tokens and
// WeChat's app access tokens.
func runEveryFlow(t *testing.T, s *hardStack) *secretSet {
	t.Helper()
	sec := newSecretSet()
	sec.add("app secret A", secretA)
	sec.add("app secret B", secretB)
	sec.add("client secret", backendPw)
	kek, err := s.App.Config.Secrets.KEK.Reveal()
	if err != nil {
		t.Fatal(err)
	}
	sec.add("KEK", kek)
	if raw, err := base64.StdEncoding.DecodeString(kek); err == nil {
		sec.addBytes("KEK", raw)
	}
	tokens := func(name string, tr tokenResponse) tokenResponse {
		sec.addToken(name+" access token", tr.AccessToken)
		sec.addToken(name+" refresh token", tr.RefreshToken)
		sec.addToken(name+" ID token", tr.IDToken)
		return tr
	}
	login := func(appID, user string) string {
		code := s.login(appID, user)
		sec.add("login code", code)
		return code
	}

	// WeChat grant with phone_code.
	phoneA := "+8613912345678"
	sec.addPhone("phone A", phoneA)
	code := login(appA, "lucy")
	ph := s.phone(appA, "lucy", phoneA)
	sec.add("phone code", ph.Code)
	first := tokens("phone_code login", mustToken(t, s.token(wechatForm(miniA, code, "phone_code", ph.Code, "scope", "openid phone wechat offline_access", "nonce", "nonce-0123456789"))))
	sec.addSessionKey("session key lucy", s.Emu.CurrentSessionKey(appA, "lucy"))

	// Legacy encrypted phone data, under the session key of an earlier login.
	phoneB := "+8613787654321"
	sec.addPhone("phone B", phoneB)
	tokens("silent login", mustToken(t, s.token(wechatForm(miniB, login(appB, "mike"), "scope", "openid"))))
	sec.addSessionKey("session key mike (first)", s.Emu.CurrentSessionKey(appB, "mike"))
	legacy := s.phone(appB, "mike", phoneB)
	sec.add("encrypted_data", legacy.EncryptedData)
	sec.add("iv", legacy.IV)
	tokens("legacy login", mustToken(t, s.token(wechatForm(miniB, login(appB, "mike"), "encrypted_data", legacy.EncryptedData, "iv", legacy.IV, "scope", "openid phone offline_access"))))
	sec.addSessionKey("session key mike (second)", s.Emu.CurrentSessionKey(appB, "mike"))

	// Tampered legacy data and a replayed code: invalid_grant, logged.
	bad, err := s.Emu.PhoneTampered(appA, "lucy", phoneA, wechattest.TamperWatermark)
	if err != nil {
		t.Fatal(err)
	}
	sec.add("tampered encrypted_data", bad.EncryptedData)
	if tr := s.token(wechatForm(miniA, login(appA, "lucy"), "encrypted_data", bad.EncryptedData, "iv", bad.IV)); tr.Error != "invalid_grant" {
		t.Fatalf("tampered data: %d %s", tr.Status, tr.Error)
	}
	if tr := s.token(wechatForm(miniA, code, "scope", "openid")); tr.Error != "invalid_grant" {
		t.Fatalf("replayed code: %d %s", tr.Status, tr.Error)
	}

	// WeChat failures: busy twice (the client retries once), garbage, a
	// quota error, and an upstream echoing back what we sent.
	s.Emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, ErrCode: -1, Times: 2})
	if tr := s.token(wechatForm(miniA, login(appA, "lucy"), "scope", "openid")); tr.Status != http.StatusServiceUnavailable {
		t.Fatalf("WeChat busy: %d %s", tr.Status, tr.Error)
	}
	s.Emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, RawBody: true, Body: "<html>bad gateway</html>", Times: 2})
	if tr := s.token(wechatForm(miniA, login(appA, "lucy"), "scope", "openid")); tr.Status != http.StatusServiceUnavailable {
		t.Fatalf("WeChat garbage: %d %s", tr.Status, tr.Error)
	}
	s.Emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, ErrCode: 45011})
	if tr := s.token(wechatForm(miniA, login(appA, "lucy"), "scope", "openid")); tr.Status != http.StatusServiceUnavailable || tr.RetryAfter == "" {
		t.Fatalf("WeChat quota: %d %s %q", tr.Status, tr.Error, tr.RetryAfter)
	}
	echoCode := login(appA, "lucy")
	echo, _ := json.Marshal(map[string]any{"errcode": 40125, "errmsg": "invalid appsecret " + secretA + " for code " + echoCode})
	s.Emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, RawBody: true, Body: string(echo)})
	if tr := s.token(wechatForm(miniA, echoCode, "scope", "openid")); tr.Status != http.StatusInternalServerError {
		t.Fatalf("WeChat rejecting our secret: %d %s", tr.Status, tr.Error)
	}

	// Refresh, introspection, revocation, UserInfo.
	second, err := refresh(s.stack, miniA, first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	sec.addToken("refreshed access token", second.AccessToken)
	sec.addToken("refreshed refresh token", second.RefreshToken)
	if idt, ok := second.Extra("id_token").(string); ok {
		sec.addToken("refreshed ID token", idt)
	}
	if got := s.introspect(second.AccessToken); got["active"] != true {
		t.Fatalf("introspection: %v", got)
	}
	if got := s.introspect(first.AccessToken); got["active"] != false {
		t.Fatalf("introspection of a rotated token: %v", got)
	}
	resp, _ := s.postForm("/oauth2/introspect", url.Values{"token": {second.AccessToken}, "client_id": {postCli}, "client_secret": {"wrong-" + backendPw}}, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("introspection with a wrong secret: %d", resp.StatusCode)
	}
	sec.add("wrong client secret", "wrong-"+backendPw)
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+second.AccessToken)
	if resp, err := s.client.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("userinfo: %v %v", resp, err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if resp, body := s.postForm("/userinfo", url.Values{"access_token": {second.AccessToken + "x"}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("userinfo with a bad token: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.postForm("/oauth2/revoke", url.Values{"token": {second.RefreshToken}, "client_id": {miniA}}, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	if _, err := refresh(s.stack, miniA, first.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("reuse of a rotated refresh token: %v", err)
	}

	// Client credentials, Basic and post.
	for _, c := range []struct {
		form url.Values
		h    http.Header
	}{
		{url.Values{"grant_type": {"client_credentials"}, "audience": {resource}}, hardBasicAuth(backend, backendPw)},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {postCli}, "client_secret": {backendPw}}, nil},
		{url.Values{"grant_type": {"client_credentials"}}, hardBasicAuth(backend, "wrong-"+backendPw)},
	} {
		resp, body := s.postForm("/oauth2/token", c.form, c.h)
		var tr tokenResponse
		_ = json.Unmarshal(body, &tr)
		if resp.StatusCode == http.StatusOK {
			sec.addToken("client credentials access token", tr.AccessToken)
		}
	}
	for v, field := range s.wire.seen() {
		if field == "session_key" {
			sec.addSessionKey("WeChat session key", v)
		} else {
			sec.add("WeChat app access token", v)
		}
	}
	return sec
}

func hardBasicAuth(user, password string) http.Header {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(password))
	return http.Header{"Authorization": {r.Header.Get("Authorization")}}
}

func TestLogsCarryNoSecrets(t *testing.T) {
	logs := &logBuffer{}
	s := newHardStack(t, hardOptions{logs: logs})
	sec := runEveryFlow(t, s)
	out := logs.String()
	// The test is meaningful only if the flows logged: requests at debug,
	// WeChat calls, and the failures.
	for _, want := range []string{`"msg":"request"`, `"msg":"wechat: call"`, "wechat unavailable", "wechat call failed", "legacy phone data did not decrypt"} {
		if !strings.Contains(out, want) {
			t.Errorf("the captured logs lack %q: is debug logging on?", want)
		}
	}
	if len(sec.values) < 40 {
		t.Fatalf("only %d secret forms collected", len(sec.values))
	}
	for _, line := range strings.Split(out, "\n") {
		if found := sec.find([]byte(line)); len(found) > 0 {
			t.Errorf("log line leaks %v:\n%s", found, line)
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("%d log lines checked against %d secret forms", strings.Count(out, "\n"), len(sec.values))
}
