package wechat

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Web OAuth (docs/wechat.md §6): website QR login (scope snsapi_login),
// official account web OAuth (snsapi_base, snsapi_userinfo) and the Open SDK
// of mobile apps (snsapi_userinfo) all end with a code that the server
// exchanges at /sns/oauth2/access_token for a per-user access token, unrelated
// to the app access token of AccessToken.

// WebToken is the answer of /sns/oauth2/access_token and
// /sns/oauth2/refresh_token. Its String, Format (every verb), GoString,
// LogValue and MarshalJSON hide AccessToken and RefreshToken.
type WebToken struct {
	AccessToken  string // the user's web access token (not the app's)
	RefreshToken string // lives 30 days from the code exchange, not extended by use
	ExpiresIn    time.Duration
	OpenID       string
	// UnionID is set for snsapi_login and snsapi_userinfo exchanges on apps
	// bound to an open platform; "" otherwise, and in refresh answers.
	UnionID string
	Scope   string // as WeChat answers it, e.g. "snsapi_login"
}

func (t WebToken) String() string {
	return fmt.Sprintf("wechat.WebToken{AccessToken:%s RefreshToken:%s ExpiresIn:%s OpenID:%s UnionID:%s Scope:%s}",
		redacted, redacted, t.ExpiresIn, t.OpenID, t.UnionID, t.Scope)
}

// GoString implements fmt.GoStringer for %#v.
func (t WebToken) GoString() string { return t.String() }

// Format implements fmt.Formatter so that every verb prints the redacted form.
func (t WebToken) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue implements slog.LogValuer.
func (t WebToken) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_token", redacted), slog.String("refresh_token", redacted),
		slog.Duration("expires_in", t.ExpiresIn), slog.String("openid", t.OpenID),
		slog.String("unionid", t.UnionID), slog.String("scope", t.Scope))
}

// MarshalJSON redacts the tokens.
func (t WebToken) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"AccessToken":%q,"RefreshToken":%q,"ExpiresIn":%d,"OpenID":%q,"UnionID":%q,"Scope":%q}`,
		redacted, redacted, int64(t.ExpiresIn/time.Second), t.OpenID, t.UnionID, t.Scope), nil
}

// WebUser is the answer of /sns/userinfo. WeChat has answered sex 0 and an
// empty region for everyone since 2021-10, so those fields are not kept.
type WebUser struct {
	OpenID     string
	UnionID    string // "" when the app is not bound to an open platform
	Nickname   string // control characters removed, at most 128 characters
	HeadImgURL string // "" when absent or not an http(s) URL
}

// Web scopes (docs/wechat.md §6).
const (
	ScopeSNSAPILogin    = "snsapi_login"    // website QR login
	ScopeSNSAPIBase     = "snsapi_base"     // official account: silent, openid only
	ScopeSNSAPIUserInfo = "snsapi_userinfo" // official account with consent; Open SDK
)

// WebAccessToken exchanges a web OAuth code (website QR login, official
// account web OAuth, or a mobile app's Open SDK SendAuth) with GET
// /sns/oauth2/access_token for the user's web access token, refresh token,
// openid and (for snsapi_login/snsapi_userinfo on apps bound to an open
// platform) unionid.
//
// Errors as for Code2Session: 40029 ErrInvalidCode, 40163 ErrCodeUsed, 40125
// and 40013 ErrConfig, 45011 ErrRateLimited, -1 ErrBusy; the same note-A
// retry (a 40163/40029 after an attempt with unknown outcome matches
// ErrBusy). A body with is_snapshotuser 1 returns ErrSnapshotUser and no
// token. Concurrent calls with the same appid and code share one WeChat call.
func (c *Client) WebAccessToken(ctx context.Context, app App, code string) (WebToken, error) {
	if err := app.validate(); err != nil {
		return WebToken{}, err
	}
	if err := checkCode(apiWebAccessToken, code); err != nil {
		return WebToken{}, err
	}
	v, err := c.codes.do(ctx, flightKey(apiWebAccessToken, app.AppID, code), func(ctx context.Context) (any, error) {
		return c.webAccessToken(ctx, app, code)
	})
	if err != nil {
		if ctx.Err() != nil && err == ctx.Err() {
			return WebToken{}, ctxError(apiWebAccessToken, err)
		}
		return WebToken{}, err
	}
	return v.(WebToken), nil
}

func (c *Client) webAccessToken(ctx context.Context, app App, code string) (WebToken, error) {
	req := &request{
		api:    apiWebAccessToken,
		method: http.MethodGet,
		path:   "/sns/oauth2/access_token",
		query: url.Values{
			"appid":      {app.AppID},
			"secret":     {app.Secret},
			"code":       {code},
			"grant_type": {"authorization_code"},
		},
		secrets: []string{app.Secret, code},
	}
	rep, err := c.run(ctx, operation{
		build:        func(context.Context) (*request, string, error) { return req, "", nil },
		codeExchange: true,
		app:          app,
	})
	if err != nil {
		return WebToken{}, err
	}
	return c.webTokenReply(apiWebAccessToken, app, rep)
}

// webTokenReply parses a token answer of api.
func (c *Client) webTokenReply(api string, app App, rep *reply) (WebToken, error) {
	t, snapshot, err := parseWebToken(rep.body)
	if snapshot {
		return WebToken{}, fmt.Errorf("wechat %s: appid %s: is_snapshotuser 1: %w", api, app.AppID, ErrSnapshotUser)
	}
	if err != nil {
		return WebToken{}, &TransportError{API: api, Host: rep.host, Status: http.StatusOK, Reason: "success answer without a valid access_token, refresh_token, expires_in and openid"}
	}
	return t, nil
}

// WebRefreshToken renews a user's web access token with GET
// /sns/oauth2/refresh_token (no secret: only app.AppID is used). WeChat keeps
// an unexpired access token and extends it, or issues a new one; the refresh
// token keeps its fixed 30-day life. 40030 matches ErrInvalidRefreshToken,
// 42002 ErrRefreshTokenExpired; -1 and transport failures are retried once.
// The answer carries no unionid.
func (c *Client) WebRefreshToken(ctx context.Context, app App, refreshToken string) (WebToken, error) {
	if app.AppID == "" {
		return WebToken{}, fmt.Errorf("wechat: app has no appid: %w", ErrConfig)
	}
	if !printable(refreshToken, maxTokenLen) {
		return WebToken{}, fmt.Errorf("wechat %s: empty, oversize or non-printable refresh token: %w", apiWebRefreshToken, ErrInvalidRefreshToken)
	}
	req := &request{
		api:    apiWebRefreshToken,
		method: http.MethodGet,
		path:   "/sns/oauth2/refresh_token",
		query: url.Values{
			"appid":         {app.AppID},
			"grant_type":    {"refresh_token"},
			"refresh_token": {refreshToken},
		},
		secrets: []string{refreshToken},
	}
	rep, err := c.run(ctx, operation{
		build: func(context.Context) (*request, string, error) { return req, "", nil },
		app:   app,
	})
	if err != nil {
		return WebToken{}, err
	}
	return c.webTokenReply(apiWebRefreshToken, app, rep)
}

// webLangs are the lang values /sns/userinfo accepts ("" lets WeChat pick).
var webLangs = map[string]bool{"": true, "zh_CN": true, "zh_TW": true, "en": true}

// checkWebUserCall validates the arguments of the calls made with a user's
// web access token.
func checkWebUserCall(api, accessToken, openID string) error {
	if !printable(accessToken, maxTokenLen) {
		return fmt.Errorf("wechat %s: empty, oversize or non-printable access token: %w", api, ErrWebTokenInvalid)
	}
	if !validID(openID) {
		return fmt.Errorf("wechat %s: malformed openid: %w", api, ErrConfig)
	}
	return nil
}

// WebUserInfo fetches the user's profile with GET /sns/userinfo, using the
// user's web access token (scope snsapi_userinfo or snsapi_login). lang is
// "", "zh_CN", "zh_TW" or "en". 48001 (a snsapi_base token) matches
// ErrScopeUnauthorized; 40001/40014/40003 ErrWebTokenInvalid; 42001
// ErrWebTokenExpired. The answer must name openID.
func (c *Client) WebUserInfo(ctx context.Context, accessToken, openID, lang string) (WebUser, error) {
	if err := checkWebUserCall(apiWebUserInfo, accessToken, openID); err != nil {
		return WebUser{}, err
	}
	if !webLangs[lang] {
		return WebUser{}, fmt.Errorf("wechat %s: lang must be zh_CN, zh_TW or en: %w", apiWebUserInfo, ErrConfig)
	}
	q := url.Values{"access_token": {accessToken}, "openid": {openID}}
	if lang != "" {
		q.Set("lang", lang)
	}
	req := &request{api: apiWebUserInfo, method: http.MethodGet, path: "/sns/userinfo", query: q, secrets: []string{accessToken}}
	rep, err := c.run(ctx, operation{build: func(context.Context) (*request, string, error) { return req, "", nil }})
	if err != nil {
		return WebUser{}, err
	}
	u, err := parseWebUser(rep.body)
	if err != nil || u.OpenID != openID {
		return WebUser{}, &TransportError{API: apiWebUserInfo, Host: rep.host, Status: http.StatusOK, Reason: "success answer without the openid asked for"}
	}
	return u, nil
}

// WebCheckToken asks WeChat (GET /sns/auth) whether a user's web access token
// is valid for openID: nil if so; ErrWebTokenInvalid for 40003 (and
// 40001/40014), ErrWebTokenExpired for 42001.
func (c *Client) WebCheckToken(ctx context.Context, accessToken, openID string) error {
	if err := checkWebUserCall(apiWebAuth, accessToken, openID); err != nil {
		return err
	}
	req := &request{
		api: apiWebAuth, method: http.MethodGet, path: "/sns/auth",
		query:   url.Values{"access_token": {accessToken}, "openid": {openID}},
		secrets: []string{accessToken},
	}
	_, err := c.run(ctx, operation{build: func(context.Context) (*request, string, error) { return req, "", nil }})
	return err
}
