package wechat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// tokenCache holds one app access token per appid. Refreshes are single
// flight per appid: concurrent callers that find the token missing or due
// share one stable_token call.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedToken
	// rejected is, per appid, the last token WeChat refused: a shared store
	// may still hold it, and it must not be taken from there again.
	rejected map[string]string
	fl       flight[string]
}

type cachedToken struct {
	token     string
	refreshAt time.Time // when to fetch again (expiry minus margin)
	expiresAt time.Time
}

func newTokenCache() *tokenCache {
	return &tokenCache{m: make(map[string]cachedToken), rejected: make(map[string]string)}
}

func (tc *tokenCache) get(appID string, now time.Time) (string, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	t, ok := tc.m[appID]
	if !ok || !now.Before(t.refreshAt) {
		return "", false
	}
	return t.token, true
}

func (tc *tokenCache) put(appID string, t cachedToken) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.m[appID] = t
	delete(tc.rejected, appID)
}

func (tc *tokenCache) isRejected(appID, token string) bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.rejected[appID] == token
}

// drop forgets appID's token if it is still the one that failed; a caller
// that saw an old token fail must not throw away a sibling's fresh one. The
// failed token is remembered so that a shared store's copy of it is not
// taken again.
func (tc *tokenCache) drop(appID, token string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if t, ok := tc.m[appID]; ok && t.token == token {
		delete(tc.m, appID)
	}
	tc.rejected[appID] = token
}

// AccessToken returns app's access token from /cgi-bin/stable_token in normal
// mode, cached until TokenRefreshMargin before its expiry. Concurrent callers
// share one refresh. It never force-refreshes (see ForceRefreshAccessToken).
func (c *Client) AccessToken(ctx context.Context, app App) (string, error) {
	if err := app.validate(); err != nil {
		return "", err
	}
	if tok, ok := c.tokens.get(app.AppID, c.now()); ok {
		return tok, nil
	}
	tok, err := c.tokens.fl.do(ctx, app.AppID, func(ctx context.Context) (string, error) {
		// A refresh that completed between our cache miss and joining the
		// flight has already stored a fresh token.
		if tok, ok := c.tokens.get(app.AppID, c.now()); ok {
			return tok, nil
		}
		return c.refreshToken(ctx, app)
	})
	if err != nil {
		if ctx.Err() != nil && err == ctx.Err() {
			return "", ctxError(apiStableToken, err)
		}
		return "", err
	}
	return tok, nil
}

// ForceRefreshAccessToken calls stable_token with force_refresh:true, which
// invalidates app's current token at once for every holder, and caches the
// new one. WeChat allows this 20 times a day, 30 s apart (otherwise it returns
// the current token unchanged). Meant for operators after a token leak; the
// client never calls it by itself. With a TokenStore the new token is
// shared at once.
func (c *Client) ForceRefreshAccessToken(ctx context.Context, app App) (string, error) {
	if err := app.validate(); err != nil {
		return "", err
	}
	ct, err := c.fetchToken(ctx, app, true)
	if err != nil {
		return "", err
	}
	c.shareForced(ctx, app.AppID, ct)
	return ct.token, nil
}

// fetchToken calls stable_token and caches the answer.
func (c *Client) fetchToken(ctx context.Context, app App, force bool) (cachedToken, error) {
	body, err := json.Marshal(struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}{"client_credential", app.AppID, app.Secret, force})
	if err != nil {
		return cachedToken{}, fmt.Errorf("wechat stable_token: encoding request: %w", err)
	}
	req := &request{
		api: apiStableToken, method: http.MethodPost, path: "/cgi-bin/stable_token",
		body: body, secrets: []string{app.Secret},
	}
	start := c.now()
	rep, err := c.run(ctx, operation{
		build: func(context.Context) (*request, string, error) { return req, "", nil },
		app:   app,
	})
	if err != nil {
		return cachedToken{}, err
	}
	tok, expiresIn, err := parseToken(rep.body)
	if err != nil {
		return cachedToken{}, &TransportError{API: apiStableToken, Host: rep.host, Status: http.StatusOK, Reason: err.Error()}
	}
	life := time.Duration(expiresIn) * time.Second
	ct := cachedToken{token: tok, expiresAt: start.Add(life)}
	if life > c.margin {
		ct.refreshAt = ct.expiresAt.Add(-c.margin)
	} else {
		// WeChat promises expires_in >= 300 s; if it gives less, use half the
		// life rather than refreshing on every call.
		ct.refreshAt = start.Add(life / 2)
	}
	c.tokens.put(app.AppID, ct)
	return ct, nil
}
