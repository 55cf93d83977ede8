package wechattest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"
)

// ---- identification (for fault matching and the call log) ----

func (e *Emulator) identifyJSCode(q *apiReq) {
	v := q.r.URL.Query()
	q.appID = v.Get("appid")
	if code := v.Get("js_code"); code != "" {
		e.identifyCode(q, code)
	}
}

func (e *Emulator) identifyCode(q *apiReq, code string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.codes[code]; ok {
		q.user, q.hasUser = c.user, true
		if q.appID == "" {
			q.appID = c.appID
		}
	}
}

func (e *Emulator) tokenApp(token string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.tokens[token]; ok {
		return t.appID
	}
	return ""
}

func (e *Emulator) identifyPhone(q *apiReq) {
	q.appID = e.tokenApp(q.r.URL.Query().Get("access_token"))
	var b struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(q.body, &b) == nil && b.Code != "" {
		e.identifyCode(q, b.Code)
	}
}

func identifyQueryApp(q *apiReq) { q.appID = q.r.URL.Query().Get("appid") }

func identifyBodyApp(q *apiReq) {
	var b struct {
		AppID string `json:"appid"`
	}
	if json.Unmarshal(q.body, &b) == nil {
		q.appID = b.AppID
	}
}

func (e *Emulator) identifyOpenID(q *apiReq) {
	v := q.r.URL.Query()
	q.appID = e.tokenApp(v.Get("access_token"))
	e.mu.Lock()
	defer e.mu.Unlock()
	if user, ok := e.openids[userKey{q.appID, v.Get("openid")}]; ok {
		q.user, q.hasUser = user, true
	}
}

// ---- jscode2session (docs/wechat.md §2, §12 items 5, 7, 16) ----

// codeExchangeLocked runs the checks WeChat's two code exchanges
// (jscode2session, sns/oauth2/access_token) share, in WeChat's order: GET
// only (a POST form reads as "appid missing"), appid, secret and code
// present, the app known, its secret right, grant_type, then a code of
// kind issued to this app. Expiry and reuse are the caller's to check:
// jscode2session counts its rate limit first.
func (e *Emulator) codeExchangeLocked(q *apiReq, codeParam string, kind codeKind) (*appState, *codeState, answer, bool) {
	if q.r.Method != http.MethodGet {
		return nil, nil, fail(41002), false
	}
	v := q.r.URL.Query()
	appID, secret, code := v.Get("appid"), v.Get("secret"), v.Get(codeParam)
	switch {
	case appID == "":
		return nil, nil, fail(41002), false
	case secret == "":
		return nil, nil, fail(41004), false
	case code == "":
		return nil, nil, fail(41008), false
	}
	app, ok := e.apps[appID]
	switch {
	case !ok:
		return nil, nil, fail(40013), false
	case app.Secret != secret:
		return nil, nil, fail(40125), false
	case v.Get("grant_type") != "authorization_code":
		return nil, nil, fail(40002), false
	}
	c, ok := e.codes[code]
	if !ok || c.appID != appID || c.kind != kind {
		return nil, nil, fail(40029), false
	}
	return app, c, answer{}, true
}

func (e *Emulator) jscode2session(q *apiReq) answer {
	e.mu.Lock()
	defer e.mu.Unlock()
	app, c, fault, ok := e.codeExchangeLocked(q, "js_code", kindLogin)
	if !ok {
		return fault
	}
	u := e.userLocked(c.appID, c.user)
	if lim := e.opts.JSCode2SessionPerMinute; lim > 0 && u.rate.inc(q.now) > lim {
		return fail(45011)
	}
	switch {
	case !q.now.Before(c.expires):
		return fail(40029)
	case c.used:
		return fail(40163)
	case u.blocked:
		return fail(40226)
	}
	c.used = true
	data := map[string]any{
		"openid":      e.OpenID(c.appID, c.user),
		"session_key": base64.StdEncoding.EncodeToString(u.key),
	}
	if app.OpenPlatformID != "" {
		data["unionid"] = deriveID("unionid", app.OpenPlatformID, c.user)
	}
	return answer{data: data}
}

// ---- access tokens (docs/wechat.md §5, §12 items 11–13) ----

// newToken returns an opaque token: "EMU" + 128 base64url characters.
func newToken() string { return "EMU" + base64.RawURLEncoding.EncodeToString(randomBytes(96)) }

// wellFormedToken is the shape check behind 40014.
func wellFormedToken(s string) bool {
	if len(s) < 100 || len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkTokenLocked validates an access_token parameter (item 13). e.mu held.
func (e *Emulator) checkTokenLocked(value string, now time.Time) (*tokenState, int) {
	if value == "" {
		return nil, 41001
	}
	if !wellFormedToken(value) {
		return nil, 40014
	}
	t, ok := e.tokens[value]
	switch {
	case !ok, t.revoked:
		return nil, 40001
	case !t.deadAt.IsZero() && !now.Before(t.deadAt):
		return nil, 40001 // superseded: "not latest"
	case !now.Before(t.expires):
		return nil, 42001
	}
	return t, 0
}

// checkAppLocked runs the app checks shared by both token endpoints.
func (e *Emulator) checkAppLocked(q *apiReq, appID, secret string) (*appState, answer, bool) {
	app, ok := e.apps[appID]
	switch {
	case !ok:
		return nil, fail(40013), false
	case app.Secret != secret:
		return nil, fail(40125), false
	case !app.ipAllowed(remoteAddr(q.r)):
		return nil, ipAnswer(remoteAddr(q.r)), false
	case app.SecretFrozen:
		return nil, fail(40243), false
	}
	return app, answer{}, true
}

func (e *Emulator) mintTokenLocked(appID string, stable bool, now time.Time) (string, *tokenState) {
	v := newToken()
	t := &tokenState{value: v, appID: appID, stable: stable, expires: now.Add(tokenLife)}
	e.tokens[v] = t
	return v, t
}

func tokenAnswer(value string, expiresIn time.Duration) answer {
	return answer{data: map[string]any{"access_token": value, "expires_in": int64(expiresIn / time.Second)}}
}

// classicToken serves GET /cgi-bin/token: a new token per call; the previous
// one keeps working for 5 minutes, then answers 40001 "not latest".
func (e *Emulator) classicToken(q *apiReq) answer {
	if q.r.Method != http.MethodGet {
		return fail(43001)
	}
	v := q.r.URL.Query()
	appID, secret := v.Get("appid"), v.Get("secret")
	switch {
	case appID == "":
		return fail(41002)
	case secret == "":
		return fail(41004)
	case v.Get("grant_type") != "client_credential":
		return fail(40002)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	app, a, ok := e.checkAppLocked(q, appID, secret)
	if !ok {
		return a
	}
	if lim := e.opts.DailyTokenQuota; lim > 0 && app.classicDC.inc(q.now) > lim {
		return fail(45009)
	}
	value, t := e.mintTokenLocked(appID, false, q.now)
	if prev := app.classic; prev != nil && prev.deadAt.IsZero() {
		prev.deadAt = q.now.Add(classicTokenGrace)
	}
	app.classic = t
	return tokenAnswer(value, tokenLife)
}

// stableToken serves POST /cgi-bin/stable_token (docs/wechat.md §5.2): the same
// token while it has more than 300 s to live, a new one (the old one staying
// valid to its end) in its last 300 s; force_refresh revokes the old token at
// once, at most ForceRefreshDailyLimit times a day and 30 s apart.
func (e *Emulator) stableToken(q *apiReq) answer {
	if q.r.Method != http.MethodPost {
		return fail(43002)
	}
	if q.tooBig {
		return fail(47001)
	}
	if len(bytes.TrimSpace(q.body)) == 0 {
		return fail(44002)
	}
	var b struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.Unmarshal(q.body, &b); err != nil {
		return fail(47001)
	}
	switch {
	case b.AppID == "":
		return fail(41002)
	case b.Secret == "":
		return fail(41004)
	case b.GrantType != "client_credential":
		return fail(40002)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	app, a, ok := e.checkAppLocked(q, b.AppID, b.Secret)
	if !ok {
		return a
	}
	if lim := e.opts.StableTokenMinuteQuota; lim > 0 && app.stableMinute.inc(q.now) > lim {
		return fail(45011) // UNCONFIRMED errcode for the minute limit
	}
	if lim := e.opts.StableTokenDailyQuota; lim > 0 && app.stableDC.inc(q.now) > lim {
		return fail(45009)
	}
	cur := app.stable
	valid := cur != nil && !cur.revoked && q.now.Before(cur.expires)
	if b.ForceRefresh && valid &&
		app.forceDC.count(q.now) < e.opts.ForceRefreshDailyLimit &&
		(app.lastForceTime.IsZero() || q.now.Sub(app.lastForceTime) >= forceRefreshSpacing) {
		app.forceDC.inc(q.now)
		app.lastForceTime = q.now
		cur.revoked = true
		valid = false
	}
	if !valid || cur.expires.Sub(q.now) <= stableRenewWindow {
		_, cur = e.mintTokenLocked(b.AppID, true, q.now)
		app.stable = cur
	}
	return tokenAnswer(cur.value, cur.expires.Sub(q.now))
}

// ForceRefreshStableToken revokes appID's current stable token at once, as a
// force_refresh from another party would (no rate limits applied). For tests
// of the 40001 refresh-and-retry path.
func (e *Emulator) ForceRefreshStableToken(appID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if app, ok := e.apps[appID]; ok && app.stable != nil {
		app.stable.revoked = true
		app.stable = nil
	}
}

// ---- getuserphonenumber (docs/wechat.md §3, §12 item 6) ----

func (e *Emulator) phoneNumber(q *apiReq) answer {
	if q.r.Method != http.MethodPost {
		return fail(43002)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	tok, code := e.checkTokenLocked(q.r.URL.Query().Get("access_token"), q.now)
	if code != 0 {
		return fail(code)
	}
	if app := e.apps[tok.appID]; app == nil || !app.PhoneAPI {
		return fail(48001)
	}
	if q.tooBig {
		return fail(47001)
	}
	if len(bytes.TrimSpace(q.body)) == 0 {
		return fail(44002)
	}
	var b struct {
		Code   string `json:"code"`
		OpenID string `json:"openid"`
	}
	if err := json.Unmarshal(q.body, &b); err != nil {
		return fail(47001)
	}
	c, ok := e.codes[b.Code]
	switch {
	case !ok || c.kind != kindPhone:
		return fail(40029)
	case c.appID != tok.appID:
		return fail(40013) // observed: a token of another appid
	case !q.now.Before(c.expires), c.used:
		return fail(40029) // reuse is 40029 here, not 40163
	case b.OpenID != "" && b.OpenID != e.OpenID(c.appID, c.user):
		return fail(40029) // UNCONFIRMED errcode for an openid mismatch
	}
	c.used = true
	return answer{data: map[string]any{"phone_info": c.phone.info(c.appID, c.issued)}}
}

// ---- session key APIs (docs/wechat.md §4.4, §12 item 10) ----

// SessionKeySignature is the signature checksession and resetusersessionkey
// expect: hex(HMAC-SHA256(key = the session key's base64 text, message = "")).
func SessionKeySignature(sessionKeyB64 string) string {
	m := hmac.New(sha256.New, []byte(sessionKeyB64))
	return hex.EncodeToString(m.Sum(nil))
}

// sessionCheckLocked runs the checks shared by checksession and
// resetusersessionkey and returns the user's state. e.mu held.
func (e *Emulator) sessionCheckLocked(q *apiReq) (*userState, string, answer, bool) {
	v := q.r.URL.Query()
	tok, code := e.checkTokenLocked(v.Get("access_token"), q.now)
	if code != 0 {
		return nil, "", fail(code), false
	}
	if v.Get("sig_method") != "hmac_sha256" {
		return nil, "", fail(87008), false
	}
	openid := v.Get("openid")
	user, ok := e.openids[userKey{tok.appID, openid}]
	if !ok {
		return nil, "", fail(40003), false // UNCONFIRMED errcode for an unknown openid
	}
	u := e.users[userKey{tok.appID, user}]
	if u.key == nil || (!u.expiresAt.IsZero() && !q.now.Before(u.expiresAt)) {
		return nil, "", fail(87009), false
	}
	want := SessionKeySignature(base64.StdEncoding.EncodeToString(u.key))
	if !hmac.Equal([]byte(v.Get("signature")), []byte(want)) {
		return nil, "", fail(87009), false
	}
	return u, openid, answer{}, true
}

func (e *Emulator) checkSession(q *apiReq) answer {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, _, a, ok := e.sessionCheckLocked(q); !ok {
		return a
	}
	return answer{}
}

// resetSessionKey replaces the user's session key; the new key keeps the old
// expiry and the old key dies at once.
func (e *Emulator) resetSessionKey(q *apiReq) answer {
	fresh := randomBytes(16)
	e.mu.Lock()
	defer e.mu.Unlock()
	u, openid, a, ok := e.sessionCheckLocked(q)
	if !ok {
		return a
	}
	u.key, u.rotatedAt = fresh, q.now
	return answer{data: map[string]any{"openid": openid, "session_key": base64.StdEncoding.EncodeToString(fresh)}}
}
