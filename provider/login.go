package provider

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
)

// Browser sign-in defaults (docs/contract.md §1.5).
const (
	defaultLoginLifetime = 7 * 24 * time.Hour
	defaultLoginIdle     = 12 * time.Hour
	// touchEvery bounds writes: a session's LastSeenAt moves at most once
	// a minute, not on every request.
	touchEvery = time.Minute
	// flowLifetime covers the trip to WeChat: a website QR code lives 10
	// minutes (WeChat's own limit).
	flowLifetime = 10 * time.Minute
)

// AMRWeChat is the authentication method of every WeChat sign-in.
const AMRWeChat = "wechat"

// Errors of the browser sign-in steps; web turns them into pages.
var (
	// ErrNoLogin: no valid login session (absent, expired, idle too long,
	// or its account disabled).
	ErrNoLogin = errors.New("provider: no login session")
	// ErrFlowNotFound: the state WeChat sent back names no pending flow
	// (forged, expired, or already used).
	ErrFlowNotFound = errors.New("provider: sign-in flow not found or expired")
	// ErrFlowBrowser: the flow was started in another browser.
	ErrFlowBrowser = errors.New("provider: sign-in flow belongs to another browser")
	// ErrSnapshotUser: WeChat's "snapshot page" virtual user, who has no
	// real identity to sign in with.
	ErrSnapshotUser = errors.New("provider: WeChat snapshot-page user")
	// ErrNeedUserInfo: a silent (snsapi_base) sign-in found a person we do
	// not know; they must go through snsapi_userinfo once, so that the
	// unionid links them to the account they may already have.
	ErrNeedUserInfo = errors.New("provider: a new person must authorize snsapi_userinfo")
	// ErrAccountDisabled: the account behind the WeChat identity is disabled.
	ErrAccountDisabled = errors.New("provider: account disabled")
	// ErrWeChatCode: WeChat refused the code it sent back (invalid,
	// expired or already used: 40029, 40163). Starting again helps.
	ErrWeChatCode = errors.New("provider: WeChat refused the sign-in code")
	// ErrWeChatUnavailable: WeChat is busy, rate limiting or unreachable.
	ErrWeChatUnavailable = errors.New("provider: WeChat is temporarily unavailable")
	// ErrWeChatFailed: any other WeChat failure (a configuration error such
	// as a wrong app secret, 40125, 40013); logged, never shown in detail.
	ErrWeChatFailed = errors.New("provider: WeChat sign-in failed")
)

// Scopes for the official account's web OAuth (docs/wechat.md §6.2).
const (
	ScopeSNSBase     = "snsapi_base"
	ScopeSNSUserInfo = "snsapi_userinfo"
)

// WeChatWeb is the WeChat web OAuth code exchange (docs/wechat.md §6.1,
// §6.2); *wechat.Client and *Upstream implement it.
type WeChatWeb interface {
	WebAccessToken(ctx context.Context, app wechat.App, code string) (wechat.WebToken, error)
}

// StartLogin opens a login session for an account that just authenticated
// with WeChat app appID. The cookie value is the caller's to set; storage
// keeps only its hash. A new session is made on every sign-in, so a
// session ID planted before sign-in is worthless (session fixation).
func (p *Provider) StartLogin(ctx context.Context, accountID, appID string) (cookie string, login Login, err error) {
	cookie = randomToken(32)
	now := p.now().UTC()
	s := storage.LoginSession{
		ID:         hashToken(cookie),
		AccountID:  accountID,
		AuthTime:   now,
		AMR:        []string{AMRWeChat},
		AppID:      appID,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(p.loginLifetime),
	}
	if err := p.store.db.CreateLoginSession(ctx, s); err != nil {
		return "", Login{}, fmt.Errorf("provider: create login session: %w", storageError(err))
	}
	return cookie, loginOf(s), nil
}

func loginOf(s storage.LoginSession) Login {
	return Login{SessionID: s.ID, AccountID: s.AccountID, AuthTime: s.AuthTime, AMR: s.AMR, AppID: s.AppID}
}

// CurrentLogin returns the login session a cookie names: ErrNoLogin when
// there is none, it expired or idled out, or its account is disabled.
func (p *Provider) CurrentLogin(ctx context.Context, cookie string) (Login, error) {
	if cookie == "" || len(cookie) > 256 {
		return Login{}, ErrNoLogin
	}
	id := hashToken(cookie)
	s, acc, err := p.store.db.GetLoginSessionAccount(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return Login{}, ErrNoLogin // no session, or its account is gone
	}
	if err != nil {
		return Login{}, storageError(err)
	}
	now := p.now()
	if !now.Before(s.ExpiresAt) || !now.Before(s.LastSeenAt.Add(p.loginIdle)) || acc.Disabled {
		return Login{}, ErrNoLogin
	}
	if now.Sub(s.LastSeenAt) >= touchEvery {
		if err := p.store.db.TouchLoginSession(ctx, id, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return Login{}, storageError(err)
		}
	}
	login := loginOf(s)
	login.account = &acc
	return login, nil
}

// EndLogin deletes the login session a cookie names and returns it with
// the clients it signed in to; ErrNoLogin when there is none. Those of the
// clients that registered a back-channel logout URI are sent a Logout
// Token, asynchronously (provider/backchannel.go).
func (p *Provider) EndLogin(ctx context.Context, cookie string) (Login, []string, error) {
	if cookie == "" || len(cookie) > 256 {
		return Login{}, nil, ErrNoLogin
	}
	s, err := p.store.db.GetLoginSession(ctx, hashToken(cookie))
	if errors.Is(err, storage.ErrNotFound) {
		return Login{}, nil, ErrNoLogin
	}
	if err != nil {
		return Login{}, nil, storageError(err)
	}
	clients, _, err := p.endSession(ctx, s)
	if err != nil {
		return Login{}, nil, storageError(err)
	}
	return loginOf(s), clients, nil
}

// EndAccountLogins ends every login session of an account (an operator's
// "end sessions", or a disable) and sends the back-channel logout tokens
// of each, as EndLogin does for one. It returns how many it ended.
func (p *Provider) EndAccountLogins(ctx context.Context, accountID string) (int64, error) {
	sessions, err := p.store.db.ListAccountLoginSessions(ctx, accountID)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, s := range sessions {
		_, ended, err := p.endSession(ctx, s)
		if err != nil {
			return n, err
		}
		if ended {
			n++
		}
	}
	return n, nil
}

// endSession deletes a login session and sends its clients their
// back-channel logout tokens. ended is false when a concurrent caller
// deleted it first: that caller notifies the clients, so they are told
// once.
func (p *Provider) endSession(ctx context.Context, s storage.LoginSession) (clients []string, ended bool, err error) {
	clients, err = p.store.db.ListLoginSessionClients(ctx, s.ID)
	if err != nil {
		return nil, false, err
	}
	switch err := p.store.db.DeleteLoginSession(ctx, s.ID); {
	case errors.Is(err, storage.ErrNotFound):
		return clients, false, nil
	case err != nil:
		return nil, false, err
	}
	p.notifyLogout(ctx, s, clients)
	return clients, true, nil
}

// NeedsConsent reports whether the person must see the consent page for
// r: not for first-party clients, not when a remembered consent covers the
// scopes, always for prompt=consent.
func (p *Provider) NeedsConsent(ctx context.Context, r *AuthorizeRequest, login Login) (bool, error) {
	if r.HasPrompt("consent") {
		return true, nil
	}
	if r.SkipConsent {
		return false, nil
	}
	c, err := p.store.db.GetConsent(ctx, login.AccountID, r.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, storageError(err)
	}
	for _, s := range r.Scopes {
		if !slices.Contains(c.Scopes, s) {
			return true, nil
		}
	}
	return false, nil
}

// RememberConsent records that the person allowed r's scopes, adding to
// what they allowed the client before.
func (p *Provider) RememberConsent(ctx context.Context, r *AuthorizeRequest, login Login) error {
	scopes := append([]string(nil), r.Scopes...)
	old, err := p.store.db.GetConsent(ctx, login.AccountID, r.ClientID)
	switch {
	case err == nil:
		scopes = append(scopes, old.Scopes...)
	case !errors.Is(err, storage.ErrNotFound):
		return storageError(err)
	}
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	if err := p.store.db.PutConsent(ctx, storage.Consent{AccountID: login.AccountID, ClientID: r.ClientID, Scopes: scopes, GrantedAt: p.now().UTC()}); err != nil {
		return storageError(err)
	}
	return nil
}

// LinkLogin records that the login session signed in to r's client (for
// back-channel logout).
func (p *Provider) LinkLogin(ctx context.Context, r *AuthorizeRequest, login Login) error {
	// Most requests come from a session already linked to the client: a
	// read (no writer turn, no commit) then saves the write. A link being
	// written concurrently and not yet visible only means writing it again
	// (the insert ignores duplicates).
	linked, err := p.store.db.ListLoginSessionClients(ctx, login.SessionID)
	if err != nil {
		return storageError(err)
	}
	if slices.Contains(linked, r.ClientID) {
		return nil
	}
	err = p.store.db.AddLoginSessionClient(ctx, login.SessionID, r.ClientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ErrNoLogin
	case err != nil:
		return storageError(err)
	}
	return nil
}

// BrowserSecret returns a fresh secret for the browser-binding cookie.
func BrowserSecret() string { return randomToken(32) }

// StartWeChat records a pending flow for r, bound to the browser holding
// browserSecret, and returns the WeChat page to send the browser to: the
// website QR page, or the official account's OAuth page with scope.
func (p *Provider) StartWeChat(ctx context.Context, r *AuthorizeRequest, app BrowserApp, scope, browserSecret, lang string) (string, error) {
	if browserSecret == "" {
		return "", errors.New("provider: no browser secret")
	}
	state := randomAlnum()
	now := p.now().UTC()
	f := storage.AuthFlow{
		ID:          state,
		BrowserHash: []byte(hashToken(browserSecret)),
		ClientID:    r.ClientID,
		AppID:       app.AppID,
		Request:     r.Query.Encode(),
		CreatedAt:   r.RequestedAt.UTC(),
		ExpiresAt:   now.Add(flowLifetime),
	}
	if err := p.store.db.CreateAuthFlow(ctx, f); err != nil {
		return "", fmt.Errorf("provider: create sign-in flow: %w", storageError(err))
	}
	callback := p.issuer + "/oauth2/wechat/callback"
	switch app.Kind {
	case AppKindWebsite:
		if lang != "en" {
			lang = "cn"
		}
		return wechat.QRConnectURL(p.browserBase, app.AppID, callback, state, lang)
	case AppKindOfficialAccount:
		return wechat.OAuthAuthorizeURL(p.browserBase, app.AppID, callback, scope, state)
	}
	return "", fmt.Errorf("provider: app %s of kind %q has no browser sign-in", app.AppID, app.Kind)
}

// ResumeWeChat takes the flow named by state (once) and checks that the
// browser presenting browserSecret started it. It returns the authorization
// request again (re-validated: the client may have changed meanwhile) and
// the app the person went to.
func (p *Provider) ResumeWeChat(ctx context.Context, state, browserSecret string) (*AuthorizeRequest, BrowserApp, error) {
	if state == "" || len(state) > 128 {
		return nil, BrowserApp{}, ErrFlowNotFound
	}
	f, err := p.store.db.TakeAuthFlow(ctx, state, p.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, BrowserApp{}, ErrFlowNotFound
	}
	if err != nil {
		return nil, BrowserApp{}, storageError(err)
	}
	if browserSecret == "" || subtle.ConstantTimeCompare(f.BrowserHash, []byte(hashToken(browserSecret))) != 1 {
		return nil, BrowserApp{}, ErrFlowBrowser
	}
	form, err := url.ParseQuery(f.Request)
	if err != nil {
		return nil, BrowserApp{}, fmt.Errorf("provider: stored flow request: %w", err)
	}
	r, err := p.ParseAuthorize(ctx, form, f.CreatedAt)
	if err != nil {
		return nil, BrowserApp{}, err
	}
	return r, BrowserApp{AppID: f.AppID, Kind: p.appKinds[f.AppID]}, nil
}

// WeChatWebLogin exchanges the code WeChat sent back for app and finds or
// creates the person's account (docs/contract.md §3). With a silent
// snsapi_base code, a person we do not know yet gets ErrNeedUserInfo.
func (p *Provider) WeChatWebLogin(ctx context.Context, app BrowserApp, code string) (accountID string, err error) {
	if p.web == nil {
		return "", errors.New("provider: no WeChat web client configured")
	}
	secret, ok := p.apps[app.AppID]
	if !ok {
		return "", fmt.Errorf("provider: WeChat app %s is not configured", app.AppID)
	}
	if code == "" || len(code) > maxCodeLen {
		return "", fmt.Errorf("provider: web code: %w", wechat.ErrInvalidCode)
	}
	tok, err := p.web.WebAccessToken(ctx, secret, code)
	if err != nil {
		return "", p.webLoginError(ctx, app.AppID, err)
	}
	if tok.UnionID == "" && strings.Contains(tok.Scope, ScopeSNSBase) && !strings.Contains(tok.Scope, ScopeSNSUserInfo) {
		if _, err := p.store.db.GetWeChatIdentity(ctx, app.AppID, tok.OpenID); errors.Is(err, storage.ErrNotFound) {
			return "", ErrNeedUserInfo
		} else if err != nil {
			return "", storageError(err)
		}
	}
	_, acc, err := p.store.db.ResolveWeChatLogin(ctx, storage.WeChatLogin{
		AppID:        app.AppID,
		OpenID:       tok.OpenID,
		UnionID:      tok.UnionID,
		NewAccountID: newAccountID(),
		Now:          p.now().UTC(),
	})
	if err != nil {
		return "", storageError(err)
	}
	if acc.Disabled {
		return "", ErrAccountDisabled
	}
	return acc.ID, nil
}

// webLoginError classifies a failed web code exchange (docs/contract.md
// §7) and logs what an operator must fix; the error's text never holds the
// code or a secret (package wechat redacts them).
func (p *Provider) webLoginError(ctx context.Context, appID string, err error) error {
	var answered *retryLaterError
	switch {
	case errors.Is(err, wechat.ErrSnapshotUser):
		return ErrSnapshotUser
	case errors.Is(err, wechat.ErrInvalidCode), errors.Is(err, wechat.ErrCodeUsed):
		return fmt.Errorf("%w: %w", ErrWeChatCode, err)
	case errors.As(err, &answered), errors.Is(err, wechat.ErrRateLimited), errors.Is(err, wechat.ErrBusy), errors.Is(err, wechat.ErrTransport):
		p.log.WarnContext(ctx, "wechat web sign-in unavailable", "appid", appID, "err", err.Error())
		return fmt.Errorf("%w: %w", ErrWeChatUnavailable, err)
	default:
		p.log.ErrorContext(ctx, "wechat web sign-in failed", "appid", appID, "err", err.Error())
		return fmt.Errorf("%w: %w", ErrWeChatFailed, err)
	}
}

// hashToken is the storage key of a cookie secret: storage never holds one
// a thief could replay.
func hashToken(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomAlnum returns a random state of [A-Z2-7] (128 bits): WeChat's
// OAuth state allows only [A-Za-z0-9] (docs/wechat.md §6.2).
func randomAlnum() string { return rand.Text() }
