package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wxoidc/wxoidc/storage"
)

const accountColumns = `id, disabled, created_at, updated_at,
	phone_encrypted, phone_hash, phone_source, phone_verified_at`

// accountScan receives an account's columns, so that one row can carry an
// account next to another record (GetWeChatLogin).
type accountScan struct {
	a        storage.Account
	verified pgtype.Timestamptz
}

func (x *accountScan) dest() []any {
	return []any{&x.a.ID, &x.a.Disabled, &x.a.CreatedAt, &x.a.UpdatedAt,
		&x.a.PhoneEncrypted, &x.a.PhoneHash, &x.a.PhoneSource, &x.verified}
}

func (x *accountScan) account() storage.Account {
	a := x.a
	a.CreatedAt = a.CreatedAt.UTC()
	a.UpdatedAt = a.UpdatedAt.UTC()
	a.PhoneVerifiedAt = fromNullTime(x.verified)
	return a
}

func scanAccount(row pgx.Row) (storage.Account, error) {
	var x accountScan
	if err := row.Scan(x.dest()...); err != nil {
		return storage.Account{}, noRowsNotFound(err)
	}
	return x.account(), nil
}

const identityColumns = `app_id, open_id, account_id, union_id, session_key_encrypted,
	previous_session_key_encrypted, session_key_hash, session_key_at, created_at, updated_at`

// identityScan is accountScan for an identity.
type identityScan struct {
	id    storage.WeChatIdentity
	keyAt pgtype.Timestamptz
}

func (x *identityScan) dest() []any {
	return []any{&x.id.AppID, &x.id.OpenID, &x.id.AccountID, &x.id.UnionID, &x.id.SessionKeyEncrypted,
		&x.id.PreviousSessionKeyEncrypted, &x.id.SessionKeyHash, &x.keyAt, &x.id.CreatedAt, &x.id.UpdatedAt}
}

func (x *identityScan) identity() storage.WeChatIdentity {
	id := x.id
	id.SessionKeyAt = fromNullTime(x.keyAt)
	id.CreatedAt = id.CreatedAt.UTC()
	id.UpdatedAt = id.UpdatedAt.UTC()
	return id
}

func scanIdentity(row pgx.Row) (storage.WeChatIdentity, error) {
	var x identityScan
	if err := row.Scan(x.dest()...); err != nil {
		return storage.WeChatIdentity{}, noRowsNotFound(err)
	}
	return x.identity(), nil
}

// noRowsNotFound reads a missing row as storage.ErrNotFound.
func noRowsNotFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.ErrNotFound
	}
	return err
}

// qualify prefixes each column of a column list with a table alias.
func qualify(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// lockKey derives a transaction advisory-lock key from a namespace and
// values. A hash collision only serializes two unrelated operations.
func lockKey(namespace string, values ...string) int64 {
	h := fnv.New64a()
	h.Write([]byte(namespace))
	for _, v := range values {
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	return int64(h.Sum64())
}

// ResolveWeChatLogin finds or creates the account of a WeChat login
// (docs/contract.md §3). It serializes logins of one (appid, openid), and of one
// unionid, with transaction advisory locks, always taken in that order:
// find-or-create then needs no unique-violation retry, and it works the same
// inside a caller's transaction. An existing identity keeps a unionid it
// already has. A new identity whose unionid is known joins the account of
// the oldest identity with that unionid.
func (s *Storage) ResolveWeChatLogin(ctx context.Context, l storage.WeChatLogin) (storage.WeChatIdentity, storage.Account, error) {
	if l.AppID == "" || l.OpenID == "" {
		return storage.WeChatIdentity{}, storage.Account{}, errors.New("storage/postgres: resolve wechat login: empty appid or openid")
	}
	now := l.Now
	if now.IsZero() {
		now = s.now()
	}
	var (
		ident storage.WeChatIdentity
		acct  storage.Account
	)
	err := s.inTx(ctx, "resolve wechat login", func(q querier) error {
		if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("wechat-identity", l.AppID, l.OpenID)); err != nil {
			return err
		}
		if l.UnionID != "" {
			if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("wechat-union", l.UnionID)); err != nil {
				return err
			}
		}
		old, err := scanIdentity(q.QueryRow(ctx, `SELECT `+identityColumns+` FROM wechat_identities
			WHERE app_id = $1 AND open_id = $2 FOR UPDATE`, l.AppID, l.OpenID))
		switch {
		case err == nil:
			ident, err = updateIdentity(ctx, q, old, l, now)
		case errors.Is(err, storage.ErrNotFound):
			ident, err = createIdentity(ctx, q, l, now)
		}
		if err != nil {
			return err
		}
		acct, err = scanAccount(q.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, ident.AccountID))
		return err
	})
	if err != nil {
		return storage.WeChatIdentity{}, storage.Account{}, err
	}
	return ident, acct, nil
}

// updateIdentity records a newly learned unionid and rotates session keys
// (storage.RotateSessionKey). SessionKeyAt records the latest login, even
// when the key is unchanged.
func updateIdentity(ctx context.Context, q querier, old storage.WeChatIdentity, l storage.WeChatLogin, now time.Time) (storage.WeChatIdentity, error) {
	unionID := old.UnionID
	if unionID == "" {
		unionID = l.UnionID
	}
	cur, prev, hash := storage.RotateSessionKey(old, l)
	// SessionKeyAt is when the current key was stored: a login without one
	// (a mobile app's) leaves it.
	keyAt := old.SessionKeyAt
	if len(l.SessionKeyEncrypted) > 0 {
		keyAt = now
	}
	return scanIdentity(q.QueryRow(ctx, `UPDATE wechat_identities
		SET union_id = $3, session_key_encrypted = $4, previous_session_key_encrypted = $5,
			session_key_hash = $6, session_key_at = $7, updated_at = $8
		WHERE app_id = $1 AND open_id = $2
		RETURNING `+identityColumns,
		old.AppID, old.OpenID, unionID, nilIfEmpty(cur), nilIfEmpty(prev), nilIfEmpty(hash), nullTime(keyAt), now))
}

// createIdentity adds the identity to the account of its unionid, or to a new
// account l.NewAccountID.
func createIdentity(ctx context.Context, q querier, l storage.WeChatLogin, now time.Time) (storage.WeChatIdentity, error) {
	var accountID string
	if l.UnionID != "" {
		err := q.QueryRow(ctx, `SELECT account_id FROM wechat_identities WHERE union_id = $1
			ORDER BY created_at, app_id, open_id LIMIT 1`, l.UnionID).Scan(&accountID)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return storage.WeChatIdentity{}, err
		}
	}
	if accountID == "" {
		if l.NewAccountID == "" {
			return storage.WeChatIdentity{}, errors.New("new identity needs an account but NewAccountID is empty")
		}
		tag, err := q.Exec(ctx, `INSERT INTO accounts (`+accountColumns+`)
			VALUES ($1, false, $2, $2, NULL, '', '', NULL) ON CONFLICT DO NOTHING`, l.NewAccountID, now)
		if err != nil {
			return storage.WeChatIdentity{}, err
		}
		if tag.RowsAffected() == 0 {
			return storage.WeChatIdentity{}, fmt.Errorf("account ID of the new account: %w", storage.ErrAlreadyExists)
		}
		accountID = l.NewAccountID
	}
	var (
		keyHash []byte
		keyAt   time.Time
	)
	if len(l.SessionKeyEncrypted) > 0 {
		keyHash, keyAt = l.SessionKeyHash, now
	}
	return scanIdentity(q.QueryRow(ctx, `INSERT INTO wechat_identities (`+identityColumns+`)
		VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $8)
		RETURNING `+identityColumns,
		l.AppID, l.OpenID, accountID, l.UnionID, nilIfEmpty(l.SessionKeyEncrypted), nilIfEmpty(keyHash), nullTime(keyAt), now))
}

// GetAccount returns one account.
func (s *Storage) GetAccount(ctx context.Context, id string) (storage.Account, error) {
	var a storage.Account
	err := s.read(ctx, "get account", func(q querier) error {
		var err error
		a, err = scanAccount(q.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return storage.Account{}, err
	}
	return a, nil
}

// getWeChatLoginSQL reads an identity and its account in one row.
var getWeChatLoginSQL = `SELECT ` + qualify("w", identityColumns) + `, ` + qualify("a", accountColumns) + `
	FROM wechat_identities w JOIN accounts a ON a.id = w.account_id
	WHERE w.app_id = $1 AND w.open_id = $2`

// GetWeChatLogin returns an identity and its account in one read.
func (s *Storage) GetWeChatLogin(ctx context.Context, appID, openID string) (storage.WeChatIdentity, storage.Account, error) {
	var (
		ix identityScan
		ax accountScan
	)
	err := s.read(ctx, "get wechat login", func(q querier) error {
		return noRowsNotFound(q.QueryRow(ctx, getWeChatLoginSQL, appID, openID).Scan(append(ix.dest(), ax.dest()...)...))
	})
	if err != nil {
		return storage.WeChatIdentity{}, storage.Account{}, err
	}
	return ix.identity(), ax.account(), nil
}

// getAccountIdentitySQL reads an account with its first identity (by openid)
// in one app; the identity's text columns of an account without one read as ”.
var getAccountIdentitySQL = `SELECT ` + qualify("a", accountColumns) + `,
	COALESCE(w.app_id, ''), COALESCE(w.open_id, ''), COALESCE(w.account_id, ''), COALESCE(w.union_id, ''),
	w.session_key_encrypted, w.previous_session_key_encrypted, w.session_key_hash, w.session_key_at,
	COALESCE(w.created_at, 'epoch'), COALESCE(w.updated_at, 'epoch')
	FROM accounts a LEFT JOIN wechat_identities w ON w.account_id = a.id AND w.app_id = $2
	WHERE a.id = $1 ORDER BY w.open_id LIMIT 1`

// GetAccountIdentity returns an account and its identity in appID in one read.
func (s *Storage) GetAccountIdentity(ctx context.Context, accountID, appID string) (storage.Account, storage.WeChatIdentity, error) {
	var (
		ax accountScan
		ix identityScan
	)
	err := s.read(ctx, "get account identity", func(q querier) error {
		return noRowsNotFound(q.QueryRow(ctx, getAccountIdentitySQL, accountID, appID).Scan(append(ax.dest(), ix.dest()...)...))
	})
	if err != nil {
		return storage.Account{}, storage.WeChatIdentity{}, err
	}
	if ix.id.AppID == "" {
		return ax.account(), storage.WeChatIdentity{}, nil
	}
	return ax.account(), ix.identity(), nil
}

// rotateKeySQL is storage.RotateSessionKey as a condition on the stored row,
// for the login's sealed key $5 and hash $6 (NULL when empty, as stored): a
// key is there, differs from the stored sealed bytes, and is not known by an
// equal hash.
const rotateKeySQL = `$5::bytea IS NOT NULL AND session_key_encrypted IS DISTINCT FROM $5::bytea
	AND ($6::bytea IS NULL OR session_key_hash IS DISTINCT FROM $6::bytea)`

// recordLoginSQL is RecordWeChatLogin's UPDATE; its parameters are
// recordLoginArgs.
const recordLoginSQL = `UPDATE wechat_identities SET
	union_id = CASE WHEN union_id = '' THEN $4 ELSE union_id END,
	session_key_encrypted = CASE WHEN ` + rotateKeySQL + ` THEN $5::bytea ELSE session_key_encrypted END,
	previous_session_key_encrypted = CASE WHEN ` + rotateKeySQL + `
		THEN session_key_encrypted ELSE previous_session_key_encrypted END,
	session_key_hash = CASE WHEN ` + rotateKeySQL + ` THEN $6::bytea ELSE session_key_hash END,
	session_key_at = CASE WHEN $5::bytea IS NULL THEN session_key_at ELSE $7 END, updated_at = $7
	WHERE app_id = $1 AND open_id = $2 AND account_id = $3`

// recordLoginArgs are recordLoginSQL's parameters $1 to $7.
func recordLoginArgs(l storage.WeChatLogin, accountID string, now time.Time) []any {
	return []any{l.AppID, l.OpenID, accountID, l.UnionID,
		nilIfEmpty(l.SessionKeyEncrypted), nilIfEmpty(l.SessionKeyHash), now}
}

// RecordWeChatLogin is updateIdentity (ResolveWeChatLogin's update of a known
// identity) as one conditional UPDATE: the SET expressions all read the row
// as it was, and the row lock orders it with ResolveWeChatLogin and
// UpdateAccount alike. A row that another transaction changed meanwhile is
// re-checked against account_id after the wait.
func (s *Storage) RecordWeChatLogin(ctx context.Context, l storage.WeChatLogin, accountID string) error {
	now := l.Now
	if now.IsZero() {
		now = s.now()
	}
	var n int64
	err := s.run(ctx, "record wechat login", func(q querier) error {
		tag, err := q.Exec(ctx, recordLoginSQL, recordLoginArgs(l, accountID, now)...)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		// Returned outside run, which would retry a conflict.
		return fmt.Errorf("storage/postgres: record wechat login: identity (%q, %q) of account %q: %w",
			l.AppID, l.OpenID, accountID, storage.ErrConflict)
	}
	return nil
}

// SetAccountPhone records a verified phone; UpdatedAt becomes p.VerifiedAt.
func (s *Storage) SetAccountPhone(ctx context.Context, accountID string, p storage.AccountPhone) error {
	return s.run(ctx, "set account phone", func(q querier) error {
		tag, err := q.Exec(ctx, `UPDATE accounts SET phone_encrypted = $2, phone_hash = $3, phone_source = $4,
				phone_verified_at = $5, updated_at = $6
			WHERE id = $1`,
			accountID, nilIfEmpty(p.Encrypted), p.Hash, p.Source, nullTime(p.VerifiedAt), p.VerifiedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return nil
	})
}

// GetAccountByPhoneHash returns the accounts with that phone hash, oldest
// first (numbers are recycled, so there may be several). An empty hash
// matches nothing.
func (s *Storage) GetAccountByPhoneHash(ctx context.Context, phoneHash string) ([]storage.Account, error) {
	if phoneHash == "" {
		return nil, nil
	}
	var as []storage.Account
	err := s.read(ctx, "get accounts by phone hash", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT `+accountColumns+` FROM accounts WHERE phone_hash = $1
			ORDER BY created_at, id`, phoneHash)
		if err != nil {
			return err
		}
		as, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Account, error) { return scanAccount(r) })
		return err
	})
	return as, err
}

// GetWeChatIdentity returns one identity.
func (s *Storage) GetWeChatIdentity(ctx context.Context, appID, openID string) (storage.WeChatIdentity, error) {
	var id storage.WeChatIdentity
	err := s.read(ctx, "get wechat identity", func(q querier) error {
		var err error
		id, err = scanIdentity(q.QueryRow(ctx, `SELECT `+identityColumns+` FROM wechat_identities
			WHERE app_id = $1 AND open_id = $2`, appID, openID))
		return err
	})
	if err != nil {
		return storage.WeChatIdentity{}, err
	}
	return id, nil
}

// ListWeChatIdentities returns an account's identities ordered by (appid, openid).
func (s *Storage) ListWeChatIdentities(ctx context.Context, accountID string) ([]storage.WeChatIdentity, error) {
	var ids []storage.WeChatIdentity
	err := s.read(ctx, "list wechat identities", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT `+identityColumns+` FROM wechat_identities
			WHERE account_id = $1 ORDER BY app_id, open_id`, accountID)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.WeChatIdentity, error) { return scanIdentity(r) })
		return err
	})
	return ids, err
}

// UpdateAccount locks the row, applies fn and writes the result. Outside a
// caller's transaction fn may run again if the transaction has to be retried.
// Timestamps are stored as fn returns them.
func (s *Storage) UpdateAccount(ctx context.Context, id string, fn func(storage.Account) (storage.Account, error)) (storage.Account, error) {
	var out storage.Account
	err := s.inTx(ctx, "update account", func(q querier) error {
		old, err := scanAccount(q.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		a, err := fn(old)
		if err != nil {
			return err
		}
		if a.ID != old.ID {
			return fmt.Errorf("update function changed the account ID from %q to %q", old.ID, a.ID)
		}
		out, err = scanAccount(q.QueryRow(ctx, `UPDATE accounts SET (`+accountColumns+`) =
			($1, $2, $3, $4, $5, $6, $7, $8) WHERE id = $1 RETURNING `+accountColumns,
			a.ID, a.Disabled, a.CreatedAt, a.UpdatedAt,
			nilIfEmpty(a.PhoneEncrypted), a.PhoneHash, a.PhoneSource, nullTime(a.PhoneVerifiedAt)))
		return err
	})
	if err != nil {
		return storage.Account{}, err
	}
	return out, nil
}
