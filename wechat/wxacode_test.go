package wechat_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/wechat"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// testScene is distinctive enough that finding it in a log or error text
// means it leaked.
const testScene = "tkt-Q7xZ9wK2"

func TestValidScene(t *testing.T) {
	tests := []struct {
		name  string
		scene string
		want  bool
	}{
		{"letters and digits", "abcXYZ0189", true},
		{"one character", "a", true},
		{"exactly 32", strings.Repeat("a", 32), true},
		{"empty", "", false},
		{"33 characters", strings.Repeat("a", 33), false},
		{"percent", "a%20b", false},
		{"space", "a b", false},
		{"double quote", `a"b`, false},
		{"backslash", `a\b`, false},
		{"angle bracket", "a<b", false},
		{"caret", "a^b", false},
		{"backtick", "a`b", false},
		{"brace", "a{b", false},
		{"pipe", "a|b", false},
		{"bracket", "a[b", false},
		{"tab", "a\tb", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7fb", false},
		{"non-ASCII", "票据", false},
		{"non-ASCII letter", "é", false},
		{"invalid UTF-8", "a\xffb", false},
	}
	for _, c := range "!#$&'()*+,/:;=?@-._~" {
		tests = append(tests, struct {
			name  string
			scene string
			want  bool
		}{"punctuation " + string(c), "a" + string(c) + "b", true}, struct {
			name  string
			scene string
			want  bool
		}{"punctuation alone " + string(c), string(c), true})
	}
	for _, tc := range tests {
		if got := wechat.ValidScene(tc.scene); got != tc.want {
			t.Errorf("%s: ValidScene(%q) = %v, want %v", tc.name, tc.scene, got, tc.want)
		}
	}
}

func (e *env) unlimitedCode(req wechat.CodeRequest) (wechat.CodeImage, error) {
	e.t.Helper()
	e.secret(req.Scene)
	img, err := e.client.UnlimitedCode(context.Background(), e.app, req)
	if err != nil {
		e.assertNoLeak("error", err.Error())
	}
	return img, err
}

func TestUnlimitedCodeSuccess(t *testing.T) {
	tests := []struct {
		name      string
		req       wechat.CodeRequest
		wantWidth int
		wantEnv   string
	}{
		{"defaults", wechat.CodeRequest{Scene: testScene}, 430, wechat.EnvRelease},
		{"page and width", wechat.CodeRequest{Scene: testScene, Page: "pages/login/index", Width: 280}, 280, wechat.EnvRelease},
		{"largest width", wechat.CodeRequest{Scene: "!#$&'()*+,/:;=?@-._~", Width: 1280}, 1280, wechat.EnvRelease},
		{"trial without path check", wechat.CodeRequest{Scene: testScene, Page: "pages/new/index", EnvVersion: wechat.EnvTrial, SkipPathCheck: true}, 430, wechat.EnvTrial},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			img, err := e.unlimitedCode(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if img.ContentType != "image/png" {
				t.Errorf("ContentType = %q", img.ContentType)
			}
			decoded, err := png.Decode(bytes.NewReader(img.Bytes))
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if b := decoded.Bounds(); b.Dx() != tc.wantWidth || b.Dy() != tc.wantWidth {
				t.Errorf("image is %v, want %dx%d", b, tc.wantWidth, tc.wantWidth)
			}
			got, ok := e.emu.IssuedCode(tc.req.Scene)
			if !ok || got.AppID != testAppID || got.Page != tc.req.Page || got.EnvVersion != tc.wantEnv || got.Width != tc.wantWidth {
				t.Errorf("emulator recorded %+v (found %v)", got, ok)
			}
		})
	}
}

// The body decides, not Content-Type: a JPEG served as text/plain is an
// image, and an image answer is held to its own bound, not
// MaxResponseBytes.
func TestUnlimitedCodeSniffsTheBody(t *testing.T) {
	e := newEnv(t, func(_ *wechattest.Options, c *wechat.Config) { c.MaxResponseBytes = 4096 })
	jpeg := "\xff\xd8\xff\xe0" + strings.Repeat("x", 200<<10)
	e.emu.Inject(wechattest.Fault{API: wechattest.APIUnlimitedCode, RawBody: true, Body: jpeg, ContentType: "text/plain"})
	img, err := e.unlimitedCode(wechat.CodeRequest{Scene: testScene})
	if err != nil {
		t.Fatal(err)
	}
	if img.ContentType != "image/jpeg" || string(img.Bytes) != jpeg {
		t.Errorf("got %q, %d bytes", img.ContentType, len(img.Bytes))
	}
}

func TestUnlimitedCodeRequestValidation(t *testing.T) {
	tests := []struct {
		name     string
		req      wechat.CodeRequest
		wantText string
	}{
		{"empty scene", wechat.CodeRequest{}, "invalid scene"},
		{"scene with percent", wechat.CodeRequest{Scene: "a%41"}, "invalid scene"},
		{"scene of 33", wechat.CodeRequest{Scene: strings.Repeat("s", 33)}, "invalid scene"},
		{"scene with space", wechat.CodeRequest{Scene: "tkt Q7xZ9"}, "invalid scene"},
		{"page with leading slash", wechat.CodeRequest{Scene: testScene, Page: "/pages/login/index"}, "invalid page"},
		{"page with query", wechat.CodeRequest{Scene: testScene, Page: "pages/login/index?x=1"}, "invalid page"},
		{"page with space", wechat.CodeRequest{Scene: testScene, Page: "pages/log in"}, "invalid page"},
		{"page non-ASCII", wechat.CodeRequest{Scene: testScene, Page: "pages/登录"}, "invalid page"},
		{"page too long", wechat.CodeRequest{Scene: testScene, Page: strings.Repeat("p", 257)}, "invalid page"},
		{"unknown env_version", wechat.CodeRequest{Scene: testScene, EnvVersion: "prod"}, "env_version"},
		{"width too small", wechat.CodeRequest{Scene: testScene, Width: 279}, "width"},
		{"width too large", wechat.CodeRequest{Scene: testScene, Width: 1281}, "width"},
		{"negative width", wechat.CodeRequest{Scene: testScene, Width: -1}, "width"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.unlimitedCode(tc.req)
			assertCategories(t, err, wechat.ErrConfig)
			if err != nil && !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
			if n := len(e.emu.Calls()); n != 0 {
				t.Errorf("%d calls to WeChat, want none", n)
			}
		})
	}
	// The edges are accepted.
	e := newEnv(t)
	for _, req := range []wechat.CodeRequest{
		{Scene: testScene, Page: strings.Repeat("p", 256)},
		{Scene: testScene, EnvVersion: wechat.EnvDevelop, SkipPathCheck: true},
	} {
		if _, err := e.unlimitedCode(req); err != nil {
			t.Errorf("%+v: %v", req, err)
		}
	}
}

func TestUnlimitedCodeNeedsAnApp(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.UnlimitedCode(context.Background(), wechat.App{AppID: testAppID}, wechat.CodeRequest{Scene: testScene})
	assertCategories(t, err, wechat.ErrConfig)
}

// TestUnlimitedCodeTokenInvalidated: the cached token was force-refreshed
// away; the client refreshes once and retries.
func TestUnlimitedCodeTokenInvalidated(t *testing.T) {
	e := newEnv(t)
	if _, err := e.client.AccessToken(context.Background(), e.app); err != nil {
		t.Fatal(err)
	}
	e.emu.ForceRefreshStableToken(testAppID)
	e.emu.ResetCalls()
	if _, err := e.unlimitedCode(wechat.CodeRequest{Scene: testScene}); err != nil {
		t.Fatal(err)
	}
	calls := e.emu.Calls()
	want := []struct {
		api     string
		outcome int
	}{{wechattest.APIUnlimitedCode, 40001}, {wechattest.APIStableToken, 0}, {wechattest.APIUnlimitedCode, 0}}
	if len(calls) != len(want) {
		t.Fatalf("calls = %+v", calls)
	}
	for i, w := range want {
		if calls[i].API != w.api || calls[i].Outcome != w.outcome {
			t.Errorf("call %d = %s/%d, want %s/%d", i, calls[i].API, calls[i].Outcome, w.api, w.outcome)
		}
	}
}

// A token rejected twice is ErrAccessToken after exactly one refresh.
func TestUnlimitedCodeTokenRejectedTwice(t *testing.T) {
	e := newEnv(t)
	e.emu.Inject(wechattest.Fault{API: wechattest.APIUnlimitedCode, ErrCode: 42001, Times: 2})
	_, err := e.unlimitedCode(wechat.CodeRequest{Scene: testScene})
	assertCategories(t, err, wechat.ErrAccessToken)
	if n := e.calls(wechattest.APIUnlimitedCode); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

func TestUnlimitedCodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		fault wechattest.Fault
		pages []string
		req   wechat.CodeRequest
		code  int
		want  []error
		calls int
	}{
		{"daily quota", wechattest.Fault{ErrCode: 45009}, nil, wechat.CodeRequest{Scene: testScene}, 45009, []error{wechat.ErrRateLimited}, 1},
		{"minute quota", wechattest.Fault{ErrCode: 45011}, nil, wechat.CodeRequest{Scene: testScene}, 45011, []error{wechat.ErrRateLimited}, 1},
		{"JSON error served as image/jpeg", wechattest.Fault{ErrCode: 45009, ContentType: "image/jpeg"}, nil, wechat.CodeRequest{Scene: testScene}, 45009, []error{wechat.ErrRateLimited}, 1},
		{"page not released", wechattest.Fault{}, []string{"pages/index/index"}, wechat.CodeRequest{Scene: testScene, Page: "pages/login/index"}, 41030, []error{wechat.ErrInvalidPage, wechat.ErrConfig}, 1},
		{"invalid args", wechattest.Fault{ErrCode: 40097}, nil, wechat.CodeRequest{Scene: testScene}, 40097, []error{wechat.ErrConfig}, 1},
		{"invalid appid", wechattest.Fault{ErrCode: 40013}, nil, wechat.CodeRequest{Scene: testScene}, 40013, []error{wechat.ErrConfig}, 1},
		{"busy twice", wechattest.Fault{ErrCode: -1, Times: 2}, nil, wechat.CodeRequest{Scene: testScene}, -1, []error{wechat.ErrBusy}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.pages != nil {
				e.emu.RegisterApp(wechattest.App{AppID: testAppID, Secret: testSecret, Pages: tc.pages})
			}
			if tc.fault.ErrCode != 0 {
				tc.fault.API = wechattest.APIUnlimitedCode
				e.emu.Inject(tc.fault)
			}
			img, err := e.unlimitedCode(tc.req)
			if img.Bytes != nil {
				t.Error("an error answer returned image bytes")
			}
			assertCategories(t, err, tc.want...)
			if got := errCode(err); got != tc.code {
				t.Errorf("errcode = %d, want %d", got, tc.code)
			}
			if n := e.calls(wechattest.APIUnlimitedCode); n != tc.calls {
				t.Errorf("%d calls, want %d", n, tc.calls)
			}
		})
	}
}

func TestUnlimitedCodeMinuteQuotaRetryAfter(t *testing.T) {
	e := newEnv(t)
	e.emu.Inject(wechattest.Fault{API: wechattest.APIUnlimitedCode, ErrCode: 45011})
	_, err := e.unlimitedCode(wechat.CodeRequest{Scene: testScene})
	if got := wechat.RetryAfter(err); got.Seconds() != 60 {
		t.Errorf("RetryAfter = %v, want 1m", got)
	}
}

func TestUnlimitedCodeBusyThenSuccess(t *testing.T) {
	e := newEnv(t)
	e.emu.Inject(wechattest.Fault{API: wechattest.APIUnlimitedCode, ErrCode: -1})
	if _, err := e.unlimitedCode(wechat.CodeRequest{Scene: testScene}); err != nil {
		t.Fatal(err)
	}
	if n := e.calls(wechattest.APIUnlimitedCode); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

func TestUnlimitedCodeUnusableBodies(t *testing.T) {
	big := "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 1<<20)
	tests := []struct {
		name, body, ctype, reason string
		maxBytes                  int64
	}{
		{"oversize PNG", big, "image/png", "larger than", 0},
		{"oversize JPEG under a small JSON bound", "\xff\xd8\xff" + strings.Repeat("\x00", 1<<20), "image/jpeg", "larger than", 4096},
		{"JSON over MaxResponseBytes", `{"errcode":45009,"errmsg":"` + strings.Repeat("x", 5000) + `"}`, "application/json", "larger than", 4096},
		{"garbage", "GIF89a not a code", "image/jpeg", "non-JSON", 0},
		{"truncated PNG magic", "\x89PNG\r\n", "image/png", "non-JSON", 0},
		{"HTML", "<html>502</html>", "text/html", "non-JSON", 0},
		{"empty", "", "image/png", "empty", 0},
		{"JSON success without an image", `{"errcode":0,"errmsg":"ok"}`, "application/json", "without an image", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(_ *wechattest.Options, c *wechat.Config) {
				c.MaxResponseBytes = tc.maxBytes
				c.DisableRetries = true
			})
			e.emu.Inject(wechattest.Fault{API: wechattest.APIUnlimitedCode, RawBody: true, Body: tc.body, ContentType: tc.ctype})
			_, err := e.unlimitedCode(wechat.CodeRequest{Scene: testScene})
			assertCategories(t, err, wechat.ErrTransport)
			var te *wechat.TransportError
			if !errors.As(err, &te) || !strings.Contains(te.Reason, tc.reason) {
				t.Errorf("err = %v, want a TransportError saying %q", err, tc.reason)
			}
		})
	}
}

// An errmsg echoing what we sent is scrubbed: the scene is a sign-in ticket.
func TestUnlimitedCodeErrmsgScrubbed(t *testing.T) {
	e := newEnv(t)
	e.emu.Inject(wechattest.Fault{API: wechattest.APIUnlimitedCode, RawBody: true, ContentType: "image/jpeg",
		Body: `{"errcode":40097,"errmsg":"invalid args, scene ` + testScene + `"}`})
	_, err := e.unlimitedCode(wechat.CodeRequest{Scene: testScene})
	assertCategories(t, err, wechat.ErrConfig)
	if err == nil || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("err = %v", err)
	}
}

func TestUnlimitedCodeObserved(t *testing.T) {
	rec := &callRecorder{}
	e := newEnv(t, func(_ *wechattest.Options, c *wechat.Config) { c.Observer = rec })
	e.emu.Inject(wechattest.Fault{API: wechattest.APIUnlimitedCode, ErrCode: 45009})
	if _, err := e.unlimitedCode(wechat.CodeRequest{Scene: testScene}); err == nil {
		t.Fatal("quota error accepted")
	}
	if _, err := e.unlimitedCode(wechat.CodeRequest{Scene: testScene}); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var got []observedCall
	for _, c := range rec.calls {
		if c.api != "stable_token" {
			got = append(got, c)
		}
	}
	want := []observedCall{{"wxa_getwxacodeunlimit", "45009"}, {"wxa_getwxacodeunlimit", "0"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("observed %v, want %v", got, want)
	}
}
