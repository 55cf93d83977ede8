package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// TestDedupeConcurrentExchanges: a double (or N-fold) submit of the same code
// makes one WeChat call, and every caller gets its result.
func TestDedupeConcurrentExchanges(t *testing.T) {
	emu, srv := wechattest.NewServer(t, wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: "wx1", Secret: "s1", PhoneAPI: true})
	c, err := NewClient(Config{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	app := App{AppID: "wx1", Secret: "s1"}
	code, err := emu.Login("wx1", "alice")
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, Hold: hold})

	const n = 8
	var wg sync.WaitGroup
	sessions := make([]Session, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { sessions[i], errs[i] = c.Code2Session(context.Background(), app, code) })
	}
	// Release WeChat only once every caller has joined the first one.
	key := flightKey(apiJSCode2Session, app.AppID, code)
	for c.codes.waiting(key) != n {
		runtime.Gosched()
	}
	close(hold)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if sessions[i].OpenID != emu.OpenID("wx1", "alice") || !sessions[i].SessionKey.Equal(sessions[0].SessionKey) {
			t.Errorf("caller %d got a different session", i)
		}
	}
	if got := len(emu.CallsTo(wechattest.APIJSCode2Session)); got != 1 {
		t.Errorf("%d jscode2session calls, want 1", got)
	}
}

// TestDedupeLeaderLeaves: the first caller giving up does not abort the
// shared exchange (which would burn the code for the others).
func TestDedupeLeaderLeaves(t *testing.T) {
	emu, srv := wechattest.NewServer(t, wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: "wx1", Secret: "s1"})
	c, err := NewClient(Config{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	app := App{AppID: "wx1", Secret: "s1"}
	code, _ := emu.Login("wx1", "bob")
	hold := make(chan struct{})
	emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, Hold: hold})

	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.Code2Session(leaderCtx, app, code)
		leaderErr <- err
	}()
	key := flightKey(apiJSCode2Session, app.AppID, code)
	for c.codes.waiting(key) != 1 {
		runtime.Gosched()
	}
	follower := make(chan error, 1)
	go func() {
		_, err := c.Code2Session(context.Background(), app, code)
		follower <- err
	}()
	for c.codes.waiting(key) != 2 {
		runtime.Gosched()
	}
	cancelLeader()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrTransport) {
		t.Errorf("leader: %v", err)
	}
	close(hold)
	if err := <-follower; err != nil {
		t.Errorf("follower: %v", err)
	}
}

func TestStripURL(t *testing.T) {
	secretURL := "https://api.weixin.qq.com/sns/jscode2session?secret=TOPSECRET&js_code=THECODE"
	inner := &url.Error{Op: "Get", URL: secretURL, Err: context.DeadlineExceeded}
	for _, err := range []error{
		inner,
		fmt.Errorf("wrapped: %w", inner),
		&url.Error{Op: "Get", URL: secretURL, Err: &url.Error{Op: "parse", URL: secretURL, Err: errors.New("boom")}},
	} {
		got := stripURL(err)
		if strings.Contains(got.Error(), "TOPSECRET") || strings.Contains(got.Error(), "THECODE") {
			t.Errorf("stripURL kept the URL: %v", got)
		}
	}
	if !errors.Is(stripURL(inner), context.DeadlineExceeded) {
		t.Error("stripURL lost the cause")
	}
	var to interface{ Timeout() bool }
	if !errors.As(stripURL(inner), &to) || !to.Timeout() {
		t.Error("stripURL lost Timeout()")
	}
}

func TestSanitizeErrMsg(t *testing.T) {
	tests := []struct{ in, want string }{
		{"invalid code, rid: 1-2-3", "invalid code, rid: 1-2-3"},
		{"echo THECODE12 here", "echo [redacted] here"},
		{"line\nbreak\x00", "line break "},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{strings.Repeat("x", 300), strings.Repeat("x", 256) + "…"},
	}
	for _, tc := range tests {
		if got := sanitizeErrMsg(tc.in, []string{"THECODE12", "ab"}); got != tc.want {
			t.Errorf("sanitizeErrMsg(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		body string
		code int
		msg  string
		err  error
	}{
		{`{"openid":"o"}`, 0, "", nil},
		{`{"errcode":0,"errmsg":"ok"}`, 0, "ok", nil},
		{` {"errcode":null}`, 0, "", nil},
		{`{"errcode":-1,"errmsg":"system error"}`, -1, "system error", nil},
		{`{"errcode":"40029"}`, 40029, "", nil},
		{`{"errcode":40029,"errmsg":5}`, 40029, "", nil},
		{`{"errcode":1.5}`, 0, "", errBadErrcode},
		{`{"errcode":99999999999}`, 0, "", errBadErrcode},
		{`{"errcode":true}`, 0, "", errBadErrcode},
		{``, 0, "", errEmptyBody},
		{"  \n", 0, "", errEmptyBody},
		{`<html>`, 0, "", errNotJSON},
		{`[]`, 0, "", errNotJSON},
		{`{"a":1} trailing`, 0, "", errNotJSON},
	}
	for _, tc := range tests {
		env, err := parseEnvelope([]byte(tc.body))
		if !errors.Is(err, tc.err) || env.code != tc.code || env.msg != tc.msg {
			t.Errorf("parseEnvelope(%q) = %+v, %v; want %d %q %v", tc.body, env, err, tc.code, tc.msg, tc.err)
		}
	}
}

func TestTokenCacheShortLife(t *testing.T) {
	// A token with less life than the margin is cached for half its life
	// rather than refreshed on every call.
	emu, srv := wechattest.NewServer(t, wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: "wx1", Secret: "s1"})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, err := NewClient(Config{BaseURL: srv.URL, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	emu.Inject(wechattest.Fault{API: wechattest.APIStableToken, RawBody: true, Body: `{"access_token":"` + strings.Repeat("T", 120) + `","expires_in":100}`})
	if _, err := c.AccessToken(context.Background(), App{AppID: "wx1", Secret: "s1"}); err != nil {
		t.Fatal(err)
	}
	ct := c.tokens.m["wx1"]
	if got := ct.refreshAt.Sub(now); got != 50*time.Second {
		t.Errorf("refreshAt = now+%v, want now+50s", got)
	}
}
