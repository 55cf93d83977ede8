package wechat_test

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/wechat"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

const (
	testAppID  = "wx1234567890abcdef"
	testSecret = "app-secret-0123456789abcdef01234567"
	otherAppID = "wxfedcba0987654321"
	otherSecr  = "other-secret-abcdefabcdefabcdefabcd"
	openPlatID = "open-platform-1"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// env is a client wired to an emulator, with a manual clock shared by both
// (unless a test splits them) and a leak check on everything logged.
type env struct {
	t      *testing.T
	emu    *wechattest.Emulator
	srv    *httptest.Server
	clock  *wechattest.ManualClock
	cfg    wechat.Config
	client *wechat.Client
	app    wechat.App
	logs   *testharness.Buffer
	leaks  testharness.Secrets
}

type envOption func(*wechattest.Options, *wechat.Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	clock := wechattest.NewManualClock(t0)
	eo := wechattest.Options{Clock: clock}
	logs := &testharness.Buffer{}
	cfg := wechat.Config{
		Now:          clock.Now,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RetryBackoff: time.Millisecond,
		CallTimeout:  5 * time.Second,
	}
	for _, o := range opts {
		o(&eo, &cfg)
	}
	emu, srv := wechattest.NewServer(t, eo)
	if cfg.BaseURL == "" {
		cfg.BaseURL = srv.URL
	}
	emu.RegisterApp(wechattest.App{AppID: testAppID, Secret: testSecret, OpenPlatformID: openPlatID, PhoneAPI: true})
	emu.RegisterApp(wechattest.App{AppID: otherAppID, Secret: otherSecr, PhoneAPI: true})
	c, err := wechat.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	e := &env{
		t: t, emu: emu, srv: srv, clock: clock, cfg: cfg, client: c, logs: logs,
		app: wechat.App{AppID: testAppID, Secret: testSecret},
	}
	e.secret(testSecret, otherSecr)
	t.Cleanup(func() { e.assertNoLeak("logs", logs.String()) })
	return e
}

// newClient builds another client on the same emulator (a sibling instance).
func (e *env) newClient() *wechat.Client {
	e.t.Helper()
	c, err := wechat.NewClient(e.cfg)
	if err != nil {
		e.t.Fatalf("NewClient: %v", err)
	}
	return c
}

// secret adds values the logs and errors must never contain.
func (e *env) secret(s ...string) { e.leaks.Add(s...) }

// assertNoLeak fails if s contains a secret, code, key, token, encrypted data
// or phone number the test has seen.
func (e *env) assertNoLeak(what, s string) {
	e.t.Helper()
	e.leaks.Check(e.t, what, s)
}

func (e *env) login(appID, user string) string {
	e.t.Helper()
	code, err := e.emu.Login(appID, user)
	if err != nil {
		e.t.Fatalf("Login: %v", err)
	}
	e.secret(code)
	return code
}

func (e *env) phone(appID, user, number string) wechattest.PhoneGrant {
	e.t.Helper()
	g, err := e.emu.Phone(appID, user, number)
	if err != nil {
		e.t.Fatalf("Phone: %v", err)
	}
	e.secret(g.Code, g.EncryptedData, number, strings.TrimPrefix(number, "+86"))
	return g
}

func (e *env) code2Session(code string) (wechat.Session, error) {
	e.t.Helper()
	s, err := e.client.Code2Session(context.Background(), e.app, code)
	e.checkResult(s.SessionKey, err)
	return s, err
}

func (e *env) phoneNumber(code, openID string) (wechat.Phone, error) {
	e.t.Helper()
	p, err := e.client.PhoneNumber(context.Background(), e.app, code, openID)
	if err != nil {
		e.assertNoLeak("error", err.Error())
	}
	return p, err
}

func (e *env) checkResult(k wechat.SessionKey, err error) {
	e.t.Helper()
	if !k.IsZero() {
		e.secret(base64.StdEncoding.EncodeToString(k.Bytes()))
	}
	if err != nil {
		e.assertNoLeak("error", err.Error())
	}
}

func (e *env) calls(api string) int { return len(e.emu.CallsTo(api)) }

// categories lists every sentinel, to assert an error matches exactly the
// expected ones.
var categories = map[string]error{
	"ErrInvalidCode": wechat.ErrInvalidCode,
	"ErrCodeUsed":    wechat.ErrCodeUsed,
	"ErrBlockedUser": wechat.ErrBlockedUser,
	"ErrRateLimited": wechat.ErrRateLimited,
	"ErrBusy":        wechat.ErrBusy,
	"ErrConfig":      wechat.ErrConfig,
	"ErrTransport":   wechat.ErrTransport,
	"ErrAccessToken": wechat.ErrAccessToken,
	"ErrDecrypt":     wechat.ErrDecrypt,
	"ErrWatermark":   wechat.ErrWatermark,
	"ErrInvalidPage": wechat.ErrInvalidPage,
}

// assertCategories checks that err matches exactly the named categories.
func assertCategories(t *testing.T, err error, want ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %v", want)
	}
	for name, sentinel := range categories {
		wanted := false
		for _, w := range want {
			if w == sentinel {
				wanted = true
			}
		}
		if got := errors.Is(err, sentinel); got != wanted {
			t.Errorf("errors.Is(err, %s) = %v, want %v (err: %v)", name, got, wanted, err)
		}
	}
}

func errCode(err error) int {
	var we *wechat.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return 0
}
