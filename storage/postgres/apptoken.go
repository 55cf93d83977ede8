package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wxoidc/wxoidc/storage"
)

// WeChat app access tokens (storage.AppTokenStore). Every method is a single
// statement: the conditional upserts take the row lock and re-check their
// condition after waiting for it, so concurrent instances serialize on the
// row without an explicit transaction.

// GetAppToken returns the token last stored for appID and its expiry.
func (s *Storage) GetAppToken(ctx context.Context, appID string) (storage.AppToken, error) {
	t := storage.AppToken{AppID: appID}
	var expires pgtype.Timestamptz
	err := s.read(ctx, "get app token", func(q querier) error {
		err := q.QueryRow(ctx, `SELECT token_encrypted, expires_at FROM wechat_app_tokens
			WHERE app_id = $1 AND token_encrypted IS NOT NULL`, appID).Scan(&t.TokenEncrypted, &expires)
		if errors.Is(err, pgx.ErrNoRows) {
			return storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return storage.AppToken{}, err
	}
	t.ExpiresAt = fromNullTime(expires)
	return t, nil
}

// PutAppToken stores t unless the stored token expires later, and ends any
// lease on t.AppID.
func (s *Storage) PutAppToken(ctx context.Context, t storage.AppToken) error {
	if t.AppID == "" || len(t.TokenEncrypted) == 0 || t.ExpiresAt.IsZero() {
		return errors.New("storage/postgres: put app token: empty appid, token or expiry")
	}
	return s.run(ctx, "put app token", func(q querier) error {
		_, err := q.Exec(ctx, `INSERT INTO wechat_app_tokens AS t (app_id, token_encrypted, expires_at)
			VALUES ($1, $2, $3)
			ON CONFLICT (app_id) DO UPDATE SET
				token_encrypted = CASE WHEN t.token_encrypted IS NULL OR t.expires_at IS NULL OR EXCLUDED.expires_at >= t.expires_at
					THEN EXCLUDED.token_encrypted ELSE t.token_encrypted END,
				expires_at = CASE WHEN t.token_encrypted IS NULL OR t.expires_at IS NULL OR EXCLUDED.expires_at >= t.expires_at
					THEN EXCLUDED.expires_at ELSE t.expires_at END,
				lease_holder = '', lease_expires_at = NULL`, t.AppID, t.TokenEncrypted, nullTime(t.ExpiresAt))
		return err
	})
}

// AcquireAppTokenLease makes holder the only one allowed to refresh appID's
// token until now+ttl.
func (s *Storage) AcquireAppTokenLease(ctx context.Context, appID, holder string, ttl time.Duration, now time.Time) (bool, error) {
	if appID == "" || holder == "" {
		return false, errors.New("storage/postgres: acquire app token lease: empty appid or holder")
	}
	if ttl <= 0 {
		return false, fmt.Errorf("storage/postgres: acquire app token lease: ttl must be positive (got %v)", ttl)
	}
	var acquired bool
	err := s.run(ctx, "acquire app token lease", func(q querier) error {
		tag, err := q.Exec(ctx, `INSERT INTO wechat_app_tokens AS t (app_id, lease_holder, lease_expires_at)
			VALUES ($1, $2, $3)
			ON CONFLICT (app_id) DO UPDATE SET lease_holder = EXCLUDED.lease_holder,
				lease_expires_at = EXCLUDED.lease_expires_at
			WHERE t.lease_holder = '' OR t.lease_holder = EXCLUDED.lease_holder
				OR t.lease_expires_at IS NULL OR t.lease_expires_at <= $4`, appID, holder, nullTime(now.Add(ttl)), nullTime(now))
		acquired = tag.RowsAffected() > 0
		return err
	})
	return acquired, err
}

// ReleaseAppTokenLease ends holder's lease on appID, if holder has it.
func (s *Storage) ReleaseAppTokenLease(ctx context.Context, appID, holder string) error {
	if appID == "" || holder == "" {
		return errors.New("storage/postgres: release app token lease: empty appid or holder")
	}
	return s.run(ctx, "release app token lease", func(q querier) error {
		_, err := q.Exec(ctx, `UPDATE wechat_app_tokens SET lease_holder = '', lease_expires_at = NULL
			WHERE app_id = $1 AND lease_holder = $2`, appID, holder)
		return err
	})
}
