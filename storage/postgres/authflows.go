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

const authFlowColumns = `id, browser_hash, client_id, app_id, request, created_at, expires_at`

// CreateAuthFlow inserts f; a taken ID is storage.ErrAlreadyExists.
func (s *Storage) CreateAuthFlow(ctx context.Context, f storage.AuthFlow) error {
	if f.ID == "" {
		return errors.New("storage/postgres: create auth flow: empty ID")
	}
	return s.run(ctx, "create auth flow", func(q querier) error {
		tag, err := q.Exec(ctx, `INSERT INTO auth_flows (`+authFlowColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			f.ID, nilIfEmpty(f.BrowserHash), f.ClientID, f.AppID, f.Request, f.CreatedAt, nullTime(f.ExpiresAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrAlreadyExists
		}
		return nil
	})
}

// TakeAuthFlow deletes the flow and returns it, in one DELETE … RETURNING.
// Of concurrent takes, the first locks the row; the others wait for it,
// re-check at READ COMMITTED and find the row gone. An expired flow is
// deleted all the same, then reported absent.
func (s *Storage) TakeAuthFlow(ctx context.Context, id string, now time.Time) (storage.AuthFlow, error) {
	var f storage.AuthFlow
	err := s.run(ctx, "take auth flow", func(q querier) error {
		var expires pgtype.Timestamptz
		err := q.QueryRow(ctx, `DELETE FROM auth_flows WHERE id = $1 RETURNING `+authFlowColumns, id).
			Scan(&f.ID, &f.BrowserHash, &f.ClientID, &f.AppID, &f.Request, &f.CreatedAt, &expires)
		if errors.Is(err, pgx.ErrNoRows) {
			return storage.ErrNotFound
		}
		f.CreatedAt = f.CreatedAt.UTC()
		f.ExpiresAt = fromNullTime(expires)
		return err
	})
	if err != nil {
		return storage.AuthFlow{}, err
	}
	if !f.ExpiresAt.IsZero() && !f.ExpiresAt.After(now) {
		return storage.AuthFlow{}, fmt.Errorf("storage/postgres: take auth flow: expired: %w", storage.ErrNotFound)
	}
	return f, nil
}

// DeleteExpiredAuthFlows deletes up to limit flows expired at now, oldest
// first, as DeleteExpiredTokenSessions does (SKIP LOCKED, by ctid).
func (s *Storage) DeleteExpiredAuthFlows(ctx context.Context, now time.Time, limit int) (int64, error) {
	return s.deleteExpired(ctx, "auth flows", `DELETE FROM auth_flows WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM auth_flows
			WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2
			FOR UPDATE SKIP LOCKED))`, now, limit)
}
