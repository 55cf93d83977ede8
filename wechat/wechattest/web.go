package wechattest

import (
	"time"
)

// Web OAuth: website QR login, official account web OAuth and Open SDK
// mobile-app login (docs/wechat.md §6.1, §6.2, §12 item 14). Their codes are
// exchanged at /sns/oauth2/access_token for a per-user access token (not an
// app access token: the two pools never mix) and a refresh token.

// Web scopes.
const (
	ScopeLogin    = "snsapi_login"    // website QR login
	ScopeBase     = "snsapi_base"     // official account, silent, openid only
	ScopeUserInfo = "snsapi_userinfo" // official account with consent; Open SDK
)

// Lifetimes of docs/wechat.md §6.
const (
	websiteCodeLife  = 10 * time.Minute
	oaCodeLife       = 5 * time.Minute
	mobileCodeLife   = 10 * time.Minute // WeChat's mobile-app login guide, as for website apps
	webTokenLife     = 7200 * time.Second
	refreshTokenLife = 30 * 24 * time.Hour
)

// webToken is a per-user web access token.
type webToken struct {
	appID, user, scope string
	expires            time.Time
}

// webRefresh is a refresh token and the access token it renews.
type webRefresh struct {
	appID, user, scope string
	expires            time.Time // fixed: refresh tokens cannot be extended
	access             string    // current access token value
}

// scopeAllowed reports whether a web code of scope may be minted for kind.
func scopeAllowed(kind AppKind, scope string) bool {
	switch kind {
	case KindWebsite:
		return scope == ScopeLogin
	case KindOfficialAccount:
		return scope == ScopeBase || scope == ScopeUserInfo
	case KindMobileApp:
		return scope == ScopeUserInfo
	}
	return false
}

func codeLife(kind AppKind) time.Duration {
	switch kind {
	case KindWebsite:
		return websiteCodeLife
	case KindMobileApp:
		return mobileCodeLife
	}
	return oaCodeLife
}

// WebCode plays the user approving WeChat's authorize page: a code for user
// in appID with scope, as the browser redirect would carry it (single use;
// 10 minutes for a website app, 5 for an official account). Website apps take
// scope snsapi_login, official accounts snsapi_base or snsapi_userinfo.
func (e *Emulator) WebCode(appID, user, scope string) (string, error) {
	return e.mintWebCode(appID, user, scope, false)
}

// AppLogin plays the WeChat Open SDK's SendAuth in a mobile app for user: a
// code of scope snsapi_userinfo (single use, 10 minutes).
func (e *Emulator) AppLogin(appID, user string) (string, error) {
	return e.mintWebCode(appID, user, ScopeUserInfo, true)
}

func (e *Emulator) mintWebCode(appID, user, scope string, mobile bool) (string, error) {
	if err := validUser(user); err != nil {
		return "", err
	}
	code := randomCode()
	e.mu.Lock()
	defer e.mu.Unlock()
	app, ok := e.apps[appID]
	switch {
	case !ok:
		return "", ErrUnknownApp
	case mobile && app.Kind != KindMobileApp:
		return "", ErrNotMobileApp
	case !mobile && app.Kind != KindWebsite && app.Kind != KindOfficialAccount:
		return "", ErrNotWebApp
	case !scopeAllowed(app.Kind, scope):
		return "", ErrInvalidScope
	}
	now := e.clock.Now()
	e.userLocked(appID, user)
	e.addCodeLocked(code, &codeState{appID: appID, user: user, kind: kindWeb, scope: scope, issued: now, expires: now.Add(codeLife(app.Kind))})
	return code, nil
}

// SetSnapshotUser marks user in appID as a "snapshot page" virtual user (or
// not): web OAuth code exchanges then answer is_snapshotuser:1.
func (e *Emulator) SetSnapshotUser(appID, user string, on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.userLocked(appID, user).snapshot = on
}

// ---- identification ----

func (e *Emulator) identifyWebCode(q *apiReq) {
	v := q.r.URL.Query()
	q.appID = v.Get("appid")
	if code := v.Get("code"); code != "" {
		e.identifyCode(q, code)
	}
}

func (e *Emulator) identifyRefresh(q *apiReq) {
	v := q.r.URL.Query()
	q.appID = v.Get("appid")
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.refresh[v.Get("refresh_token")]; ok {
		q.user, q.hasUser = r.user, true
	}
}

func (e *Emulator) identifyWebToken(q *apiReq) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.web[q.r.URL.Query().Get("access_token")]; ok {
		q.appID, q.user, q.hasUser = t.appID, t.user, true
	}
}

// ---- /sns/oauth2/access_token ----

// unionIDLocked returns the unionid an answer of scope carries: only for
// snsapi_userinfo/snsapi_login on apps bound to an open platform.
func (e *Emulator) unionIDLocked(appID, user, scope string) string {
	app := e.apps[appID]
	if app == nil || app.OpenPlatformID == "" || (scope != ScopeUserInfo && scope != ScopeLogin) {
		return ""
	}
	return deriveID("unionid", app.OpenPlatformID, user)
}

func (e *Emulator) webAccessToken(q *apiReq) answer {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, c, fault, ok := e.codeExchangeLocked(q, "code", kindWeb)
	if !ok {
		return fault
	}
	appID := c.appID
	switch {
	case !q.now.Before(c.expires):
		return fail(40029)
	case c.used:
		return fail(40163)
	}
	c.used = true
	access, refresh := newToken(), newToken()
	e.web[access] = &webToken{appID: appID, user: c.user, scope: c.scope, expires: q.now.Add(webTokenLife)}
	e.refresh[refresh] = &webRefresh{appID: appID, user: c.user, scope: c.scope, expires: q.now.Add(refreshTokenLife), access: access}
	data := map[string]any{
		"access_token":  access,
		"expires_in":    int64(webTokenLife / time.Second),
		"refresh_token": refresh,
		"openid":        e.OpenID(appID, c.user),
		"scope":         c.scope,
	}
	if u := e.unionIDLocked(appID, c.user, c.scope); u != "" {
		data["unionid"] = u
	}
	if e.userLocked(appID, c.user).snapshot {
		data["is_snapshotuser"] = 1
	}
	return answer{data: data}
}

// ---- /sns/oauth2/refresh_token ----

// webRefreshToken renews a web access token: an unexpired one keeps its
// value and gets a new expiry; an expired one is replaced. The refresh token
// itself keeps its fixed 30-day life.
func (e *Emulator) webRefreshToken(q *apiReq) answer {
	v := q.r.URL.Query()
	appID, rt := v.Get("appid"), v.Get("refresh_token")
	switch {
	case appID == "":
		return fail(41002)
	case rt == "":
		return fail(41003)
	case v.Get("grant_type") != "refresh_token":
		return fail(40002)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.apps[appID]; !ok {
		return fail(40013)
	}
	r, ok := e.refresh[rt]
	switch {
	case !ok || r.appID != appID:
		return fail(40030)
	case !q.now.Before(r.expires):
		return fail(42002)
	}
	t, ok := e.web[r.access]
	if ok && q.now.Before(t.expires) {
		t.expires = q.now.Add(webTokenLife)
	} else {
		r.access = newToken()
		e.web[r.access] = &webToken{appID: r.appID, user: r.user, scope: r.scope, expires: q.now.Add(webTokenLife)}
	}
	return answer{data: map[string]any{
		"access_token":  r.access,
		"expires_in":    int64(webTokenLife / time.Second),
		"refresh_token": rt,
		"openid":        e.OpenID(r.appID, r.user),
		"scope":         r.scope,
	}}
}

// ---- /sns/userinfo and /sns/auth ----

// checkWebTokenLocked validates a web access token for openid: missing
// 41001, malformed 40014, unknown 40001, expired 42001, another user's
// openid 40003. e.mu held.
func (e *Emulator) checkWebTokenLocked(q *apiReq) (*webToken, int) {
	v := q.r.URL.Query()
	value := v.Get("access_token")
	if value == "" {
		return nil, 41001
	}
	if !wellFormedToken(value) {
		return nil, 40014
	}
	t, ok := e.web[value]
	switch {
	case !ok:
		return nil, 40001
	case !q.now.Before(t.expires):
		return nil, 42001
	case v.Get("openid") != e.OpenID(t.appID, t.user):
		return nil, 40003
	}
	return t, 0
}

func (e *Emulator) webUserInfo(q *apiReq) answer {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, code := e.checkWebTokenLocked(q)
	if code != 0 {
		return fail(code)
	}
	if t.scope == ScopeBase {
		return fail(48001)
	}
	// Since 2021-10 WeChat answers sex 0 and an empty region for everyone.
	data := map[string]any{
		"openid":     e.OpenID(t.appID, t.user),
		"nickname":   t.user,
		"sex":        0,
		"province":   "",
		"city":       "",
		"country":    "",
		"headimgurl": "",
		"privilege":  []string{},
	}
	if u := e.unionIDLocked(t.appID, t.user, t.scope); u != "" {
		data["unionid"] = u
	}
	return answer{data: data}
}

func (e *Emulator) webAuth(q *apiReq) answer {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, code := e.checkWebTokenLocked(q); code != 0 {
		return fail(code)
	}
	return answer{}
}
