package postgres

import (
	"context"
	"time"
)

// RevokeRefreshTokensIssued revokes the refresh tokens issued within
// [from, to] to one of clientIDs and deletes the access tokens issued with
// the active ones, in one statement; see storage.TokenSessionStore. Like
// RevokeTokenSessions it flags the tokens revoked, so a rotated one gets no
// grace window either.
func (s *Storage) RevokeRefreshTokensIssued(ctx context.Context, from, to time.Time, clientIDs []string) (int64, error) {
	if len(clientIDs) == 0 || to.Before(from) {
		return 0, nil
	}
	var n int64
	err := s.run(ctx, "revoke refresh tokens issued", func(q querier) error {
		// The FOR UPDATE subquery reads each row's latest version after
		// waiting for concurrent writers, so "active" is exact. A rotated
		// token's request ID also names the chain's later tokens (issued
		// outside the window), so only active tokens lose their access tokens.
		return q.QueryRow(ctx, `WITH targets AS (
				SELECT signature, request_id, active FROM token_sessions
				WHERE kind = 'refresh_token' AND requested_at BETWEEN $1 AND $2
					AND client_id = ANY ($3) AND NOT revoked
				FOR UPDATE
			), deleted AS (
				DELETE FROM token_sessions
				WHERE kind = 'access_token' AND request_id IN (SELECT request_id FROM targets WHERE active)
				RETURNING 1
			), revoked AS (
				UPDATE token_sessions t SET active = false, revoked = true
				FROM targets o
				WHERE t.kind = 'refresh_token' AND t.signature = o.signature
				RETURNING o.active AS was_active
			)
			SELECT (SELECT count(*) FROM deleted) + (SELECT count(*) FROM revoked WHERE was_active)`,
			from, to, clientIDs).Scan(&n)
	})
	return n, err
}
