package wechat_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/wechat"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

func TestPhoneNumberSuccess(t *testing.T) {
	tests := []struct {
		number, wantCC, wantPure, wantFull string
	}{
		{"+8613800138000", "86", "13800138000", "13800138000"},
		{"+14155550123", "1", "4155550123", "+14155550123"},
		{"+447911123456", "44", "7911123456", "+447911123456"},
		{"+85291234567", "852", "91234567", "+85291234567"},
	}
	for _, tc := range tests {
		e := newEnv(t)
		g := e.phone(testAppID, "alice", tc.number)
		e.clock.Advance(time.Minute)
		p, err := e.phoneNumber(g.Code, e.emu.OpenID(testAppID, "alice"))
		if err != nil {
			t.Fatalf("%s: %v", tc.number, err)
		}
		if p.CountryCode != tc.wantCC || p.PurePhoneNumber != tc.wantPure || p.PhoneNumber != tc.wantFull {
			t.Errorf("%s: got cc=%q pure=%q full=%q", tc.number, p.CountryCode, p.PurePhoneNumber, p.PhoneNumber)
		}
		if p.E164() != tc.number {
			t.Errorf("E164() = %q, want %q", p.E164(), tc.number)
		}
		if p.WatermarkAppID != testAppID || !p.WatermarkTime.Equal(t0) {
			t.Errorf("watermark = %q %v, want %q %v", p.WatermarkAppID, p.WatermarkTime, testAppID, t0)
		}
	}
}

func TestPhoneNumberWithoutOpenID(t *testing.T) {
	e := newEnv(t)
	g := e.phone(testAppID, "alice", "+8613800138000")
	if _, err := e.phoneNumber(g.Code, ""); err != nil {
		t.Fatal(err)
	}
}

func TestPhoneNumberEmulatedErrors(t *testing.T) {
	tests := []struct {
		name string
		run  func(e *env) (code, openID string)
		code int
		want error
	}{
		{"reused code", func(e *env) (string, string) {
			g := e.phone(testAppID, "u", "+8613800138000")
			if _, err := e.phoneNumber(g.Code, ""); err != nil {
				e.t.Fatal(err)
			}
			return g.Code, ""
		}, 40029, wechat.ErrInvalidCode},
		{"expired code", func(e *env) (string, string) {
			g := e.phone(testAppID, "u", "+8613800138000")
			e.clock.Advance(5*time.Minute + time.Second)
			return g.Code, ""
		}, 40029, wechat.ErrInvalidCode},
		{"login code", func(e *env) (string, string) { return e.login(testAppID, "u"), "" }, 40029, wechat.ErrInvalidCode},
		{"unknown code", func(e *env) (string, string) { return "nope-nope-nope", "" }, 40029, wechat.ErrInvalidCode},
		{"openid of another user", func(e *env) (string, string) {
			return e.phone(testAppID, "u", "+8613800138000").Code, e.emu.OpenID(testAppID, "someone-else")
		}, 40029, wechat.ErrInvalidCode},
		{"code of another appid", func(e *env) (string, string) {
			return e.phone(otherAppID, "u", "+8613800138000").Code, ""
		}, 40013, wechat.ErrConfig},
		{"phone API not allowed", func(e *env) (string, string) {
			e.emu.RegisterApp(wechattest.App{AppID: testAppID, Secret: testSecret})
			return e.phone(testAppID, "u", "+8613800138000").Code, ""
		}, 48001, wechat.ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			code, openID := tc.run(e)
			e.emu.ResetCalls()
			_, err := e.phoneNumber(code, openID)
			assertCategories(t, err, tc.want)
			if got := errCode(err); got != tc.code {
				t.Errorf("errcode = %d, want %d", got, tc.code)
			}
			if n := e.calls(wechattest.APIPhoneNumber); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
		})
	}
}

func TestPhoneNumberLenientAndStrictParsing(t *testing.T) {
	body := func(cc, appid string) string {
		return fmt.Sprintf(`{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13580006666","purePhoneNumber":"13580006666","countryCode":%s,"watermark":{"timestamp":1637744274,"appid":%q}}}`, cc, appid)
	}
	tests := []struct {
		name string
		body string
		want []error
	}{
		{"countryCode as number (doc sample)", body(`86`, testAppID), nil},
		{"countryCode as string", body(`"86"`, testAppID), nil},
		{"watermark of another appid", body(`"86"`, otherAppID), []error{wechat.ErrWatermark}},
		{"countryCode not digits", body(`"8x"`, testAppID), []error{wechat.ErrTransport}},
		{"no phone_info", `{"errcode":0,"errmsg":"ok"}`, []error{wechat.ErrTransport}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			g := e.phone(testAppID, "u", "+8613580006666")
			e.emu.Inject(wechattest.Fault{API: wechattest.APIPhoneNumber, RawBody: true, Body: tc.body, ContentType: "text/plain"})
			p, err := e.phoneNumber(g.Code, "")
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if p.E164() != "+8613580006666" || p.WatermarkTime.Unix() != 1637744274 {
					t.Errorf("got %s %v", p.E164(), p.WatermarkTime)
				}
				return
			}
			assertCategories(t, err, tc.want...)
		})
	}
}

// TestPhoneNumberTokenInvalidated: another party force-refreshes the stable
// token; the cached one answers 40001; the client refreshes once and retries.
func TestPhoneNumberTokenInvalidated(t *testing.T) {
	e := newEnv(t)
	if _, err := e.client.AccessToken(context.Background(), e.app); err != nil {
		t.Fatal(err)
	}
	e.emu.ForceRefreshStableToken(testAppID)
	g := e.phone(testAppID, "u", "+8613800138000")
	e.emu.ResetCalls()
	if _, err := e.phoneNumber(g.Code, ""); err != nil {
		t.Fatal(err)
	}
	calls := e.emu.Calls()
	want := []struct {
		api     string
		outcome int
	}{{wechattest.APIPhoneNumber, 40001}, {wechattest.APIStableToken, 0}, {wechattest.APIPhoneNumber, 0}}
	if len(calls) != len(want) {
		t.Fatalf("calls = %+v", calls)
	}
	for i, w := range want {
		if calls[i].API != w.api || calls[i].Outcome != w.outcome {
			t.Errorf("call %d = %s/%d, want %s/%d", i, calls[i].API, calls[i].Outcome, w.api, w.outcome)
		}
	}
}

// TestPhoneNumberTokenExpired: the client's clock lags the emulator's, so
// the cached token is expired at WeChat (42001); refresh and retry once.
func TestPhoneNumberTokenExpired(t *testing.T) {
	clientClock := wechattest.NewManualClock(t0)
	e := newEnv(t, func(_ *wechattest.Options, c *wechat.Config) { c.Now = clientClock.Now })
	if _, err := e.client.AccessToken(context.Background(), e.app); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2*time.Hour + time.Second)
	g := e.phone(testAppID, "u", "+8613800138000")
	e.emu.ResetCalls()
	if _, err := e.phoneNumber(g.Code, ""); err != nil {
		t.Fatal(err)
	}
	calls := e.emu.CallsTo(wechattest.APIPhoneNumber)
	if len(calls) != 2 || calls[0].Outcome != 42001 || calls[1].Outcome != 0 {
		t.Errorf("phone calls = %+v, want 42001 then success", calls)
	}
}

// TestPhoneNumberTokenRefreshConcurrent: many callers hit 40001 at once and
// share a single refresh (run with -race).
func TestPhoneNumberTokenRefreshConcurrent(t *testing.T) {
	e := newEnv(t)
	if _, err := e.client.AccessToken(context.Background(), e.app); err != nil {
		t.Fatal(err)
	}
	const n = 32
	codes := make([]string, n)
	for i := range codes {
		codes[i] = e.phone(testAppID, fmt.Sprintf("user%d", i), "+8613800138000").Code
	}
	e.emu.ForceRefreshStableToken(testAppID)
	e.emu.ResetCalls()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, c := range codes {
		wg.Go(func() {
			if _, err := e.phoneNumber(c, ""); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := e.calls(wechattest.APIStableToken); got != 1 {
		t.Errorf("%d stable_token calls, want exactly 1 shared refresh", got)
	}
	ok := 0
	for _, c := range e.emu.CallsTo(wechattest.APIPhoneNumber) {
		if c.Outcome == 0 {
			ok++
		} else if c.Outcome != 40001 {
			t.Errorf("unexpected outcome %d", c.Outcome)
		}
	}
	if ok != n {
		t.Errorf("%d successful phone calls, want %d", ok, n)
	}
}

func TestPhoneNumberNoteA(t *testing.T) {
	e := newEnv(t)
	g := e.phone(testAppID, "u", "+8613800138000")
	e.emu.Inject(wechattest.Fault{API: wechattest.APIPhoneNumber, ErrCode: -1, ConsumeCode: true})
	_, err := e.phoneNumber(g.Code, "")
	// The retry answers 40029 (a reused phone code): reported as busy.
	assertCategories(t, err, wechat.ErrBusy)
	if got := errCode(err); got != 40029 {
		t.Errorf("errcode = %d, want 40029", got)
	}
}

func TestPhoneNumberTokenErrorsSurface(t *testing.T) {
	e := newEnv(t)
	e.secret("bad-secret-value-xyz")
	_, err := e.client.PhoneNumber(context.Background(), wechat.App{AppID: testAppID, Secret: "bad-secret-value-xyz"}, "code-code-code", "")
	e.checkResult(wechat.SessionKey{}, err)
	assertCategories(t, err, wechat.ErrConfig)
	if got := errCode(err); got != 40125 {
		t.Errorf("errcode = %d, want 40125 from stable_token", got)
	}
	if e.calls(wechattest.APIPhoneNumber) != 0 {
		t.Error("phone API called without a token")
	}
}
