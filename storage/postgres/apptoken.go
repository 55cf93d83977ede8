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

// WeChat app access tokens (AppTokenLease). Calling stable_token from every
// instance is wasteful and, with force_refresh, makes instances invalidate
// each other's tokens (WECHAT.md §5). Instead the instance that wins
// AcquireAppTokenLease fetches the token and PutAppToken shares it; the
// others poll GetAppToken until it appears.
//
// The token is stored as given: it is a credential (valid about two hours),
// so callers that want it encrypted at rest pass it encrypted.

// GetAppToken returns the token last stored for appID and its expiry (which
// may have passed; the caller decides). storage.ErrNotFound if none was stored.
func (s *Storage) GetAppToken(ctx context.Context, appID string) (string, time.Time, error) {
	var (
		token   string
		expires pgtype.Timestamptz
	)
	err := s.run(ctx, "get app token", func(q querier) error {
		err := q.QueryRow(ctx, `SELECT token, expires_at FROM wechat_app_tokens
			WHERE app_id = $1 AND token <> ''`, appID).Scan(&token, &expires)
		if errors.Is(err, pgx.ErrNoRows) {
			return storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return token, fromNullTime(expires), nil
}

// PutAppToken stores the token of appID, replacing any previous one, and
// releases the refresh lease: the refresh it guarded is over, so whoever
// needs the next refresh need not wait for the lease to run out.
func (s *Storage) PutAppToken(ctx context.Context, appID, token string, expiresAt time.Time) error {
	if appID == "" || token == "" {
		return errors.New("storage/postgres: put app token: empty appid or token")
	}
	return s.run(ctx, "put app token", func(q querier) error {
		_, err := q.Exec(ctx, `INSERT INTO wechat_app_tokens (app_id, token, expires_at)
			VALUES ($1, $2, $3)
			ON CONFLICT (app_id) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at,
				lease_holder = '', lease_expires_at = NULL`, appID, token, nullTime(expiresAt))
		return err
	})
}

// AcquireAppTokenLease makes holder the only instance allowed to refresh the
// token of appID until now+ttl. It reports true when holder gets the lease:
// nobody held it, the previous lease ran out (at or before now), or holder
// already held it (the lease is renewed). Of concurrent callers exactly one
// gets it: the conditional upsert takes the row lock and re-checks the
// condition after waiting for it.
func (s *Storage) AcquireAppTokenLease(ctx context.Context, appID, holder string, ttl time.Duration, now time.Time) (bool, error) {
	if appID == "" || holder == "" {
		return false, errors.New("storage/postgres: acquire app token lease: empty appid or holder")
	}
	if ttl <= 0 {
		return false, fmt.Errorf("storage/postgres: acquire app token lease: ttl must be positive (got %v)", ttl)
	}
	var acquired bool
	err := s.run(ctx, "acquire app token lease", func(q querier) error {
		rows, err := q.Query(ctx, `INSERT INTO wechat_app_tokens AS t (app_id, lease_holder, lease_expires_at)
			VALUES ($1, $2, $3)
			ON CONFLICT (app_id) DO UPDATE SET lease_holder = EXCLUDED.lease_holder,
				lease_expires_at = EXCLUDED.lease_expires_at
			WHERE t.lease_holder = '' OR t.lease_holder = EXCLUDED.lease_holder
				OR t.lease_expires_at IS NULL OR t.lease_expires_at <= $4
			RETURNING 1`, appID, holder, now.Add(ttl), now)
		if err != nil {
			return err
		}
		n, err := countRows(rows)
		acquired = n > 0
		return err
	})
	return acquired, err
}

// countRows drains rows and counts them.
func countRows(rows pgx.Rows) (int, error) {
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	return n, rows.Err()
}
