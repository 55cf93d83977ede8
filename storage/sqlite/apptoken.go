package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// WeChat app access tokens (storage.AppTokenStore). Each method is one
// statement on the single writer connection, so the conditional upserts
// need no explicit transaction to be atomic.
var (
	getAppTokenSQL = readSQL(`SELECT token_encrypted, expires_at FROM wechat_app_tokens
	WHERE app_id = ? AND token_encrypted IS NOT NULL`)
	// A token expiring earlier than the stored one is a slow refresh's stale
	// answer: it is dropped, but the lease ends all the same.
	putAppTokenSQL = writeSQL(`INSERT INTO wechat_app_tokens (app_id, token_encrypted, expires_at)
	VALUES (?1, ?2, ?3)
	ON CONFLICT (app_id) DO UPDATE SET
		token_encrypted = CASE WHEN wechat_app_tokens.token_encrypted IS NULL OR wechat_app_tokens.expires_at IS NULL
			OR excluded.expires_at >= wechat_app_tokens.expires_at
			THEN excluded.token_encrypted ELSE wechat_app_tokens.token_encrypted END,
		expires_at = CASE WHEN wechat_app_tokens.token_encrypted IS NULL OR wechat_app_tokens.expires_at IS NULL
			OR excluded.expires_at >= wechat_app_tokens.expires_at
			THEN excluded.expires_at ELSE wechat_app_tokens.expires_at END,
		lease_holder = '', lease_expires_at = NULL`)
	acquireAppTokenLeaseSQL = writeSQL(`INSERT INTO wechat_app_tokens (app_id, lease_holder, lease_expires_at)
	VALUES (?1, ?2, ?3)
	ON CONFLICT (app_id) DO UPDATE SET lease_holder = excluded.lease_holder, lease_expires_at = excluded.lease_expires_at
	WHERE wechat_app_tokens.lease_holder = '' OR wechat_app_tokens.lease_holder = excluded.lease_holder
		OR wechat_app_tokens.lease_expires_at IS NULL OR wechat_app_tokens.lease_expires_at <= ?4`)
	releaseAppTokenLeaseSQL = writeSQL(`UPDATE wechat_app_tokens SET lease_holder = '', lease_expires_at = NULL
	WHERE app_id = ? AND lease_holder = ?`)
)

// GetAppToken returns the token last stored for appID and its expiry.
func (s *Storage) GetAppToken(ctx context.Context, appID string) (storage.AppToken, error) {
	t := storage.AppToken{AppID: appID}
	if err := s.queryRow(ctx, getAppTokenSQL, []any{appID}, bytesCol{&t.TokenEncrypted}, timeCol{&t.ExpiresAt}); err != nil {
		return storage.AppToken{}, fmt.Errorf("sqlite: get app token: %w", err)
	}
	return t, nil
}

// PutAppToken stores t unless the stored token expires later, and ends any
// lease on t.AppID.
func (s *Storage) PutAppToken(ctx context.Context, t storage.AppToken) error {
	if t.AppID == "" || len(t.TokenEncrypted) == 0 || t.ExpiresAt.IsZero() {
		return errors.New("sqlite: put app token: empty appid, token or expiry")
	}
	if _, err := s.exec(ctx, putAppTokenSQL, t.AppID, t.TokenEncrypted, timeArg(t.ExpiresAt)); err != nil {
		return fmt.Errorf("sqlite: put app token: %w", err)
	}
	return nil
}

// AcquireAppTokenLease makes holder the only one allowed to refresh appID's
// token until now+ttl.
func (s *Storage) AcquireAppTokenLease(ctx context.Context, appID, holder string, ttl time.Duration, now time.Time) (bool, error) {
	if appID == "" || holder == "" {
		return false, errors.New("sqlite: acquire app token lease: empty appid or holder")
	}
	if ttl <= 0 {
		return false, fmt.Errorf("sqlite: acquire app token lease: ttl must be positive (got %v)", ttl)
	}
	n, err := s.execCount(ctx, acquireAppTokenLeaseSQL, appID, holder, timeArg(now.Add(ttl)), timeArg(now))
	if err != nil {
		return false, fmt.Errorf("sqlite: acquire app token lease: %w", err)
	}
	return n > 0, nil
}

// ReleaseAppTokenLease ends holder's lease on appID, if holder has it.
func (s *Storage) ReleaseAppTokenLease(ctx context.Context, appID, holder string) error {
	if appID == "" || holder == "" {
		return errors.New("sqlite: release app token lease: empty appid or holder")
	}
	if _, err := s.exec(ctx, releaseAppTokenLeaseSQL, appID, holder); err != nil {
		return fmt.Errorf("sqlite: release app token lease: %w", err)
	}
	return nil
}
