package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/wxoidc/wxoidc/storage"
)

const accountColumns = `id, disabled, created_at, updated_at, phone_encrypted, phone_hash, phone_source, phone_verified_at`

const identityColumns = `appid, openid, account_id, unionid, session_key_encrypted,
	previous_session_key_encrypted, session_key_hash, session_key_at, created_at, updated_at`

var (
	insertAccountSQL = writeSQL(`INSERT INTO accounts (` + accountColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	selectAccountSQL = readSQL(`SELECT ` + accountColumns + ` FROM accounts WHERE id = ?`)
	// The repeated condition lets SQLite use the partial index.
	accountsByPhoneSQL = readSQL(`SELECT ` + accountColumns + ` FROM accounts
	WHERE phone_hash = ? AND phone_hash <> '' ORDER BY id`)
	updateAccountSQL = writeSQL(`UPDATE accounts SET disabled = ?, created_at = ?, updated_at = ?, phone_encrypted = ?,
	phone_hash = ?, phone_source = ?, phone_verified_at = ? WHERE id = ?`)

	insertIdentitySQL = writeSQL(`INSERT INTO wechat_identities (` + identityColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	selectIdentitySQL = readSQL(`SELECT ` + identityColumns + ` FROM wechat_identities WHERE appid = ? AND openid = ?`)
	listIdentitiesSQL = readSQL(`SELECT ` + identityColumns + ` FROM wechat_identities
	WHERE account_id = ? ORDER BY appid, openid`)
	updateIdentityLoginSQL = writeSQL(`UPDATE wechat_identities SET unionid = ?, session_key_encrypted = ?,
	previous_session_key_encrypted = ?, session_key_hash = ?, session_key_at = ?, updated_at = ? WHERE appid = ? AND openid = ?`)
	// The earliest identity wins should a unionid ever span two accounts.
	accountByUnionIDSQL = readSQL(`SELECT account_id FROM wechat_identities
	WHERE unionid = ? AND unionid <> '' ORDER BY created_at, appid, openid LIMIT 1`)
)

func accountDest(a *storage.Account) []any {
	return []any{&a.ID, &a.Disabled, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt}, bytesCol{&a.PhoneEncrypted},
		&a.PhoneHash, &a.PhoneSource, timeCol{&a.PhoneVerifiedAt}}
}

func identityDest(w *storage.WeChatIdentity) []any {
	return []any{&w.AppID, &w.OpenID, &w.AccountID, &w.UnionID, bytesCol{&w.SessionKeyEncrypted},
		bytesCol{&w.PreviousSessionKeyEncrypted}, bytesCol{&w.SessionKeyHash}, timeCol{&w.SessionKeyAt}, timeCol{&w.CreatedAt}, timeCol{&w.UpdatedAt}}
}

// ResolveWeChatLogin finds or creates the account for a login in one
// transaction; see storage.AccountStore.
func (s *Storage) ResolveWeChatLogin(ctx context.Context, l storage.WeChatLogin) (storage.WeChatIdentity, storage.Account, error) {
	if l.AppID == "" || l.OpenID == "" {
		return storage.WeChatIdentity{}, storage.Account{}, errors.New("sqlite: resolve wechat login: empty appid or openid")
	}
	if l.Now.IsZero() {
		l.Now = s.now()
	}
	var (
		id   storage.WeChatIdentity
		acct storage.Account
	)
	err := s.inTx(ctx, func(ctx context.Context) error {
		err := s.queryRow(ctx, selectIdentitySQL, []any{l.AppID, l.OpenID}, identityDest(&id)...)
		switch {
		case err == nil:
			err = s.updateLogin(ctx, id, l)
		case errors.Is(err, storage.ErrNotFound):
			err = s.createIdentity(ctx, l)
		}
		if err != nil {
			return err
		}
		// Read back what is stored now.
		if err := s.queryRow(ctx, selectIdentitySQL, []any{l.AppID, l.OpenID}, identityDest(&id)...); err != nil {
			return err
		}
		return s.queryRow(ctx, selectAccountSQL, []any{id.AccountID}, accountDest(&acct)...)
	})
	if err != nil {
		return storage.WeChatIdentity{}, storage.Account{}, fmt.Errorf("sqlite: resolve wechat login: %w", err)
	}
	return id, acct, nil
}

// updateLogin records a login of a known identity: a newly learned unionid,
// and the session key (storage.RotateSessionKey).
func (s *Storage) updateLogin(ctx context.Context, id storage.WeChatIdentity, l storage.WeChatLogin) error {
	if id.UnionID == "" {
		id.UnionID = l.UnionID
	}
	id.SessionKeyEncrypted, id.PreviousSessionKeyEncrypted, id.SessionKeyHash = storage.RotateSessionKey(id, l)
	if len(l.SessionKeyEncrypted) > 0 {
		id.SessionKeyAt = l.Now
	}
	_, err := s.exec(ctx, updateIdentityLoginSQL, id.UnionID, bytesArg(id.SessionKeyEncrypted),
		bytesArg(id.PreviousSessionKeyEncrypted), bytesArg(id.SessionKeyHash), timeArg(id.SessionKeyAt), timeArg(l.Now), l.AppID, l.OpenID)
	return err
}

// createIdentity stores a new identity, in the account of its unionid if
// that is known, else in a new account.
func (s *Storage) createIdentity(ctx context.Context, l storage.WeChatLogin) error {
	var accountID string
	if l.UnionID != "" {
		err := s.queryRow(ctx, accountByUnionIDSQL, []any{l.UnionID}, &accountID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	if accountID == "" {
		if l.NewAccountID == "" {
			return errors.New("new identity without NewAccountID")
		}
		accountID = l.NewAccountID
		if _, err := s.exec(ctx, insertAccountSQL, accountID, false, timeArg(l.Now), timeArg(l.Now),
			nil, "", "", nil); err != nil {
			return fmt.Errorf("create account: %w", err)
		}
	}
	var keyAt any
	var keyHash []byte
	if len(l.SessionKeyEncrypted) > 0 {
		keyAt = timeArg(l.Now)
		keyHash = l.SessionKeyHash
	}
	_, err := s.exec(ctx, insertIdentitySQL, l.AppID, l.OpenID, accountID, l.UnionID,
		bytesArg(l.SessionKeyEncrypted), nil, bytesArg(keyHash), keyAt, timeArg(l.Now), timeArg(l.Now))
	if err != nil {
		return fmt.Errorf("create identity: %w", err)
	}
	return nil
}

// GetAccount returns one account.
func (s *Storage) GetAccount(ctx context.Context, id string) (storage.Account, error) {
	var a storage.Account
	if err := s.queryRow(ctx, selectAccountSQL, []any{id}, accountDest(&a)...); err != nil {
		return storage.Account{}, fmt.Errorf("sqlite: get account: %w", err)
	}
	return a, nil
}

// GetAccountByPhoneHash returns the accounts holding a phone hash, ordered
// by ID; the empty hash matches none.
func (s *Storage) GetAccountByPhoneHash(ctx context.Context, phoneHash string) ([]storage.Account, error) {
	var out []storage.Account
	err := s.queryRows(ctx, accountsByPhoneSQL, []any{phoneHash}, func(rows *sql.Rows) error {
		var a storage.Account
		if err := rows.Scan(accountDest(&a)...); err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: get accounts by phone hash: %w", err)
	}
	return out, nil
}

// GetWeChatIdentity returns one identity.
func (s *Storage) GetWeChatIdentity(ctx context.Context, appID, openID string) (storage.WeChatIdentity, error) {
	var w storage.WeChatIdentity
	if err := s.queryRow(ctx, selectIdentitySQL, []any{appID, openID}, identityDest(&w)...); err != nil {
		return storage.WeChatIdentity{}, fmt.Errorf("sqlite: get wechat identity: %w", err)
	}
	return w, nil
}

// ListWeChatIdentities returns an account's identities ordered by (appid, openid).
func (s *Storage) ListWeChatIdentities(ctx context.Context, accountID string) ([]storage.WeChatIdentity, error) {
	var out []storage.WeChatIdentity
	err := s.queryRows(ctx, listIdentitiesSQL, []any{accountID}, func(rows *sql.Rows) error {
		var w storage.WeChatIdentity
		if err := rows.Scan(identityDest(&w)...); err != nil {
			return err
		}
		out = append(out, w)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list wechat identities: %w", err)
	}
	return out, nil
}

// UpdateAccount applies fn to the stored account in one transaction.
func (s *Storage) UpdateAccount(ctx context.Context, id string, fn func(storage.Account) (storage.Account, error)) (storage.Account, error) {
	var out storage.Account
	err := s.inTx(ctx, func(ctx context.Context) error {
		var old storage.Account
		if err := s.queryRow(ctx, selectAccountSQL, []any{id}, accountDest(&old)...); err != nil {
			return err
		}
		a, err := fn(old)
		if err != nil {
			return err
		}
		if a.ID != id {
			return errors.New("updater changed the account ID")
		}
		_, err = s.exec(ctx, updateAccountSQL, a.Disabled, timeArg(a.CreatedAt), timeArg(a.UpdatedAt),
			bytesArg(a.PhoneEncrypted), a.PhoneHash, a.PhoneSource, timeArg(a.PhoneVerifiedAt), id)
		if err != nil {
			return err
		}
		return s.queryRow(ctx, selectAccountSQL, []any{id}, accountDest(&out)...)
	})
	if err != nil {
		return storage.Account{}, fmt.Errorf("sqlite: update account: %w", err)
	}
	return out, nil
}
