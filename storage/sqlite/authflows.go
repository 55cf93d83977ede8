package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

const authFlowColumns = `id, browser_hash, client_id, appid, request, created_at, expires_at`

var (
	insertAuthFlowSQL = writeSQL(`INSERT INTO auth_flows (` + authFlowColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	// One statement reads and deletes: whoever runs it first gets the row.
	takeAuthFlowSQL          = writeSQL(`DELETE FROM auth_flows WHERE id = ? RETURNING ` + authFlowColumns)
	deleteExpiredAuthFlowSQL = writeSQL(`DELETE FROM auth_flows WHERE id IN (
	SELECT id FROM auth_flows WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`)
)

// CreateAuthFlow inserts f; a taken ID is storage.ErrAlreadyExists.
func (s *Storage) CreateAuthFlow(ctx context.Context, f storage.AuthFlow) error {
	if f.ID == "" {
		return errors.New("sqlite: create auth flow: empty ID")
	}
	_, err := s.exec(ctx, insertAuthFlowSQL, f.ID, bytesArg(f.BrowserHash), f.ClientID, f.AppID, f.Request,
		timeArg(f.CreatedAt), timeArg(f.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlite: create auth flow: %w", err)
	}
	return nil
}

// TakeAuthFlow deletes the flow and returns it. The DELETE … RETURNING runs
// on the single writer, so of concurrent takes one finds the row and the
// others find it gone. An expired flow is deleted all the same (committed),
// then reported absent.
func (s *Storage) TakeAuthFlow(ctx context.Context, id string, now time.Time) (storage.AuthFlow, error) {
	var f storage.AuthFlow
	err := s.inTx(ctx, func(ctx context.Context) error {
		return s.queryRow(ctx, takeAuthFlowSQL, []any{id}, &f.ID, bytesCol{&f.BrowserHash}, &f.ClientID, &f.AppID,
			&f.Request, timeCol{&f.CreatedAt}, timeCol{&f.ExpiresAt})
	})
	if err != nil {
		return storage.AuthFlow{}, fmt.Errorf("sqlite: take auth flow: %w", err)
	}
	if !f.ExpiresAt.IsZero() && !f.ExpiresAt.After(now) {
		return storage.AuthFlow{}, fmt.Errorf("sqlite: take auth flow: expired: %w", storage.ErrNotFound)
	}
	return f, nil
}

// DeleteExpiredAuthFlows deletes up to limit flows expired at now, oldest
// first, in one short write transaction.
func (s *Storage) DeleteExpiredAuthFlows(ctx context.Context, now time.Time, limit int) (int64, error) {
	return s.deleteExpired(ctx, "auth flows", deleteExpiredAuthFlowSQL, now, limit)
}
