package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wxoidc/wxoidc/storage"
)

// The statements of a token request's hot path: each does in one statement
// what took a read and a write (or three) before, because every statement
// through database/sql and the SQLite driver costs tens of microseconds of
// CPU, and a write holds the single writer.

// tokenRowsSQL inserts n token sessions (16 columns each) provided the
// holder's client is enabled and, when the subject is not empty, its account
// too. Inside a transaction nothing more is needed to hold them: the
// transaction holds the single writer until it ends.
func tokenRowsSQL(n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", 16), ", ") + ")"
	return `INSERT INTO token_sessions (` + tokenColumns + `)
	SELECT * FROM (VALUES ` + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + `)
	WHERE EXISTS (SELECT 1 FROM clients WHERE id = ? AND disabled = 0)
	AND (? = '' OR EXISTS (SELECT 1 FROM accounts WHERE id = ? AND disabled = 0))`
}

var (
	// A grant stores an access and a refresh token, other requests one.
	insertTokenRowsSQL = [...]string{1: writeSQL(tokenRowsSQL(1)), 2: writeSQL(tokenRowsSQL(2))}
	clientActiveSQL    = readSQL(`SELECT EXISTS (SELECT 1 FROM clients WHERE id = ? AND disabled = 0)`)

	// Text columns of a missing identity read as ''.
	selectAccountIdentitySQL = readSQL(`SELECT ` + prefixColumns("a.", accountColumns) + `,
	COALESCE(i.appid, ''), COALESCE(i.openid, ''), COALESCE(i.account_id, ''), COALESCE(i.unionid, ''),
	i.session_key_encrypted, i.previous_session_key_encrypted, i.session_key_hash, i.session_key_at, i.created_at, i.updated_at
	FROM accounts a LEFT JOIN wechat_identities i ON i.account_id = a.id AND i.appid = ?
	WHERE a.id = ? ORDER BY i.openid LIMIT 1`)

	selectLoginSQL = readSQL(`SELECT ` + prefixColumns("i.", identityColumns) + `, ` + prefixColumns("a.", accountColumns) + `
	FROM wechat_identities i JOIN accounts a ON a.id = i.account_id WHERE i.appid = ? AND i.openid = ?`)

	// recordLoginSQL is storage.RotateSessionKey in SQL: ?2 is the login's
	// sealed key (NULL without one), ?3 its hash. The key is unchanged when
	// the login has none, its hash equals the stored one, or its sealed
	// bytes do. SQLite evaluates every SET expression on the old row.
	recordLoginSQL = writeSQL(`UPDATE wechat_identities SET
	unionid = CASE WHEN unionid = '' THEN ?1 ELSE unionid END,
	session_key_encrypted = CASE WHEN ` + sameKey + ` THEN session_key_encrypted ELSE ?2 END,
	previous_session_key_encrypted = CASE WHEN ` + sameKey + ` THEN previous_session_key_encrypted ELSE session_key_encrypted END,
	session_key_hash = CASE WHEN ` + sameKey + ` THEN session_key_hash ELSE ?3 END,
	session_key_at = CASE WHEN ?2 IS NULL THEN session_key_at ELSE ?4 END,
	updated_at = ?4
	WHERE appid = ?5 AND openid = ?6 AND account_id = ?7`)

	setPhoneSQL = writeSQL(`UPDATE accounts SET phone_encrypted = ?, phone_hash = ?, phone_source = ?,
	phone_verified_at = ?, updated_at = ? WHERE id = ?`)
)

// sameKey is true (not NULL) only when the login leaves the keys alone.
const sameKey = `(?2 IS NULL OR (?3 IS NOT NULL AND session_key_hash IS ?3) OR session_key_encrypted IS ?2)`

// prefixColumns qualifies a comma-separated column list with a table alias.
func prefixColumns(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// CreateTokenSessions inserts one issuance in one statement; see
// storage.TokenSessionStore.
func (s *Storage) CreateTokenSessions(ctx context.Context, holder storage.TokenHolder, sessions ...storage.TokenSession) error {
	if err := storage.CheckIssuance(holder, sessions); err != nil {
		return fmt.Errorf("sqlite: create token sessions: %w", err)
	}
	var query string
	if len(sessions) < len(insertTokenRowsSQL) {
		query = insertTokenRowsSQL[len(sessions)]
	} else {
		query = tokenRowsSQL(len(sessions))
	}
	args := make([]any, 0, 16*len(sessions)+3)
	for _, ts := range sessions {
		args = append(args, tokenArgs(ts)...)
	}
	args = append(args, holder.ClientID, holder.Subject, holder.Subject)
	n, err := s.execCount(ctx, query, args...)
	if err == nil && n == 0 {
		err = s.inactiveHolder(ctx, holder)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create token sessions (%s): %w", sessions[0].Kind, err)
	}
	return nil
}

// inactiveHolder tells which of the holder's client and account refused an
// issuance that stored nothing.
func (s *Storage) inactiveHolder(ctx context.Context, holder storage.TokenHolder) error {
	var clientActive bool
	if err := s.queryRow(ctx, clientActiveSQL, []any{holder.ClientID}, &clientActive); err != nil {
		return err
	}
	if !clientActive {
		return storage.ErrClientInactive
	}
	return storage.ErrAccountInactive
}

// GetWeChatLogin returns an identity and its account in one read.
func (s *Storage) GetWeChatLogin(ctx context.Context, appID, openID string) (storage.WeChatIdentity, storage.Account, error) {
	var (
		id  storage.WeChatIdentity
		acc storage.Account
	)
	dest := append(identityDest(&id), accountDest(&acc)...)
	if err := s.queryRow(ctx, selectLoginSQL, []any{appID, openID}, dest...); err != nil {
		return storage.WeChatIdentity{}, storage.Account{}, fmt.Errorf("sqlite: get wechat login: %w", err)
	}
	return id, acc, nil
}

// GetAccountIdentity returns an account and its identity in appID in one read.
func (s *Storage) GetAccountIdentity(ctx context.Context, accountID, appID string) (storage.Account, storage.WeChatIdentity, error) {
	var (
		acc storage.Account
		id  storage.WeChatIdentity
	)
	dest := append(accountDest(&acc), identityDest(&id)...)
	if err := s.queryRow(ctx, selectAccountIdentitySQL, []any{appID, accountID}, dest...); err != nil {
		return storage.Account{}, storage.WeChatIdentity{}, fmt.Errorf("sqlite: get account identity: %w", err)
	}
	return acc, id, nil
}

// RecordWeChatLogin records a login of a known identity in one statement.
func (s *Storage) RecordWeChatLogin(ctx context.Context, l storage.WeChatLogin, accountID string) error {
	if l.Now.IsZero() {
		l.Now = s.now()
	}
	var hash any
	if len(l.SessionKeyEncrypted) > 0 {
		hash = bytesArg(l.SessionKeyHash)
	}
	err := s.execFound(ctx, recordLoginSQL, l.UnionID, bytesArg(l.SessionKeyEncrypted), hash, timeArg(l.Now),
		l.AppID, l.OpenID, accountID)
	if errors.Is(err, storage.ErrNotFound) {
		err = fmt.Errorf("identity absent or not in account %q: %w", accountID, storage.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: record wechat login: %w", err)
	}
	return nil
}

// SetAccountPhone records a verified phone in one statement.
func (s *Storage) SetAccountPhone(ctx context.Context, accountID string, p storage.AccountPhone) error {
	at := timeArg(p.VerifiedAt)
	if err := s.execFound(ctx, setPhoneSQL, bytesArg(p.Encrypted), p.Hash, p.Source, at, at, accountID); err != nil {
		return fmt.Errorf("sqlite: set account phone: %w", err)
	}
	return nil
}

// StoreLoginGrant writes a returning person's grant in one transaction of
// two or three statements; see storage.AccountStore. On SQLite a statement
// costs CPU, not a round trip, and the transaction holds the single writer,
// so nothing changes between its statements.
func (s *Storage) StoreLoginGrant(ctx context.Context, g storage.LoginGrant) error {
	if err := storage.CheckLoginGrant(g); err != nil {
		return fmt.Errorf("sqlite: store login grant: %w", err)
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		if err := s.RecordWeChatLogin(ctx, g.Login, g.Holder.Subject); err != nil {
			return err
		}
		if g.Phone != nil {
			// The identity is the account's: the account exists.
			if err := s.SetAccountPhone(ctx, g.Holder.Subject, *g.Phone); err != nil {
				return err
			}
		}
		return s.CreateTokenSessions(ctx, g.Holder, g.Sessions...)
	})
}
