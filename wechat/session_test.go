package wechat_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/wechat"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

func TestCode2SessionSuccess(t *testing.T) {
	e := newEnv(t)
	s, err := e.code2Session(e.login(testAppID, "alice"))
	if err != nil {
		t.Fatalf("Code2Session: %v", err)
	}
	if s.OpenID != e.emu.OpenID(testAppID, "alice") {
		t.Errorf("openid = %q, want %q", s.OpenID, e.emu.OpenID(testAppID, "alice"))
	}
	if want := e.emu.UnionID(testAppID, "alice"); s.UnionID != want || want == "" {
		t.Errorf("unionid = %q, want %q", s.UnionID, want)
	}
	key, err := wechat.ParseSessionKey(e.emu.CurrentSessionKey(testAppID, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.SessionKey.Equal(key) {
		t.Error("session key is not the user's current key")
	}

	// An app without an open platform gets no unionid.
	other := e.newClient()
	s, err = other.Code2Session(context.Background(), wechat.App{AppID: otherAppID, Secret: otherSecr}, e.login(otherAppID, "alice"))
	if err != nil {
		t.Fatalf("Code2Session: %v", err)
	}
	if s.UnionID != "" {
		t.Errorf("unbound app got unionid %q", s.UnionID)
	}
}

// TestCode2SessionWireVariants: errcode 0 present or absent, text/plain.
func TestCode2SessionWireVariants(t *testing.T) {
	for _, f := range []wechattest.Fault{
		{API: wechattest.APIJSCode2Session, SuccessErrCode: wechattest.ErrCodePresent},
		{API: wechattest.APIJSCode2Session, SuccessErrCode: wechattest.ErrCodeAbsent},
		{API: wechattest.APIJSCode2Session, ContentType: "text/plain"},
		{API: wechattest.APIJSCode2Session, ContentType: "text/html; charset=gbk", SuccessErrCode: wechattest.ErrCodePresent},
	} {
		e := newEnv(t)
		e.emu.Inject(f)
		if _, err := e.code2Session(e.login(testAppID, "bob")); err != nil {
			t.Errorf("fault %+v: %v", f, err)
		}
	}
}

// TestCode2SessionEmulatedErrors covers the real (not injected) errors.
func TestCode2SessionEmulatedErrors(t *testing.T) {
	tests := []struct {
		name string
		run  func(e *env) (string, wechat.App) // returns the code to exchange
		code int
		want []error
	}{
		{"unknown code", func(e *env) (string, wechat.App) { return "0a3Ghh000NJ4vR1Xcx300zP9BB0Ghh0b", e.app }, 40029, []error{wechat.ErrInvalidCode}},
		{"expired code", func(e *env) (string, wechat.App) {
			c := e.login(testAppID, "u")
			e.clock.Advance(5*time.Minute + time.Second)
			return c, e.app
		}, 40029, []error{wechat.ErrInvalidCode}},
		{"code of another appid", func(e *env) (string, wechat.App) { return e.login(otherAppID, "u"), e.app }, 40029, []error{wechat.ErrInvalidCode}},
		{"phone code as login code", func(e *env) (string, wechat.App) { return e.phone(testAppID, "u", "+8613800138000").Code, e.app }, 40029, []error{wechat.ErrInvalidCode}},
		{"reused code", func(e *env) (string, wechat.App) {
			c := e.login(testAppID, "u")
			if _, err := e.code2Session(c); err != nil {
				e.t.Fatal(err)
			}
			return c, e.app
		}, 40163, []error{wechat.ErrCodeUsed}},
		{"blocked user", func(e *env) (string, wechat.App) {
			e.emu.BlockUser(testAppID, "u")
			return e.login(testAppID, "u"), e.app
		}, 40226, []error{wechat.ErrBlockedUser}},
		{"wrong secret", func(e *env) (string, wechat.App) {
			e.secret("wrong-secret-value")
			return e.login(testAppID, "u"), wechat.App{AppID: testAppID, Secret: "wrong-secret-value"}
		}, 40125, []error{wechat.ErrConfig}},
		{"unknown appid", func(e *env) (string, wechat.App) {
			return e.login(testAppID, "u"), wechat.App{AppID: "wx0000000000000001", Secret: testSecret}
		}, 40013, []error{wechat.ErrConfig}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			code, app := tc.run(e)
			e.emu.ResetCalls()
			_, err := e.client.Code2Session(context.Background(), app, code)
			e.checkResult(wechat.SessionKey{}, err)
			assertCategories(t, err, tc.want...)
			if got := errCode(err); got != tc.code {
				t.Errorf("errcode = %d, want %d", got, tc.code)
			}
			if n := e.calls(wechattest.APIJSCode2Session); n != 1 {
				t.Errorf("%d jscode2session calls, want 1 (no retry on errcode %d)", n, tc.code)
			}
		})
	}
}

func TestCode2SessionLocalValidation(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		app  wechat.App
		code string
		want error
	}{
		{"empty code", e.app, "", wechat.ErrInvalidCode},
		{"oversize code", e.app, strings.Repeat("a", 513), wechat.ErrInvalidCode},
		{"control character", e.app, "abc\ndef", wechat.ErrInvalidCode},
		{"space", e.app, "abc def", wechat.ErrInvalidCode},
		{"no appid", wechat.App{Secret: testSecret}, "abc", wechat.ErrConfig},
		{"no secret", wechat.App{AppID: testAppID}, "abc", wechat.ErrConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.Code2Session(context.Background(), tc.app, tc.code)
			assertCategories(t, err, tc.want)
		})
	}
	if n := e.calls(wechattest.APIJSCode2Session); n != 0 {
		t.Errorf("%d calls reached WeChat, want 0", n)
	}
}

// TestErrorCatalogue injects every errcode of docs/wechat.md §8 and checks the
// category, the single attempt (only -1 is retried), and RetryAfter.
func TestErrorCatalogue(t *testing.T) {
	tests := []struct {
		code  int
		want  []error
		calls int
	}{
		{-1, []error{wechat.ErrBusy}, 2},
		{40029, []error{wechat.ErrInvalidCode}, 1},
		{40163, []error{wechat.ErrCodeUsed}, 1},
		{40226, []error{wechat.ErrBlockedUser}, 1},
		{45011, []error{wechat.ErrRateLimited}, 1},
		{45009, []error{wechat.ErrRateLimited}, 1},
		{40013, []error{wechat.ErrConfig}, 1},
		{40125, []error{wechat.ErrConfig}, 1},
		{40002, []error{wechat.ErrConfig}, 1},
		{40164, []error{wechat.ErrConfig}, 1},
		{40243, []error{wechat.ErrConfig}, 1},
		{41001, []error{wechat.ErrConfig}, 1},
		{41002, []error{wechat.ErrConfig}, 1},
		{41004, []error{wechat.ErrConfig}, 1},
		{41008, []error{wechat.ErrInvalidCode}, 1},
		{43002, []error{wechat.ErrConfig}, 1},
		{44002, []error{wechat.ErrConfig}, 1},
		{47001, []error{wechat.ErrConfig}, 1},
		{48001, []error{wechat.ErrConfig}, 1},
		{87009, nil, 1},
		{40003, nil, 1},
		{40030, nil, 1},
		{42002, nil, 1},
		{99999, nil, 1},
	}
	for _, tc := range tests {
		e := newEnv(t)
		e.emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, ErrCode: tc.code, Times: -1})
		_, err := e.code2Session(e.login(testAppID, "carol"))
		var we *wechat.Error
		if !errors.As(err, &we) || we.Code != tc.code || we.API != "jscode2session" {
			t.Errorf("errcode %d: got %v", tc.code, err)
			continue
		}
		if !strings.Contains(we.Message, ", rid: ") {
			t.Errorf("errcode %d: errmsg %q lost its suffix", tc.code, we.Message)
		}
		if len(tc.want) == 0 {
			for name, s := range categories {
				if errors.Is(err, s) {
					t.Errorf("errcode %d unexpectedly matches %s", tc.code, name)
				}
			}
		} else {
			assertCategories(t, err, tc.want...)
		}
		if n := e.calls(wechattest.APIJSCode2Session); n != tc.calls {
			t.Errorf("errcode %d: %d calls, want %d", tc.code, n, tc.calls)
		}
		wantRA := time.Duration(0)
		if tc.code == 45011 {
			wantRA = time.Minute
		}
		if ra := wechat.RetryAfter(err); ra != wantRA {
			t.Errorf("errcode %d: RetryAfter = %v, want %v", tc.code, ra, wantRA)
		}
	}
}

// TestAccessTokenErrorsOnPhoneAPI: 40001/40014/42001 are retried once after
// a refresh, then reported as ErrAccessToken.
func TestAccessTokenErrorsOnPhoneAPI(t *testing.T) {
	for _, code := range []int{40001, 40014, 42001} {
		e := newEnv(t)
		g := e.phone(testAppID, "dan", "+8613800138000")
		e.emu.Inject(wechattest.Fault{API: wechattest.APIPhoneNumber, ErrCode: code, Times: -1})
		_, err := e.phoneNumber(g.Code, "")
		assertCategories(t, err, wechat.ErrAccessToken)
		if got := errCode(err); got != code {
			t.Errorf("errcode = %d, want %d", got, code)
		}
		if n := e.calls(wechattest.APIPhoneNumber); n != 2 {
			t.Errorf("errcode %d: %d phone calls, want 2 (one retry)", code, n)
		}
		// The retry went through a refresh: the cache was dropped once.
		if n := e.calls(wechattest.APIStableToken); n != 2 {
			t.Errorf("errcode %d: %d stable_token calls, want 2", code, n)
		}
	}
}

func TestRateLimitPerUser(t *testing.T) {
	e := newEnv(t)
	for i := range 100 {
		if _, err := e.code2Session(e.login(testAppID, "eve")); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	code := e.login(testAppID, "eve")
	_, err := e.code2Session(code)
	assertCategories(t, err, wechat.ErrRateLimited)
	if ra := wechat.RetryAfter(err); ra != time.Minute {
		t.Errorf("RetryAfter = %v, want 1m", ra)
	}
	// Other users are not limited; the limited code was not consumed.
	if _, err := e.code2Session(e.login(testAppID, "frank")); err != nil {
		t.Errorf("other user: %v", err)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.code2Session(code); err != nil {
		t.Errorf("next minute: %v", err)
	}
}

// TestNoteA covers code exchanges whose first attempt has an unknown outcome.
func TestNoteA(t *testing.T) {
	tests := []struct {
		name    string
		fault   wechattest.Fault
		disable bool
		wantOK  bool
		want    []error
		calls   int
	}{
		{"busy without consuming: retry succeeds", wechattest.Fault{ErrCode: -1}, false, true, nil, 2},
		{"busy after consuming: 40163 reads as busy", wechattest.Fault{ErrCode: -1, ConsumeCode: true}, false, false, []error{wechat.ErrBusy}, 2},
		{"502 after consuming: busy and transport", wechattest.Fault{HTTPStatus: 502, Body: "<html>bad gateway</html>", ConsumeCode: true}, false, false, []error{wechat.ErrBusy, wechat.ErrTransport}, 2},
		{"busy twice", wechattest.Fault{ErrCode: -1, Times: 2}, false, false, []error{wechat.ErrBusy}, 2},
		{"retries disabled", wechattest.Fault{ErrCode: -1}, true, false, []error{wechat.ErrBusy}, 1},
		{"500 without consuming: retry succeeds", wechattest.Fault{HTTPStatus: 500}, false, true, nil, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(_ *wechattest.Options, c *wechat.Config) { c.DisableRetries = tc.disable })
			f := tc.fault
			f.API = wechattest.APIJSCode2Session
			e.emu.Inject(f)
			s, err := e.code2Session(e.login(testAppID, "gina"))
			if tc.wantOK {
				if err != nil || s.OpenID == "" {
					t.Fatalf("got %v, want success", err)
				}
			} else {
				assertCategories(t, err, tc.want...)
			}
			if n := e.calls(wechattest.APIJSCode2Session); n != tc.calls {
				t.Errorf("%d calls, want %d", n, tc.calls)
			}
		})
	}
}

// TestNoteATimeout: the first attempt times out after WeChat consumed the
// code; the retry's 40163 is reported as busy/transport, not "code used".
func TestNoteATimeout(t *testing.T) {
	e := newEnv(t, func(_ *wechattest.Options, c *wechat.Config) { c.CallTimeout = 100 * time.Millisecond })
	e.emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, Delay: time.Minute, ConsumeCode: true})
	_, err := e.code2Session(e.login(testAppID, "hal"))
	assertCategories(t, err, wechat.ErrBusy, wechat.ErrTransport)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err does not wrap context.DeadlineExceeded: %v", err)
	}
	var we *wechat.Error
	if !errors.As(err, &we) || we.Code != 40163 || we.Prior == nil {
		t.Errorf("want errcode 40163 with Prior, got %v", err)
	}
}

func TestTransportFailures(t *testing.T) {
	tests := []struct {
		name  string
		fault wechattest.Fault
		cfg   func(*wechat.Config)
		extra error
	}{
		{"HTTP 500", wechattest.Fault{HTTPStatus: 500, Body: `{"errcode":0}`}, nil, nil},
		{"HTTP 502", wechattest.Fault{HTTPStatus: 502}, nil, nil},
		{"non-JSON", wechattest.Fault{RawBody: true, Body: "<html>gateway</html>"}, nil, nil},
		{"JSON array", wechattest.Fault{RawBody: true, Body: `[1,2]`}, nil, nil},
		{"truncated JSON", wechattest.Fault{RawBody: true, Body: `{"openid":"o1"`}, nil, nil},
		{"empty body", wechattest.Fault{RawBody: true}, nil, nil},
		{"errcode not a number", wechattest.Fault{RawBody: true, Body: `{"errcode":"x"}`}, nil, nil},
		{"success without session_key", wechattest.Fault{RawBody: true, Body: `{"openid":"oABC"}`}, nil, nil},
		{"success with a bad session_key", wechattest.Fault{RawBody: true, Body: `{"openid":"oABC","session_key":"c2hvcnQ="}`}, nil, nil},
		{"oversize", wechattest.Fault{}, func(c *wechat.Config) { c.MaxResponseBytes = 32 }, nil},
		{"timeout", wechattest.Fault{Delay: time.Minute}, func(c *wechat.Config) { c.CallTimeout = 50 * time.Millisecond }, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(_ *wechattest.Options, c *wechat.Config) {
				c.DisableRetries = true
				if tc.cfg != nil {
					tc.cfg(c)
				}
			})
			f := tc.fault
			f.API = wechattest.APIJSCode2Session
			e.emu.Inject(f)
			_, err := e.code2Session(e.login(testAppID, "ivy"))
			assertCategories(t, err, wechat.ErrTransport)
			var te *wechat.TransportError
			if !errors.As(err, &te) {
				t.Fatalf("not a *TransportError: %T %v", err, err)
			}
			if tc.extra != nil && !errors.Is(err, tc.extra) {
				t.Errorf("err does not wrap %v: %v", tc.extra, err)
			}
			if strings.Contains(err.Error(), "js_code") || strings.Contains(err.Error(), "secret=") || strings.Contains(err.Error(), "/sns/") {
				t.Errorf("error shows the URL: %v", err)
			}
		})
	}
}

func TestCallerCancellation(t *testing.T) {
	e := newEnv(t)
	hold := make(chan struct{})
	defer close(hold)
	e.emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, Hold: hold})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.client.Code2Session(ctx, e.app, e.login(testAppID, "jo"))
	e.checkResult(wechat.SessionKey{}, err)
	assertCategories(t, err, wechat.ErrTransport)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("want context.Canceled, got %v", err)
	}
}

// TestFailover: a transport failure moves to the next host; an errcode does not.
func TestFailover(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	t.Run("dead primary", func(t *testing.T) {
		e := newEnv(t, func(_ *wechattest.Options, c *wechat.Config) {
			c.BaseURL = deadURL
			c.DisableRetries = true
		})
		// Rebuild the client now that the emulator URL is known.
		e.cfg.FallbackBaseURLs = []string{e.srv.URL}
		e.client = e.newClient()
		if _, err := e.code2Session(e.login(testAppID, "kim")); err != nil {
			t.Fatalf("failover: %v", err)
		}
		if !strings.Contains(e.logs.String(), "failing over") {
			t.Error("failover not logged")
		}
	})

	t.Run("errcode on primary", func(t *testing.T) {
		e := newEnv(t)
		var hits atomic.Int32
		fallback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
		defer fallback.Close()
		e.cfg.FallbackBaseURLs = []string{fallback.URL}
		e.client = e.newClient()
		e.emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, ErrCode: 40125})
		_, err := e.code2Session(e.login(testAppID, "kim"))
		assertCategories(t, err, wechat.ErrConfig)
		if hits.Load() != 0 {
			t.Errorf("fallback called %d times after an errcode", hits.Load())
		}
	})

	t.Run("502 after consuming, then fallback answers 40163", func(t *testing.T) {
		e := newEnv(t, func(_ *wechattest.Options, c *wechat.Config) { c.DisableRetries = true })
		second := httptest.NewServer(e.emu.Handler()) // same WeChat, another host
		defer second.Close()
		e.cfg.FallbackBaseURLs = []string{second.URL}
		e.client = e.newClient()
		e.emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, HTTPStatus: 502, ConsumeCode: true})
		_, err := e.code2Session(e.login(testAppID, "kim"))
		assertCategories(t, err, wechat.ErrBusy, wechat.ErrTransport)
		if got := errCode(err); got != 40163 {
			t.Errorf("errcode = %d, want 40163", got)
		}
	})
}

// TestDedupeSequential: a code exchanged after the first exchange finished is
// a real replay (40163), not deduplicated.
func TestDedupeSequential(t *testing.T) {
	e := newEnv(t)
	code := e.login(testAppID, "lee")
	if _, err := e.code2Session(code); err != nil {
		t.Fatal(err)
	}
	_, err := e.code2Session(code)
	assertCategories(t, err, wechat.ErrCodeUsed)
}
