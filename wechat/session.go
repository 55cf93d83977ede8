package wechat

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
)

// Session is code2Session's answer.
type Session struct {
	OpenID     string
	UnionID    string // "" when the mini-program is not bound to an open platform
	SessionKey SessionKey
}

// maxCodeLen bounds login and phone codes before they are sent. WeChat's are
// 32 characters; the bound only keeps junk away from the upstream.
const maxCodeLen = 512

func checkCode(api, code string) error {
	if !printable(code, maxCodeLen) {
		return fmt.Errorf("wechat %s: empty, oversize or non-printable code: %w", api, ErrInvalidCode)
	}
	return nil
}

// flightKey identifies one code exchange for deduplication, without keeping
// the code itself in memory longer than the call.
func flightKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}

// Code2Session exchanges a wx.login code (GET /sns/jscode2session) for the
// user's openid, unionid (when the app is bound to an open platform) and
// current session key.
//
// Note A policy (docs/wechat.md §8): the code is single use and WeChat may consume
// it even when it answers -1 or the connection fails. After such an attempt
// the call is retried once (short backoff within ctx); if that retry answers
// 40163 or 40029 the error has Prior set and matches ErrBusy (the user should
// call wx.login again), never ErrCodeUsed/ErrInvalidCode. No other errcode is
// retried. Concurrent calls with the same appid and code share one WeChat
// call, so a double submit costs one exchange and both callers get its result.
func (c *Client) Code2Session(ctx context.Context, app App, jsCode string) (Session, error) {
	if err := app.validate(); err != nil {
		return Session{}, err
	}
	if err := checkCode(apiJSCode2Session, jsCode); err != nil {
		return Session{}, err
	}
	v, err := c.codes.do(ctx, flightKey(apiJSCode2Session, app.AppID, jsCode), func(ctx context.Context) (any, error) {
		return c.code2Session(ctx, app, jsCode)
	})
	if err != nil {
		if ctx.Err() != nil && err == ctx.Err() {
			return Session{}, ctxError(apiJSCode2Session, err)
		}
		return Session{}, err
	}
	return v.(Session), nil
}

func (c *Client) code2Session(ctx context.Context, app App, jsCode string) (Session, error) {
	req := &request{
		api:    apiJSCode2Session,
		method: http.MethodGet,
		path:   "/sns/jscode2session",
		query: url.Values{
			"appid":      {app.AppID},
			"secret":     {app.Secret},
			"js_code":    {jsCode},
			"grant_type": {"authorization_code"},
		},
		secrets: []string{app.Secret, jsCode},
	}
	rep, err := c.run(ctx, operation{
		build:        func(context.Context) (*request, string, error) { return req, "", nil },
		codeExchange: true,
		app:          app,
	})
	if err != nil {
		return Session{}, err
	}
	s, err := parseSession(rep.body)
	if err != nil {
		return Session{}, &TransportError{API: apiJSCode2Session, Host: rep.host, Status: http.StatusOK, Reason: "success answer without a valid openid and session_key"}
	}
	return s, nil
}
