package storage

import (
	"context"
	"time"
)

// AppToken is the WeChat app access token (stable_token) of one appid, shared
// by every instance on the database.
type AppToken struct {
	AppID string
	// TokenEncrypted is the token sealed by the caller: it is a bearer
	// credential for the app's server APIs, so it never reaches the
	// database in plaintext.
	TokenEncrypted []byte
	ExpiresAt      time.Time
}

// AppTokenStore shares WeChat app access tokens between instances, with a
// lease so that one instance at a time refreshes a token while the others
// keep using the stored one or wait for the new one. Calling stable_token
// from every instance would only waste the daily quota, and with
// force_refresh instances would invalidate each other's tokens.
//
// A lease is identified by a holder string unique to each instance (each
// WeChat client). Leases bound the time a crashed holder blocks others: when
// its TTL has passed, anyone may take the lease.
type AppTokenStore interface {
	// GetAppToken returns the token last stored for appID, whether or not
	// it has expired (the caller decides); ErrNotFound if none was stored.
	// A lease alone is not a token.
	GetAppToken(ctx context.Context, appID string) (AppToken, error)
	// PutAppToken stores t as appID's token unless the stored one expires
	// later (a slow refresh must not replace a newer token, such as one a
	// force_refresh produced meanwhile), and in either case ends any lease
	// on the appid: the refresh it guarded is over.
	PutAppToken(ctx context.Context, t AppToken) error
	// AcquireAppTokenLease makes holder the only one allowed to refresh
	// appID's token until now+ttl (ttl > 0). It reports true when nobody
	// held the lease, the lease ran out (at or before now), or holder held
	// it already (the lease is renewed). Of concurrent callers at most one
	// gets it.
	AcquireAppTokenLease(ctx context.Context, appID, holder string, ttl time.Duration, now time.Time) (bool, error)
	// ReleaseAppTokenLease ends holder's lease on appID (a refresh that
	// failed), so the next caller need not wait for the TTL. It does
	// nothing when holder does not hold the lease.
	ReleaseAppTokenLease(ctx context.Context, appID, holder string) error
}
