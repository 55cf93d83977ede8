package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wxoidc/wxoidc/storage"
)

const tokenSessionColumns = `kind, signature, request_id, requested_at, client_id, subject,
	requested_scopes, granted_scopes, requested_audience, granted_audience,
	form, session_data, active, expires_at, access_token_signature, first_used_at`

// tokenSessionSelect reads tokenSessionColumns; a revoked token reads with no
// first use, so no grace window applies to it (storage.TokenSessionStore).
const tokenSessionSelect = `kind, signature, request_id, requested_at, client_id, subject,
	requested_scopes, granted_scopes, requested_audience, granted_audience,
	form, session_data, active, expires_at, access_token_signature,
	CASE WHEN revoked THEN NULL ELSE first_used_at END`

func validKind(k storage.SessionKind) error {
	if !slices.Contains(storage.Kinds, k) {
		return fmt.Errorf("unknown session kind %q", k)
	}
	return nil
}

// tokenSessionTypes are the SQL types of tokenSessionColumns, in order: the
// casts that let a multi-row VALUES list take parameters.
var tokenSessionTypes = [...]string{"text", "text", "text", "timestamptz", "text", "text",
	"text[]", "text[]", "text[]", "text[]",
	"text", "bytea", "boolean", "timestamptz", "text", "timestamptz"}

// tokenSessionArgs encodes ts as the values of tokenSessionColumns.
func tokenSessionArgs(ts storage.TokenSession) [len(tokenSessionTypes)]any {
	return [...]any{ts.Kind, ts.Signature, ts.RequestID, ts.RequestedAt, ts.ClientID, ts.Subject,
		nilIfEmpty(ts.RequestedScopes), nilIfEmpty(ts.GrantedScopes),
		nilIfEmpty(ts.RequestedAudience), nilIfEmpty(ts.GrantedAudience),
		ts.Form, nilIfEmpty(ts.SessionData), ts.Active, nullTime(ts.ExpiresAt),
		ts.AccessTokenSignature, nullTime(ts.FirstUsedAt)}
}

// checkTokenSession is the validation every insert of a session applies.
func checkTokenSession(ts storage.TokenSession) error {
	if err := validKind(ts.Kind); err != nil {
		return err
	}
	if ts.Signature == "" {
		return errors.New("empty signature")
	}
	return nil
}

// CreateTokenSession inserts s; a duplicate (kind, signature) is
// storage.ErrAlreadyExists. ON CONFLICT keeps a caller's transaction usable
// after a duplicate, as a failed statement would abort it.
func (s *Storage) CreateTokenSession(ctx context.Context, ts storage.TokenSession) error {
	if err := checkTokenSession(ts); err != nil {
		return fmt.Errorf("storage/postgres: create token session: %w", err)
	}
	args := tokenSessionArgs(ts)
	return s.run(ctx, "create token session", func(q querier) error {
		tag, err := q.Exec(ctx, `INSERT INTO token_sessions (`+tokenSessionColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
			ON CONFLICT DO NOTHING`, args[:]...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrAlreadyExists
		}
		return nil
	})
}

// CreateTokenSessions inserts the sessions of one issuance in one statement
// whose CTEs read the holder's client and account FOR SHARE: the insert
// happens only if both are there and enabled, and inside a transaction the
// rows stay locked until it ends, so UpdateAccount and UpdateClient (FOR
// UPDATE) and DeleteClient wait for it. A locking read that had to wait
// re-checks the row's latest version, so a disable committed meanwhile is
// seen. Only when nothing was inserted does a second query find out why.
//
// A duplicate (kind, signature) fails the statement (storage.ErrAlreadyExists)
// rather than being skipped, since ON CONFLICT DO NOTHING would store the
// rest of the issuance; inside a caller's transaction that aborts it, which
// is what a failed issuance calls for anyway.
func (s *Storage) CreateTokenSessions(ctx context.Context, holder storage.TokenHolder, sessions ...storage.TokenSession) error {
	if err := storage.CheckIssuance(holder, sessions); err != nil {
		return fmt.Errorf("storage/postgres: create token sessions: %w", err)
	}
	query, args := createTokenSessionsSQL(holder, sessions)
	return s.run(ctx, "create token sessions", func(q querier) error {
		tag, err := q.Exec(ctx, query, args...)
		if err != nil || tag.RowsAffected() > 0 {
			return err
		}
		var clientActive bool
		err = q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1 AND NOT disabled)`,
			holder.ClientID).Scan(&clientActive)
		switch {
		case err != nil:
			return err
		case !clientActive:
			return storage.ErrClientInactive
		}
		return storage.ErrAccountInactive
	})
}

// createTokenSessionsSQL builds CreateTokenSessions' statement: $1 is the
// client, $2 the account (absent without a subject), then one VALUES row of
// cast parameters per session.
func createTokenSessionsSQL(holder storage.TokenHolder, sessions []storage.TokenSession) (string, []any) {
	var b strings.Builder
	args := []any{holder.ClientID}
	b.WriteString(`WITH c AS (SELECT 1 FROM clients WHERE id = $1 AND NOT disabled FOR SHARE)`)
	from := "c"
	if holder.Subject != "" {
		args = append(args, holder.Subject)
		b.WriteString(`, a AS (SELECT 1 FROM accounts WHERE id = $2 AND NOT disabled FOR SHARE)`)
		from = "c, a"
	}
	b.WriteString("\nINSERT INTO token_sessions (" + tokenSessionColumns + ")\nSELECT v.* FROM ")
	args = appendTokenRows(&b, args, sessions)
	b.WriteString(", " + from)
	return b.String(), args
}

// appendTokenRows writes the sessions as a VALUES list of cast parameters
// aliased v (tokenSessionColumns), numbered after args, and returns args
// with their values appended.
func appendTokenRows(b *strings.Builder, args []any, sessions []storage.TokenSession) []any {
	b.WriteString("(VALUES ")
	for i, ts := range sessions {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, typ := range tokenSessionTypes {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(b, "$%d::%s", len(args)+j+1, typ)
		}
		b.WriteByte(')')
		row := tokenSessionArgs(ts)
		args = append(args, row[:]...)
	}
	b.WriteString(") AS v (" + tokenSessionColumns + ")")
	return args
}

func scanTokenSession(row pgx.Row, extra ...any) (storage.TokenSession, error) {
	var ts storage.TokenSession
	var expires, firstUsed pgtype.Timestamptz
	err := row.Scan(append([]any{&ts.Kind, &ts.Signature, &ts.RequestID, &ts.RequestedAt, &ts.ClientID, &ts.Subject,
		&ts.RequestedScopes, &ts.GrantedScopes, &ts.RequestedAudience, &ts.GrantedAudience,
		&ts.Form, &ts.SessionData, &ts.Active, &expires, &ts.AccessTokenSignature, &firstUsed}, extra...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return ts, storage.ErrNotFound
	}
	if err != nil {
		return ts, err
	}
	ts.RequestedAt = ts.RequestedAt.UTC()
	ts.ExpiresAt = fromNullTime(expires)
	ts.FirstUsedAt = fromNullTime(firstUsed)
	return ts, nil
}

// GetTokenSession returns one session; an inactive one comes with
// storage.ErrInactive.
func (s *Storage) GetTokenSession(ctx context.Context, kind storage.SessionKind, signature string) (storage.TokenSession, error) {
	var ts storage.TokenSession
	err := s.read(ctx, "get token session", func(q querier) error {
		var err error
		ts, err = scanTokenSession(q.QueryRow(ctx, `SELECT `+tokenSessionSelect+`
			FROM token_sessions WHERE kind = $1 AND signature = $2`, kind, signature))
		return err
	})
	if err != nil {
		return storage.TokenSession{}, err
	}
	if !ts.Active {
		return ts, fmt.Errorf("storage/postgres: get token session: %w", storage.ErrInactive)
	}
	return ts, nil
}

// getTokenSessionWithLoginSQL reads a session with its subject's account and
// the account's identity in the app of the session's client; the columns of
// a missing account or identity read as empty text, false, the epoch or NULL.
const getTokenSessionWithLoginSQL = `WITH t AS (SELECT ` + tokenSessionSelect + `
	FROM token_sessions WHERE kind = $1 AND signature = $2)
	SELECT t.*,
	COALESCE(a.id, ''), COALESCE(a.disabled, false), COALESCE(a.created_at, 'epoch'), COALESCE(a.updated_at, 'epoch'),
	a.phone_encrypted, COALESCE(a.phone_hash, ''), COALESCE(a.phone_source, ''), a.phone_verified_at,
	COALESCE(w.app_id, ''), COALESCE(w.open_id, ''), COALESCE(w.account_id, ''), COALESCE(w.union_id, ''),
	w.session_key_encrypted, w.previous_session_key_encrypted, w.session_key_hash, w.session_key_at,
	COALESCE(w.created_at, 'epoch'), COALESCE(w.updated_at, 'epoch')
	FROM t
	LEFT JOIN accounts a ON a.id = t.subject
	LEFT JOIN clients c ON c.id = t.client_id
	LEFT JOIN wechat_identities w ON w.account_id = a.id AND w.app_id = c.wechat_app_id AND c.wechat_app_id <> ''
	ORDER BY w.open_id LIMIT 1`

// GetTokenSessionWithLogin is GetTokenSession with the subject's account and
// its identity in the client's app, in one statement.
func (s *Storage) GetTokenSessionWithLogin(ctx context.Context, kind storage.SessionKind, signature string) (storage.TokenSession, storage.SessionLogin, error) {
	var (
		ts storage.TokenSession
		ax accountScan
		ix identityScan
	)
	err := s.read(ctx, "get token session with login", func(q querier) error {
		var err error
		ts, err = scanTokenSession(q.QueryRow(ctx, getTokenSessionWithLoginSQL, kind, signature), append(ax.dest(), ix.dest()...)...)
		return err
	})
	if err != nil {
		return storage.TokenSession{}, storage.SessionLogin{}, err
	}
	var login storage.SessionLogin
	if ax.a.ID != "" {
		login.Account = ax.account()
	}
	if ix.id.AppID != "" {
		login.Identity = ix.identity()
	}
	if !ts.Active {
		return ts, login, fmt.Errorf("storage/postgres: get token session with login: %w", storage.ErrInactive)
	}
	return ts, login, nil
}

// GetTokenSessionWithAccount is GetTokenSession with the subject's account
// state, in one statement (the account as a scalar subquery: NULL when none
// has the subject as ID).
func (s *Storage) GetTokenSessionWithAccount(ctx context.Context, kind storage.SessionKind, signature string) (storage.TokenSession, storage.AccountState, error) {
	var ts storage.TokenSession
	var disabled pgtype.Bool
	err := s.read(ctx, "get token session with account", func(q querier) error {
		var err error
		ts, err = scanTokenSession(q.QueryRow(ctx, `SELECT `+tokenSessionSelect+`,
			(SELECT disabled FROM accounts WHERE id = token_sessions.subject)
			FROM token_sessions WHERE kind = $1 AND signature = $2`, kind, signature), &disabled)
		return err
	})
	if err != nil {
		return storage.TokenSession{}, storage.AccountState{}, err
	}
	acc := storage.AccountState{Exists: disabled.Valid, Disabled: disabled.Valid && disabled.Bool}
	if !ts.Active {
		return ts, acc, fmt.Errorf("storage/postgres: get token session with account: %w", storage.ErrInactive)
	}
	return ts, acc, nil
}

// DeleteTokenSession removes one session.
func (s *Storage) DeleteTokenSession(ctx context.Context, kind storage.SessionKind, signature string) error {
	return s.run(ctx, "delete token session", func(q querier) error {
		tag, err := q.Exec(ctx, `DELETE FROM token_sessions WHERE kind = $1 AND signature = $2`, kind, signature)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return nil
	})
}

// DeactivateTokenSession marks one session inactive. Like a revocation (and
// unlike a rotation) it leaves a refresh token no grace window.
func (s *Storage) DeactivateTokenSession(ctx context.Context, kind storage.SessionKind, signature string) error {
	return s.run(ctx, "deactivate token session", func(q querier) error {
		tag, err := q.Exec(ctx, `UPDATE token_sessions SET active = false, revoked = true
			WHERE kind = $1 AND signature = $2 AND active`,
			kind, signature)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			return nil
		}
		// Not active: absent, or deactivated before (by a concurrent
		// caller, whose row lock this statement waited for).
		// Its grace window ends all the same (revoked masks first_used_at).
		tag, err = q.Exec(ctx, `UPDATE token_sessions SET revoked = true WHERE kind = $1 AND signature = $2`, kind, signature)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return storage.ErrInactive
	})
}

// RevokeTokenSessions deletes the sessions of kind with requestID, except
// refresh tokens, which are deactivated so that a later reuse is recognised.
// It counts the rows deleted or newly deactivated.
//
// Revoked refresh tokens are also flagged revoked, including ones already
// rotated: the contract's grace window ("inactive with FirstUsedAt + grace >
// now") must not revive a token of a chain that was revoked since (reuse
// detection, "log out everywhere"), or revocation would not make it unusable.
func (s *Storage) RevokeTokenSessions(ctx context.Context, kind storage.SessionKind, requestID string) (int64, error) {
	if err := validKind(kind); err != nil {
		return 0, fmt.Errorf("storage/postgres: revoke token sessions: %w", err)
	}
	var n int64
	err := s.run(ctx, "revoke token sessions", func(q querier) error {
		if kind == storage.KindRefreshToken {
			return q.QueryRow(ctx, `WITH `+revokeRefreshCTE("request_id")+`
				SELECT count(*) FROM revoked WHERE was_active`, requestID).Scan(&n)
		}
		tag, err := q.Exec(ctx, `DELETE FROM token_sessions WHERE kind = $1 AND request_id = $2`, kind, requestID)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// revokeRefreshCTE is a CTE named "revoked" that deactivates and flags
// revoked the refresh tokens whose column (the constant request_id or
// subject) equals $1, yielding was_active for each. The FOR UPDATE subquery
// reads each row's latest version after waiting for concurrent writers, so
// was_active is exact.
func revokeRefreshCTE(column string) string {
	return `revoked AS (
		UPDATE token_sessions t SET active = false, revoked = true
		FROM (SELECT signature, active FROM token_sessions
			WHERE kind = 'refresh_token' AND ` + column + ` = $1 AND NOT revoked
			FOR UPDATE) o
		WHERE t.kind = 'refresh_token' AND t.signature = o.signature
		RETURNING o.active AS was_active)`
}

// RotateRefreshToken is the compare-and-swap of refresh-token rotation. The
// conditional UPDATE … WHERE active takes the row lock, so of several
// concurrent rotations exactly one sees the token active; the others wait for
// it and then match nothing. The access tokens of the chain are deleted in the
// same statement. The grace window applies to tokens made inactive by
// rotation only, never to revoked ones (see RevokeTokenSessions).
func (s *Storage) RotateRefreshToken(ctx context.Context, requestID, signature string, now time.Time, grace time.Duration) error {
	return s.run(ctx, "rotate refresh token", func(q querier) error {
		var rotated bool
		err := q.QueryRow(ctx, `WITH rotated AS (
				UPDATE token_sessions SET active = false, first_used_at = $3
				WHERE kind = 'refresh_token' AND signature = $1 AND request_id = $2 AND active
				RETURNING request_id
			), revoked AS (
				DELETE FROM token_sessions
				WHERE kind = 'access_token' AND request_id IN (SELECT request_id FROM rotated)
			)
			SELECT EXISTS (SELECT 1 FROM rotated)`, signature, requestID, now).Scan(&rotated)
		if err != nil || rotated {
			return err
		}
		// Lost the race or reused: look at the token as it now stands.
		var (
			firstUsed pgtype.Timestamptz
			revoked   bool
		)
		err = q.QueryRow(ctx, `SELECT first_used_at, revoked FROM token_sessions
			WHERE kind = 'refresh_token' AND signature = $1 AND request_id = $2`,
			signature, requestID).Scan(&firstUsed, &revoked)
		if errors.Is(err, pgx.ErrNoRows) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		if grace > 0 && !revoked && firstUsed.Valid && firstUsed.Time.Add(grace).After(now) {
			// Grace window: the client lost the previous response and will get
			// a new pair. Revoke the access tokens minted by the rotation it
			// never received, as a rotation would.
			_, err := q.Exec(ctx, `DELETE FROM token_sessions WHERE kind = 'access_token' AND request_id = $1`, requestID)
			return err
		}
		return storage.ErrInactive
	})
}

// RevokeSubjectTokens deletes the access tokens and revokes the refresh
// tokens of one account (as RevokeTokenSessions does), in one statement. It
// counts rows deleted or newly deactivated.
func (s *Storage) RevokeSubjectTokens(ctx context.Context, subject string) (int64, error) {
	if subject == "" {
		// Tokens without an account (client_credentials) share the empty subject.
		return 0, errors.New("storage/postgres: revoke subject tokens: empty subject")
	}
	var n int64
	err := s.run(ctx, "revoke subject tokens", func(q querier) error {
		return q.QueryRow(ctx, `WITH deleted AS (
				DELETE FROM token_sessions WHERE subject = $1 AND kind = 'access_token'
				RETURNING 1
			), `+revokeRefreshCTE("subject")+`
			SELECT (SELECT count(*) FROM deleted) + (SELECT count(*) FROM revoked WHERE was_active)`,
			subject).Scan(&n)
	})
	return n, err
}

// RevokeClientTokens deletes the sessions of one client and revokes its
// refresh tokens (as RevokeTokenSessions does), in one statement. It counts
// rows deleted or newly deactivated.
func (s *Storage) RevokeClientTokens(ctx context.Context, clientID string) (int64, error) {
	if clientID == "" {
		return 0, errors.New("storage/postgres: revoke client tokens: empty client ID")
	}
	var n int64
	err := s.run(ctx, "revoke client tokens", func(q querier) error {
		var err error
		n, err = revokeClientTokens(ctx, q, clientID)
		return err
	})
	return n, err
}

func revokeClientTokens(ctx context.Context, q querier, clientID string) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, `WITH deleted AS (
			DELETE FROM token_sessions WHERE client_id = $1 AND kind <> 'refresh_token'
			RETURNING 1
		), `+revokeRefreshCTE("client_id")+`
		SELECT (SELECT count(*) FROM deleted) + (SELECT count(*) FROM revoked WHERE was_active)`,
		clientID).Scan(&n)
	return n, err
}

// DeleteExpiredTokenSessions deletes up to limit sessions that expired before
// now, oldest first (sessions without expiry stay). SKIP LOCKED lets several
// instances collect at once without waiting on each other or on live
// transactions. Deleting by ctid keeps the plan an index scan plus a TID scan
// even as a generic prepared plan, where an IN on the key can become a hash
// join over the whole table.
func (s *Storage) DeleteExpiredTokenSessions(ctx context.Context, now time.Time, limit int) (int64, error) {
	return s.deleteExpired(ctx, "token sessions", `DELETE FROM token_sessions WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM token_sessions
			WHERE expires_at < $1 ORDER BY expires_at LIMIT $2
			FOR UPDATE SKIP LOCKED))`, now, limit)
}

// nilIfEmpty stores empty slices as NULL, so they read back nil.
func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromNullTime reads NULL as the zero time and anything else in UTC.
func fromNullTime(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// deleteExpired runs one batch of a DeleteExpired* method: query deletes at
// most $2 rows expired at $1 and the count deleted is returned.
func (s *Storage) deleteExpired(ctx context.Context, what, query string, now time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("storage/postgres: delete expired %s: limit must be positive (got %d)", what, limit)
	}
	var n int64
	err := s.run(ctx, "delete expired "+what, func(q querier) error {
		tag, err := q.Exec(ctx, query, now, limit)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
