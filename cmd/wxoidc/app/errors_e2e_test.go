package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// errorCase is one row of docs/contract.md §7 / docs/wechat.md §8, driven over HTTP.
type errorCase struct {
	name string
	// faults are injected before the request (after the codes are minted).
	faults []wechattest.Fault
	// setup runs before the codes are minted (e.g. block the user).
	setup func(s *stack, user string)
	// form builds the request for user; nil means a wx.login code plus a
	// phone code for user.
	form func(s *stack, user string) url.Values
	// header is added to the request (client authentication).
	header http.Header

	wantStatus     int
	wantError      string
	wantRetryAfter string // "" means the header must be absent
	wantDesc       string // substring of error_description
	// wantCalls, when set, is the expected outcome sequence of the calls to
	// callsAPI (errcode, or -HTTPStatus; see wechattest.Call).
	callsAPI  string
	wantCalls []int
}

// phoneForm is a wx.login code with a phone code of the same user.
func phoneForm(s *stack, user string) url.Values {
	code := s.login(appA, user)
	ph := s.phone(appA, user, "+8613800138000")
	return wechatForm(miniA, code, "phone_code", ph.Code, "scope", "openid phone")
}

// loginForm is a silent login (no phone).
func loginForm(s *stack, user string) url.Values {
	return wechatForm(miniA, s.login(appA, user), "scope", "openid")
}

func basicAuth(id, secret string) http.Header {
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	r.SetBasicAuth(id, secret)
	return http.Header{"Authorization": {r.Header.Get("Authorization")}}
}

func TestWeChatErrorMapping(t *testing.T) {
	s := newStack(t)
	jscode := func(f wechattest.Fault) wechattest.Fault { f.API = wechattest.APIJSCode2Session; return f }
	phoneAPI := func(f wechattest.Fault) wechattest.Fault { f.API = wechattest.APIPhoneNumber; return f }
	cases := []errorCase{
		// Code exchange (jscode2session).
		{name: "40029 invalid code", form: loginForm, faults: []wechattest.Fault{jscode(wechattest.Fault{ErrCode: 40029})},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "wx.login"},
		{name: "40029 unknown code (real)", form: func(*stack, string) url.Values { return wechatForm(miniA, "no-such-code") },
			wantStatus: 400, wantError: "invalid_grant", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{40029}},
		{name: "40163 code used (injected)", form: loginForm, faults: []wechattest.Fault{jscode(wechattest.Fault{ErrCode: 40163})},
			wantStatus: 400, wantError: "invalid_grant"},
		{name: "40163 code used (real replay)", form: func(s *stack, user string) url.Values {
			f := loginForm(s, user)
			mustToken(s.t, s.token(f))
			return f
		}, wantStatus: 400, wantError: "invalid_grant", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{40163}},
		{name: "40226 blocked user", setup: func(s *stack, user string) { s.Emu.BlockUser(appA, user) }, form: loginForm,
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "restricted by WeChat", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{40226}},
		{name: "45011 minute quota", form: loginForm, faults: []wechattest.Fault{jscode(wechattest.Fault{ErrCode: 45011})},
			wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "60", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{45011}},
		{name: "-1 twice", form: loginForm, faults: []wechattest.Fault{jscode(wechattest.Fault{ErrCode: -1, Times: 2})},
			wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "5", wantDesc: "fresh wx.login", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{-1, -1}},
		{name: "-1 once then the client's retry succeeds", form: loginForm, faults: []wechattest.Fault{jscode(wechattest.Fault{ErrCode: -1})},
			wantStatus: 200, callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{-1, 0}},
		{name: "note A: -1 after consuming the code, retry sees 40163", form: loginForm,
			faults:     []wechattest.Fault{jscode(wechattest.Fault{ErrCode: -1, ConsumeCode: true})},
			wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "5", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{-1, 40163}},
		{name: "HTTP 500 twice", form: loginForm, faults: []wechattest.Fault{jscode(wechattest.Fault{HTTPStatus: 500, Body: "oops", Times: 2})},
			wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "5", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{-500, -500}},
		{name: "HTTP 502 twice", form: loginForm, faults: []wechattest.Fault{jscode(wechattest.Fault{HTTPStatus: 502, Body: "<html>bad gateway</html>", Times: 2})},
			wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "5"},
		{name: "HTTP 502 once then success", form: loginForm, faults: []wechattest.Fault{jscode(wechattest.Fault{HTTPStatus: 502})},
			wantStatus: 200, callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{-502, 0}},
		{name: "non-JSON body", form: loginForm, faults: []wechattest.Fault{jscode(wechattest.Fault{RawBody: true, Body: "<html>maintenance</html>", Times: 2})},
			wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "5"},
		{name: "empty body", form: loginForm, faults: []wechattest.Fault{jscode(wechattest.Fault{RawBody: true, Times: 2})},
			wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "5"},
		{name: "40013 invalid appid (config)", form: loginForm, faults: []wechattest.Fault{jscode(wechattest.Fault{ErrCode: 40013})},
			wantStatus: 500, wantError: "server_error"},
		{name: "40125 invalid secret (injected)", form: loginForm, faults: []wechattest.Fault{jscode(wechattest.Fault{ErrCode: 40125})},
			wantStatus: 500, wantError: "server_error"},

		// Phone code exchange (getuserphonenumber, with the app access token).
		{name: "phone 40029 (injected)", faults: []wechattest.Fault{phoneAPI(wechattest.Fault{ErrCode: 40029})},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "phone button"},
		{name: "phone 40029 unknown phone code (real)", form: func(s *stack, user string) url.Values {
			return wechatForm(miniA, s.login(appA, user), "phone_code", "no-such-phone-code")
		}, wantStatus: 400, wantError: "invalid_grant", callsAPI: wechattest.APIPhoneNumber, wantCalls: []int{40029}},
		{name: "phone code replayed (real: 40029 on this API)", form: func(s *stack, user string) url.Values {
			ph := s.phone(appA, user, "+8613800138000")
			mustToken(s.t, s.token(wechatForm(miniA, s.login(appA, user), "phone_code", ph.Code)))
			return wechatForm(miniA, s.login(appA, user), "phone_code", ph.Code)
		}, wantStatus: 400, wantError: "invalid_grant", callsAPI: wechattest.APIPhoneNumber, wantCalls: []int{40029}},
		{name: "phone 40001 stale access token: refresh and retry", faults: []wechattest.Fault{phoneAPI(wechattest.Fault{ErrCode: 40001})},
			wantStatus: 200, callsAPI: wechattest.APIPhoneNumber, wantCalls: []int{40001, 0}},
		{name: "phone 42001 expired access token: refresh and retry", faults: []wechattest.Fault{phoneAPI(wechattest.Fault{ErrCode: 42001})},
			wantStatus: 200, callsAPI: wechattest.APIPhoneNumber, wantCalls: []int{42001, 0}},
		{name: "phone 40014 invalid access token: refresh and retry", faults: []wechattest.Fault{phoneAPI(wechattest.Fault{ErrCode: 40014})},
			wantStatus: 200, callsAPI: wechattest.APIPhoneNumber, wantCalls: []int{40014, 0}},
		{name: "phone 40001 twice: still rejected after one refresh", faults: []wechattest.Fault{phoneAPI(wechattest.Fault{ErrCode: 40001, Times: 2})},
			wantStatus: 500, wantError: "server_error", callsAPI: wechattest.APIPhoneNumber, wantCalls: []int{40001, 40001}},
		{name: "phone 45011", faults: []wechattest.Fault{phoneAPI(wechattest.Fault{ErrCode: 45011})},
			wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "60"},
		{name: "phone -1 twice", faults: []wechattest.Fault{phoneAPI(wechattest.Fault{ErrCode: -1, Times: 2})},
			wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "5"},
		{name: "phone note A: -1 after consuming, retry sees 40029", faults: []wechattest.Fault{phoneAPI(wechattest.Fault{ErrCode: -1, ConsumeCode: true})},
			wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "5", callsAPI: wechattest.APIPhoneNumber, wantCalls: []int{-1, 40029}},
		{name: "phone HTTP 502 twice", faults: []wechattest.Fault{phoneAPI(wechattest.Fault{HTTPStatus: 502, Times: 2})},
			wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "5"},
		{name: "phone 48001 no permission (config)", faults: []wechattest.Fault{phoneAPI(wechattest.Fault{ErrCode: 48001})},
			wantStatus: 500, wantError: "server_error"},

		// Request errors: refused before any WeChat call.
		{name: "unknown client", form: func(s *stack, user string) url.Values { return wechatForm("no-such-client", s.login(appA, user)) },
			wantStatus: 401, wantError: "invalid_client", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{}},
		{name: "grant not allowed for the client", header: basicAuth(backend, backendPw),
			form: func(s *stack, user string) url.Values {
				f := wechatForm(backend, s.login(appA, user))
				f.Del("client_id")
				return f
			},
			wantStatus: 400, wantError: "unauthorized_client", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{}},
		{name: "client bound to an unconfigured appid", form: func(s *stack, user string) url.Values {
			return wechatForm(miniUnbound, s.login(appA, user))
		}, wantStatus: 400, wantError: "unauthorized_client", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{}},
		{name: "unknown grant_type", form: func(s *stack, user string) url.Values {
			f := wechatForm(miniA, s.login(appA, user))
			f.Set("grant_type", "urn:example:no-such-grant")
			return f
		}, wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "authorization_code for a mini-program client", form: func(s *stack, user string) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "client_id": {miniA}, "code": {"x"}, "redirect_uri": {"https://a.example/cb"}}
		}, wantStatus: 400, wantError: "unauthorized_client"},
		{name: "missing code", form: func(*stack, string) url.Values {
			f := wechatForm(miniA, "")
			f.Del("code")
			return f
		}, wantStatus: 400, wantError: "invalid_request", wantDesc: "code", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{}},
		{name: "empty code", form: func(*stack, string) url.Values { return wechatForm(miniA, "") },
			wantStatus: 400, wantError: "invalid_request", wantDesc: "code"},
		{name: "oversized code", form: func(*stack, string) url.Values { return wechatForm(miniA, strings.Repeat("c", 300)) },
			wantStatus: 400, wantError: "invalid_request", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{}},
		{name: "encrypted_data without iv", form: func(s *stack, user string) url.Values {
			return wechatForm(miniA, s.login(appA, user), "encrypted_data", "AAAA")
		}, wantStatus: 400, wantError: "invalid_request", wantDesc: "iv", callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{}},
		{name: "iv without encrypted_data", form: func(s *stack, user string) url.Values {
			return wechatForm(miniA, s.login(appA, user), "iv", "AAAAAAAAAAAAAAAAAAAAAA==")
		}, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone_code and encrypted_data together", form: func(s *stack, user string) url.Values {
			ph := s.phone(appA, user, "+8613800138000")
			return wechatForm(miniA, s.login(appA, user), "phone_code", ph.Code, "encrypted_data", ph.EncryptedData, "iv", ph.IV)
		}, wantStatus: 400, wantError: "invalid_request"},
	}

	unbound := storage.Client{
		ID: miniUnbound, TokenEndpointAuthMethod: provider.AuthMethodNone, WeChatAppID: "wxcccccccccccccccc",
		GrantTypes: []string{grantType}, Scopes: []string{"openid"}, DefaultAudience: s.URL,
	}
	if err := s.App.Store.CreateClient(t.Context(), unbound); err != nil {
		t.Fatal(err)
	}

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			user := fmt.Sprintf("err-user-%d", i)
			s.t = t // the stack's helpers fail this sub-test
			defer s.Emu.ClearFaults()
			if c.setup != nil {
				c.setup(s, user)
			}
			build := c.form
			if build == nil {
				build = phoneForm
			}
			form := build(s, user)
			s.Emu.ResetCalls()
			for _, f := range c.faults {
				s.Emu.Inject(f)
			}
			checkTokenError(t, s, c, form)
		})
	}
	s.t = t
}

// miniUnbound is a mini-program client whose appid has no configured secret.
const miniUnbound = "mini-unbound"

func checkTokenError(t *testing.T, s *stack, c errorCase, form url.Values) {
	t.Helper()
	resp, body := s.postForm("/oauth2/token", form, c.header)
	tr := decodeTokenResponse(t, resp, body)
	if tr.Status != c.wantStatus || tr.Error != c.wantError {
		t.Fatalf("got %d %q (%s), want %d %q", tr.Status, tr.Error, tr.Description, c.wantStatus, c.wantError)
	}
	if got := resp.Header.Get("Retry-After"); got != c.wantRetryAfter {
		t.Errorf("Retry-After = %q, want %q", got, c.wantRetryAfter)
	}
	if c.wantDesc != "" && !strings.Contains(tr.Description, c.wantDesc) {
		t.Errorf("error_description %q does not mention %q", tr.Description, c.wantDesc)
	}
	if c.wantStatus == http.StatusOK {
		if tr.AccessToken == "" || tr.IDToken == "" {
			t.Errorf("incomplete success: %s", body)
		}
	} else {
		assertOAuthErrorShape(t, resp, body)
		assertNoLeak(t, body, form)
	}
	if c.wantCalls != nil {
		var got []int
		for _, call := range s.Emu.CallsTo(c.callsAPI) {
			got = append(got, call.Outcome)
		}
		if !slices.Equal(got, c.wantCalls) {
			t.Errorf("%s calls = %v, want %v", c.callsAPI, got, c.wantCalls)
		}
	}
}

func decodeTokenResponse(t *testing.T, resp *http.Response, body []byte) tokenResponse {
	t.Helper()
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("token response is not JSON (%d): %q", resp.StatusCode, body)
	}
	tr.Status = resp.StatusCode
	tr.RetryAfter = resp.Header.Get("Retry-After")
	return tr
}

// assertOAuthErrorShape checks an RFC 6749 §5.2 error answer.
func assertOAuthErrorShape(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var e struct {
		Error       *string `json:"error"`
		Description string  `json:"error_description"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || *e.Error == "" {
		t.Errorf("not an RFC 6749 error body: %q", body)
		return
	}
	for _, r := range *e.Error {
		// RFC 6749 §5.2: error is %x20-21 / %x23-5B / %x5D-7E.
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			t.Errorf("error code %q has a character outside RFC 6749's set", *e.Error)
		}
	}
	for _, leak := range []string{"goroutine ", ".go:", "panic", "errcode", "rid:", "sql", "SQL"} {
		if strings.Contains(e.Description, leak) {
			t.Errorf("error_description leaks internals (%q): %q", leak, e.Description)
		}
	}
}

// assertNoLeak checks that an error answer echoes none of the request's
// credentials and none of the WeChat secrets.
func assertNoLeak(t *testing.T, body []byte, form url.Values) {
	t.Helper()
	secrets := []string{secretA, secretB, backendPw, "wrong-secret-for-app-a"}
	for _, k := range []string{"code", "phone_code", "encrypted_data", "iv", "client_secret", "refresh_token", "token"} {
		if v := form.Get(k); len(v) >= 8 {
			secrets = append(secrets, v)
		}
	}
	for _, v := range secrets {
		if strings.Contains(string(body), v) {
			t.Errorf("error answer echoes a credential: %q", body)
		}
	}
	for _, digits := range []string{"13800138000", "40125", "40013", "48001"} {
		if strings.Contains(string(body), digits) {
			t.Errorf("error answer leaks %q: %q", digits, body)
		}
	}
}

// A wrong app secret is an operator's mistake: 500 with a generic
// description, nothing of WeChat's answer, and no retry of the code.
func TestWeChatWrongAppSecretIsServerError(t *testing.T) {
	s := newStack(t, func(c *config.Config) {
		c.WeChat.Apps[0].Secret = config.InlineSecret("wrong-secret-for-app-a")
	})
	form := loginForm(s, "zoe")
	checkTokenError(t, s, errorCase{
		wantStatus: 500, wantError: "server_error", wantDesc: "could not complete",
		callsAPI: wechattest.APIJSCode2Session, wantCalls: []int{40125},
	}, form)
	// The other app is unaffected.
	mustToken(t, s.token(wechatForm(miniB, s.login(appB, "zoe"))))
}

// A WeChat that never answers within wechat.call_timeout is a transport
// failure: one retry, then 503.
func TestWeChatTimeoutIsTemporarilyUnavailable(t *testing.T) {
	s := newStack(t, func(c *config.Config) { c.WeChat.CallTimeout = config.D(150 * time.Millisecond) })
	form := loginForm(s, "yann")
	s.Emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, Delay: time.Minute, Times: 2})
	start := time.Now()
	checkTokenError(t, s, errorCase{
		wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "5",
	}, form)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the timeout took %v", d)
	}
	// Neither attempt reached WeChat's processing, so the code is still good
	// once WeChat answers again.
	mustToken(t, s.token(form))
}
