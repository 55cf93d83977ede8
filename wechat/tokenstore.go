package wechat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// TokenStore shares app access tokens between Clients in several processes
// (instances behind one database), so that they make one stable_token call
// between them instead of one each. A lease per appid lets one client at a
// time refresh a token; the others keep using the stored token while it is
// valid, or wait for the new one. Config.TokenStore plugs it in; the
// wiring provides one on the storage backend.
type TokenStore interface {
	// Load returns appID's shared token and when it expires; found is false
	// when none is stored.
	Load(ctx context.Context, appID string) (token string, expiresAt time.Time, found bool, err error)
	// Save shares a token (unless the stored one expires later) and ends any
	// lease on appID.
	Save(ctx context.Context, appID, token string, expiresAt time.Time) error
	// Lease makes holder the only one allowed to refresh appID's token until
	// now+ttl, renewing holder's own lease; false while another holder has it.
	Lease(ctx context.Context, appID, holder string, ttl time.Duration, now time.Time) (bool, error)
	// Release ends holder's lease early (its refresh failed).
	Release(ctx context.Context, appID, holder string) error
}

// sharedTokenPoll is how often a client waiting for another holder's
// refresh looks for the new token. Waits are rare (a token is refreshed
// about every two hours, and the old one stays usable meanwhile) and short
// (one stable_token call).
const sharedTokenPoll = 50 * time.Millisecond

// initTokenStore applies the shared-store part of cfg; it runs after the
// hosts, call timeout and backoff are set.
func (c *Client) initTokenStore(cfg Config) error {
	c.store = cfg.TokenStore
	c.leaseTTL = cfg.TokenLeaseTTL
	switch {
	case c.leaseTTL < 0:
		return errors.New("wechat: TokenLeaseTTL must not be negative")
	case c.leaseTTL == 0:
		// A refresh's worst case: two attempts (the automatic retry), each
		// trying every host with its own timeout, and the backoff between.
		c.leaseTTL = time.Duration(2*len(c.bases))*c.callTimeout + c.backoff
	}
	if c.store != nil {
		c.holder = newHolderID()
	}
	return nil
}

// newHolderID names this client in leases: unique, and telling an operator
// who looks at the table which machine and process hold a lease.
func newHolderID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// refreshToken gets a token for app when the local cache has none fresh. It
// runs inside the per-appid single flight, so each process asks the shared
// store (and WeChat) once at a time per appid.
func (c *Client) refreshToken(ctx context.Context, app App) (string, error) {
	if c.store == nil {
		ct, err := c.fetchToken(ctx, app, false)
		return ct.token, err
	}
	for {
		now := c.now()
		tok, exp, found, err := c.store.Load(ctx, app.AppID)
		if err != nil {
			return c.refreshUnshared(ctx, app, err)
		}
		valid := found && now.Before(exp) && !c.tokens.isRejected(app.AppID, tok)
		if valid && now.Before(exp.Add(-c.margin)) {
			c.tokens.put(app.AppID, cachedToken{token: tok, refreshAt: exp.Add(-c.margin), expiresAt: exp})
			return tok, nil
		}
		leased, err := c.store.Lease(ctx, app.AppID, c.holder, c.leaseTTL, now)
		if err != nil {
			return c.refreshUnshared(ctx, app, err)
		}
		if leased {
			return c.refreshLeased(ctx, app)
		}
		if valid {
			// Another instance is renewing a token that is still good: use
			// it meanwhile, and look for the new one again after a poll
			// interval rather than on every call.
			c.tokens.put(app.AppID, cachedToken{token: tok, refreshAt: minTime(now.Add(sharedTokenPoll), exp), expiresAt: exp})
			return tok, nil
		}
		// No usable token and another instance is fetching one: wait for it.
		// A holder that died is waited for until its lease runs out.
		if err := sleepCtx(ctx, sharedTokenPoll); err != nil {
			return "", err
		}
	}
}

// refreshLeased fetches and shares a new token while holding the lease.
func (c *Client) refreshLeased(ctx context.Context, app App) (string, error) {
	// A refresh that ended between our look and the lease saved its token
	// and freed the lease: look once more before calling WeChat.
	now := c.now()
	if tok, exp, found, err := c.store.Load(ctx, app.AppID); err == nil && found &&
		now.Before(exp.Add(-c.margin)) && !c.tokens.isRejected(app.AppID, tok) {
		c.releaseLease(ctx, app.AppID)
		c.tokens.put(app.AppID, cachedToken{token: tok, refreshAt: exp.Add(-c.margin), expiresAt: exp})
		return tok, nil
	}
	ct, err := c.fetchToken(ctx, app, false)
	if err != nil {
		c.releaseLease(ctx, app.AppID)
		return "", err
	}
	if err := c.store.Save(ctx, app.AppID, ct.token, ct.expiresAt); err != nil {
		// The token is good; the others fetch their own once the lease runs out.
		c.log.LogAttrs(ctx, slog.LevelWarn, "wechat: sharing the app access token failed",
			slog.String("appid", app.AppID), slog.String("error", err.Error()))
	}
	return ct.token, nil
}

// refreshUnshared fetches without the shared store when it fails: logins
// needing a phone number should not fail because of it, and stable_token
// in normal mode does not invalidate the other instances' token.
func (c *Client) refreshUnshared(ctx context.Context, app App, storeErr error) (string, error) {
	c.log.LogAttrs(ctx, slog.LevelWarn, "wechat: shared app access token store failed; fetching without it",
		slog.String("appid", app.AppID), slog.String("error", storeErr.Error()))
	ct, err := c.fetchToken(ctx, app, false)
	return ct.token, err
}

// releaseLease frees the lease even when ctx is done (the usual reason a
// refresh failed); if that fails too, the lease runs out by itself.
func (c *Client) releaseLease(ctx context.Context, appID string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := c.store.Release(rctx, appID, c.holder); err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "wechat: releasing the app access token lease failed",
			slog.String("appid", appID), slog.String("error", err.Error()))
	}
}

// shareForced shares a token fetched with force_refresh: the old one no
// longer works anywhere.
func (c *Client) shareForced(ctx context.Context, appID string, ct cachedToken) {
	if c.store == nil {
		return
	}
	if err := c.store.Save(ctx, appID, ct.token, ct.expiresAt); err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "wechat: sharing the force-refreshed app access token failed",
			slog.String("appid", appID), slog.String("error", err.Error()))
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
