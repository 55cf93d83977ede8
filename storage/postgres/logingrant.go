package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wxoidc/wxoidc/storage"
)

// SQLSTATEs that wxoidc_refuse (migration 0009) raises for StoreLoginGrant.
const (
	codeLoginConflict   = "WXG01"
	codeClientInactive  = "WXG02"
	codeAccountInactive = "WXG03"
)

// StoreLoginGrant writes a returning person's grant in one statement; see
// storage.AccountStore. On PostgreSQL every statement, BEGIN and COMMIT is
// a round trip, and the server's work per round trip is most of a grant's
// database cost: the login, the phone and the tokens go in data-modifying
// CTEs of one statement, atomic without a transaction. A failed check calls
// wxoidc_refuse, whose error aborts the statement and so undoes its writes.
//
// The checks hold what they check as CreateTokenSessions does: the client
// row FOR SHARE, the account row FOR SHARE or, with a phone, locked by its
// UPDATE (taking the stronger lock first: two grants of one person that
// both took FOR SHARE and then updated would deadlock).
func (s *Storage) StoreLoginGrant(ctx context.Context, g storage.LoginGrant) error {
	if err := storage.CheckLoginGrant(g); err != nil {
		return fmt.Errorf("storage/postgres: store login grant: %w", err)
	}
	now := g.Login.Now
	if now.IsZero() {
		now = s.now()
	}
	args := recordLoginArgs(g.Login, g.Holder.Subject, now)
	args = append(args, g.Holder.ClientID)
	if p := g.Phone; p != nil {
		args = append(args, nilIfEmpty(p.Encrypted), p.Hash, p.Source, nullTime(p.VerifiedAt), p.VerifiedAt)
	}
	query, args := loginGrantSQL(g.Phone != nil, g.Sessions, args)
	err := s.run(ctx, "store login grant", func(q querier) error {
		var refused int
		return q.QueryRow(ctx, query, args...).Scan(&refused)
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case codeLoginConflict:
		return fmt.Errorf("storage/postgres: store login grant: identity (%q, %q) of account %q: %w",
			g.Login.AppID, g.Login.OpenID, g.Holder.Subject, storage.ErrConflict)
	case codeClientInactive:
		return fmt.Errorf("storage/postgres: store login grant: %w", storage.ErrClientInactive)
	case codeAccountInactive:
		return fmt.Errorf("storage/postgres: store login grant: %w", storage.ErrAccountInactive)
	}
	return err
}

// loginGrantSQL builds StoreLoginGrant's statement. args holds $1–$7
// (recordLoginArgs), the client $8 and, with a phone, $9–$13; the token
// rows' parameters follow, appended to the returned args.
func loginGrantSQL(phone bool, sessions []storage.TokenSession, args []any) (string, []any) {
	var b strings.Builder
	b.WriteString("WITH login AS (" + recordLoginSQL + " RETURNING 1),\n")
	b.WriteString("c AS (SELECT 1 FROM clients WHERE id = $8 AND NOT disabled FOR SHARE),\n")
	if phone {
		b.WriteString(`a AS (UPDATE accounts SET phone_encrypted = $9, phone_hash = $10, phone_source = $11,
	phone_verified_at = $12, updated_at = $13 WHERE id = $3 AND NOT disabled RETURNING 1),` + "\n")
	} else {
		b.WriteString("a AS (SELECT 1 FROM accounts WHERE id = $3 AND NOT disabled FOR SHARE),\n")
	}
	b.WriteString("t AS (INSERT INTO token_sessions (" + tokenSessionColumns + ")\nSELECT v.* FROM ")
	args = appendTokenRows(&b, args, sessions)
	b.WriteString(", login, c, a)\n")
	b.WriteString(`SELECT CASE
	WHEN NOT EXISTS (SELECT FROM login) THEN wxoidc_refuse('` + codeLoginConflict + `', 'identity absent or not the account''s')
	WHEN NOT EXISTS (SELECT FROM c) THEN wxoidc_refuse('` + codeClientInactive + `', 'client absent or disabled')
	WHEN NOT EXISTS (SELECT FROM a) THEN wxoidc_refuse('` + codeAccountInactive + `', 'account absent or disabled')
	ELSE 0 END`)
	return b.String(), args
}
