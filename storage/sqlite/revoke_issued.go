package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// issuedWindow selects the refresh tokens issued within [?, ?] to a client
// of the JSON array ?. Times are microseconds, so BETWEEN is inclusive at
// the storage precision.
const issuedWindow = `kind = 'refresh_token' AND requested_at BETWEEN ? AND ?
	AND client_id IN (SELECT value FROM json_each(?))`

var (
	// Access tokens of the still-active refresh tokens in the window: those
	// were issued with them. A rotated token's request ID also names the
	// chain's later tokens, issued outside the window.
	deleteIssuedAccessSQL = writeSQL(`DELETE FROM token_sessions WHERE kind = 'access_token' AND request_id IN (
	SELECT request_id FROM token_sessions WHERE ` + issuedWindow + ` AND active = 1)`)
	deactivateIssuedSQL = writeSQL(`UPDATE token_sessions SET active = 0, first_used_at = NULL
	WHERE ` + issuedWindow + ` AND active = 1`)
	// Rotated tokens lose their grace window too, so none comes back.
	clearIssuedGraceSQL = writeSQL(`UPDATE token_sessions SET first_used_at = NULL
	WHERE ` + issuedWindow + ` AND active = 0 AND first_used_at IS NOT NULL`)
)

// RevokeRefreshTokensIssued revokes the refresh tokens issued within
// [from, to] to one of clientIDs and deletes the access tokens issued with
// the active ones, in one write transaction; see storage.TokenSessionStore.
func (s *Storage) RevokeRefreshTokensIssued(ctx context.Context, from, to time.Time, clientIDs []string) (int64, error) {
	if len(clientIDs) == 0 || to.Before(from) {
		return 0, nil
	}
	ids, err := json.Marshal(clientIDs)
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke refresh tokens issued: %w", err)
	}
	args := []any{from.UnixMicro(), to.UnixMicro(), string(ids)}
	var total int64
	err = s.inTx(ctx, func(ctx context.Context) error {
		n, err := s.execCount(ctx, deleteIssuedAccessSQL, args...)
		if err != nil {
			return err
		}
		m, err := s.execCount(ctx, deactivateIssuedSQL, args...)
		if err != nil {
			return err
		}
		total = n + m
		_, err = s.exec(ctx, clearIssuedGraceSQL, args...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke refresh tokens issued: %w", err)
	}
	return total, nil
}
