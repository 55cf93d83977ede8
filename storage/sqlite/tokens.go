package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

const tokenColumns = `kind, signature, request_id, requested_at, client_id, subject,
	requested_scopes, granted_scopes, requested_audience, granted_audience, form,
	session_data, active, expires_at, access_token_signature, first_used_at`

var (
	insertTokenSQL = writeSQL(`INSERT INTO token_sessions (` + tokenColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	selectTokenSQL = readSQL(`SELECT ` + tokenColumns + ` FROM token_sessions WHERE kind = ? AND signature = ?`)
	// The account as a scalar subquery: NULL when none has the subject as ID.
	selectTokenWithAccountSQL = readSQL(`SELECT ` + tokenColumns + `,
	(SELECT disabled FROM accounts WHERE id = token_sessions.subject)
	FROM token_sessions WHERE kind = ? AND signature = ?`)
	// The columns of a missing account or identity read as '' (text), 0
	// (disabled) or NULL.
	selectTokenWithLoginSQL = readSQL(`SELECT ` + prefixColumns("t.", tokenColumns) + `,
	COALESCE(a.id, ''), COALESCE(a.disabled, 0), a.created_at, a.updated_at, a.phone_encrypted,
	COALESCE(a.phone_hash, ''), COALESCE(a.phone_source, ''), a.phone_verified_at,
	COALESCE(i.appid, ''), COALESCE(i.openid, ''), COALESCE(i.account_id, ''), COALESCE(i.unionid, ''),
	i.session_key_encrypted, i.previous_session_key_encrypted, i.session_key_hash, i.session_key_at, i.created_at, i.updated_at
	FROM token_sessions t
	LEFT JOIN accounts a ON a.id = t.subject
	LEFT JOIN clients c ON c.id = t.client_id
	LEFT JOIN wechat_identities i ON i.account_id = a.id AND i.appid = c.wechat_appid AND c.wechat_appid <> ''
	WHERE t.kind = ? AND t.signature = ? ORDER BY i.openid LIMIT 1`)
	deleteTokenSQL = writeSQL(`DELETE FROM token_sessions WHERE kind = ? AND signature = ?`)
	// Deactivation ends a rotated refresh token's grace window as revocation does.
	deactivateTokenSQL = writeSQL(`UPDATE token_sessions SET active = 0, first_used_at = NULL WHERE kind = ? AND signature = ? AND active = 1`)
	endGraceTokenSQL   = writeSQL(`UPDATE token_sessions SET first_used_at = NULL WHERE kind = ? AND signature = ?`)
	// Refresh tokens are kept (inactive) so that a reuse is recognised.
	deactivateRequestSQL = writeSQL(`UPDATE token_sessions SET active = 0 WHERE kind = ? AND request_id = ? AND active = 1`)
	deleteRequestSQL     = writeSQL(`DELETE FROM token_sessions WHERE kind = ? AND request_id = ?`)
	selectRotationSQL    = readSQL(`SELECT request_id, active, first_used_at FROM token_sessions WHERE kind = ? AND signature = ?`)
	rotateSQL            = writeSQL(`UPDATE token_sessions SET active = 0, first_used_at = ? WHERE kind = ? AND signature = ? AND request_id = ? AND active = 1`)
	deleteSubjectSQL     = writeSQL(`DELETE FROM token_sessions WHERE subject = ? AND kind = ?`)
	deactivateSubjectSQL = writeSQL(`UPDATE token_sessions SET active = 0 WHERE subject = ? AND kind = ? AND active = 1`)
	// Revocation clears first_used_at of already rotated tokens too, so no
	// grace window can bring a token of a revoked chain back.
	endGraceRequestSQL = writeSQL(`UPDATE token_sessions SET first_used_at = NULL WHERE kind = ? AND request_id = ? AND first_used_at IS NOT NULL`)
	endGraceSubjectSQL = writeSQL(`UPDATE token_sessions SET first_used_at = NULL WHERE subject = ? AND kind = ? AND first_used_at IS NOT NULL`)
	// A deleted client's sessions: all but refresh tokens go, refresh
	// tokens are revoked (kept inactive, no grace window).
	deleteClientTokensSQL     = writeSQL(`DELETE FROM token_sessions WHERE client_id = ? AND kind <> 'refresh_token'`)
	deactivateClientTokensSQL = writeSQL(`UPDATE token_sessions SET active = 0 WHERE client_id = ? AND kind = 'refresh_token' AND active = 1`)
	endGraceClientSQL         = writeSQL(`UPDATE token_sessions SET first_used_at = NULL WHERE client_id = ? AND kind = 'refresh_token' AND first_used_at IS NOT NULL`)
	deleteExpiredSQL          = writeSQL(`DELETE FROM token_sessions WHERE id IN (
	SELECT id FROM token_sessions WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`)
)

func validKind(k storage.SessionKind) error {
	switch k {
	case storage.KindAccessToken, storage.KindRefreshToken, storage.KindAuthorizeCode, storage.KindPKCE, storage.KindOIDC:
		return nil
	}
	return fmt.Errorf("unknown session kind %q", k)
}

// CreateTokenSession inserts ts; a duplicate (kind, signature) is
// storage.ErrAlreadyExists.
func (s *Storage) CreateTokenSession(ctx context.Context, ts storage.TokenSession) error {
	if err := validKind(ts.Kind); err != nil {
		return fmt.Errorf("sqlite: create token session: %w", err)
	}
	if ts.Signature == "" {
		return fmt.Errorf("sqlite: create token session: empty signature")
	}
	_, err := s.exec(ctx, insertTokenSQL, tokenArgs(ts)...)
	if err != nil {
		return fmt.Errorf("sqlite: create token session (%s): %w", ts.Kind, err)
	}
	return nil
}

// tokenArgs encodes ts in tokenColumns order.
func tokenArgs(ts storage.TokenSession) []any {
	return []any{string(ts.Kind), ts.Signature, ts.RequestID, timeArg(ts.RequestedAt), ts.ClientID, ts.Subject,
		listArg(ts.RequestedScopes), listArg(ts.GrantedScopes),
		listArg(ts.RequestedAudience), listArg(ts.GrantedAudience), ts.Form,
		bytesArg(ts.SessionData), ts.Active, timeArg(ts.ExpiresAt), ts.AccessTokenSignature, timeArg(ts.FirstUsedAt)}
}

// GetTokenSession returns the session; an inactive one comes back with
// storage.ErrInactive.
func (s *Storage) GetTokenSession(ctx context.Context, kind storage.SessionKind, signature string) (storage.TokenSession, error) {
	ts, _, err := s.getTokenSession(ctx, kind, signature, false)
	return ts, err
}

// GetTokenSessionWithAccount is GetTokenSession with the subject's account
// state, in one statement.
func (s *Storage) GetTokenSessionWithAccount(ctx context.Context, kind storage.SessionKind, signature string) (storage.TokenSession, storage.AccountState, error) {
	return s.getTokenSession(ctx, kind, signature, true)
}

// GetTokenSessionWithLogin is GetTokenSession with the subject's account and
// its identity in the client's app, in one statement.
func (s *Storage) GetTokenSessionWithLogin(ctx context.Context, kind storage.SessionKind, signature string) (storage.TokenSession, storage.SessionLogin, error) {
	var (
		ts    storage.TokenSession
		k     string
		login storage.SessionLogin
	)
	dest := append(tokenDest(&ts, &k), accountDest(&login.Account)...)
	dest = append(dest, identityDest(&login.Identity)...)
	if err := s.queryRow(ctx, selectTokenWithLoginSQL, []any{string(kind), signature}, dest...); err != nil {
		return storage.TokenSession{}, storage.SessionLogin{}, fmt.Errorf("sqlite: get token session with login (%s): %w", kind, err)
	}
	ts.Kind = storage.SessionKind(k)
	if login.Account.ID == "" {
		login.Account = storage.Account{}
	}
	if login.Identity.AppID == "" {
		login.Identity = storage.WeChatIdentity{}
	}
	if !ts.Active {
		return ts, login, fmt.Errorf("sqlite: get token session with login (%s): %w", kind, storage.ErrInactive)
	}
	return ts, login, nil
}

// tokenDest receives tokenColumns; the kind goes to k.
func tokenDest(ts *storage.TokenSession, k *string) []any {
	return []any{k, &ts.Signature, &ts.RequestID, timeCol{&ts.RequestedAt}, &ts.ClientID, &ts.Subject,
		listCol{&ts.RequestedScopes}, listCol{&ts.GrantedScopes},
		listCol{&ts.RequestedAudience}, listCol{&ts.GrantedAudience}, &ts.Form,
		bytesCol{&ts.SessionData}, &ts.Active, timeCol{&ts.ExpiresAt}, &ts.AccessTokenSignature, timeCol{&ts.FirstUsedAt}}
}

// getTokenSession reads a session, with its subject's account state when
// withAccount is set (a zero AccountState otherwise).
func (s *Storage) getTokenSession(ctx context.Context, kind storage.SessionKind, signature string, withAccount bool) (storage.TokenSession, storage.AccountState, error) {
	var ts storage.TokenSession
	var k string
	dest := tokenDest(&ts, &k)
	query := selectTokenSQL
	var disabled sql.NullBool
	if withAccount {
		query = selectTokenWithAccountSQL
		dest = append(dest, &disabled)
	}
	if err := s.queryRow(ctx, query, []any{string(kind), signature}, dest...); err != nil {
		return storage.TokenSession{}, storage.AccountState{}, fmt.Errorf("sqlite: get token session (%s): %w", kind, err)
	}
	ts.Kind = storage.SessionKind(k)
	acc := storage.AccountState{Exists: disabled.Valid, Disabled: disabled.Valid && disabled.Bool}
	if !ts.Active {
		return ts, acc, fmt.Errorf("sqlite: get token session (%s): %w", kind, storage.ErrInactive)
	}
	return ts, acc, nil
}

// DeleteTokenSession removes one session.
func (s *Storage) DeleteTokenSession(ctx context.Context, kind storage.SessionKind, signature string) error {
	if err := s.execFound(ctx, deleteTokenSQL, string(kind), signature); err != nil {
		return fmt.Errorf("sqlite: delete token session (%s): %w", kind, err)
	}
	return nil
}

// DeactivateTokenSession marks one session inactive.
func (s *Storage) DeactivateTokenSession(ctx context.Context, kind storage.SessionKind, signature string) error {
	wasInactive := false
	err := s.inTx(ctx, func(ctx context.Context) error {
		n, err := s.execCount(ctx, deactivateTokenSQL, string(kind), signature)
		if err != nil || n > 0 {
			return err
		}
		// Not active: absent, or deactivated before (by a concurrent
		// caller). Either way its grace window ends; an absent row is
		// ErrNotFound. ErrInactive is returned after the commit.
		wasInactive = true
		return s.execFound(ctx, endGraceTokenSQL, string(kind), signature)
	})
	if err == nil && wasInactive {
		err = storage.ErrInactive
	}
	if err != nil {
		return fmt.Errorf("sqlite: deactivate token session (%s): %w", kind, err)
	}
	return nil
}

// RevokeTokenSessions deletes every session of kind with requestID, except
// refresh tokens, which it deactivates.
func (s *Storage) RevokeTokenSessions(ctx context.Context, kind storage.SessionKind, requestID string) (int64, error) {
	if err := validKind(kind); err != nil {
		return 0, fmt.Errorf("sqlite: revoke token sessions: %w", err)
	}
	query := deleteRequestSQL
	if kind == storage.KindRefreshToken {
		query = deactivateRequestSQL
	}
	var n int64
	err := s.inTx(ctx, func(ctx context.Context) error {
		var err error
		if n, err = s.execCount(ctx, query, string(kind), requestID); err != nil || kind != storage.KindRefreshToken {
			return err
		}
		_, err = s.exec(ctx, endGraceRequestSQL, string(kind), requestID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke token sessions (%s): %w", kind, err)
	}
	return n, nil
}

// RotateRefreshToken marks a refresh token used and deletes the access
// tokens of its request; see storage.TokenSessionStore. It runs in one
// IMMEDIATE transaction (or the caller's), so concurrent rotations of one
// token serialize and exactly one finds it active.
func (s *Storage) RotateRefreshToken(ctx context.Context, requestID, signature string, now time.Time, grace time.Duration) error {
	err := s.inTx(ctx, func(ctx context.Context) error {
		// The usual case, an active token, in one statement; the others
		// (grace window, reuse, unknown) read the row to tell which.
		n, err := s.execCount(ctx, rotateSQL, timeArg(now), string(storage.KindRefreshToken), signature, requestID)
		if err != nil {
			return err
		}
		if n == 0 {
			var (
				gotRequestID string
				active       bool
				firstUsedAt  time.Time
			)
			err := s.queryRow(ctx, selectRotationSQL, []any{string(storage.KindRefreshToken), signature},
				&gotRequestID, &active, timeCol{&firstUsedAt})
			if err != nil {
				return err
			}
			switch {
			case gotRequestID != requestID:
				return storage.ErrNotFound
			case active:
				// Not possible in the writer's transaction; refuse rather
				// than guess.
				return storage.ErrConflict
			case grace > 0 && !firstUsedAt.IsZero() && now.Before(firstUsedAt.Add(grace)):
				// Inside the grace window: the first use stands.
			default:
				return storage.ErrInactive
			}
		}
		_, err = s.exec(ctx, deleteRequestSQL, string(storage.KindAccessToken), requestID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: rotate refresh token: %w", err)
	}
	return nil
}

// RevokeSubjectTokens deletes the access tokens and deactivates the refresh
// tokens of one account.
func (s *Storage) RevokeSubjectTokens(ctx context.Context, subject string) (int64, error) {
	if subject == "" {
		// Tokens without an account (client_credentials) share the empty subject.
		return 0, errors.New("sqlite: revoke subject tokens: empty subject")
	}
	var total int64
	err := s.inTx(ctx, func(ctx context.Context) error {
		n, err := s.execCount(ctx, deleteSubjectSQL, subject, string(storage.KindAccessToken))
		if err != nil {
			return err
		}
		m, err := s.execCount(ctx, deactivateSubjectSQL, subject, string(storage.KindRefreshToken))
		if err != nil {
			return err
		}
		total = n + m
		_, err = s.exec(ctx, endGraceSubjectSQL, subject, string(storage.KindRefreshToken))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke subject tokens: %w", err)
	}
	return total, nil
}

// RevokeClientTokens deletes the sessions of one client and revokes its
// refresh tokens, in one write transaction.
func (s *Storage) RevokeClientTokens(ctx context.Context, clientID string) (int64, error) {
	if clientID == "" {
		return 0, errors.New("sqlite: revoke client tokens: empty client ID")
	}
	var n int64
	err := s.inTx(ctx, func(ctx context.Context) error {
		var err error
		n, err = s.revokeClientTokens(ctx, clientID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke client tokens: %w", err)
	}
	return n, nil
}

// revokeClientTokens is RevokeClientTokens inside the caller's transaction.
func (s *Storage) revokeClientTokens(ctx context.Context, clientID string) (int64, error) {
	n, err := s.execCount(ctx, deleteClientTokensSQL, clientID)
	if err != nil {
		return 0, err
	}
	m, err := s.execCount(ctx, deactivateClientTokensSQL, clientID)
	if err != nil {
		return 0, err
	}
	if _, err := s.exec(ctx, endGraceClientSQL, clientID); err != nil {
		return 0, err
	}
	return n + m, nil
}

// DeleteExpiredTokenSessions deletes up to limit sessions that expired
// before now, oldest first. Each call is one short write transaction, so a
// cleanup loop never holds the writer for long.
func (s *Storage) DeleteExpiredTokenSessions(ctx context.Context, now time.Time, limit int) (int64, error) {
	return s.deleteExpired(ctx, "token sessions", deleteExpiredSQL, now, limit)
}

// deleteExpired runs one batch of a DeleteExpired* method: query deletes at
// most limit rows expired at now (unix µs) and the count deleted is returned.
func (s *Storage) deleteExpired(ctx context.Context, what, query string, now time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("sqlite: delete expired %s: limit %d must be positive", what, limit)
	}
	n, err := s.execCount(ctx, query, now.UnixMicro(), limit)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired %s: %w", what, err)
	}
	return n, nil
}
