package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

const loginSessionColumns = `id, account_id, auth_time, amr, appid, created_at, last_seen_at, expires_at`

var (
	insertLoginSessionSQL = writeSQL(`INSERT INTO login_sessions (` + loginSessionColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	selectLoginSessionSQL        = readSQL(`SELECT ` + loginSessionColumns + ` FROM login_sessions WHERE id = ?`)
	selectLoginSessionAccountSQL = readSQL(`SELECT ` + prefixColumns("l.", loginSessionColumns) + `, ` + prefixColumns("a.", accountColumns) + `
	FROM login_sessions l JOIN accounts a ON a.id = l.account_id WHERE l.id = ?`)
	existsLoginSessionSQL  = readSQL(`SELECT 1 FROM login_sessions WHERE id = ?`)
	touchLoginSessionSQL   = writeSQL(`UPDATE login_sessions SET last_seen_at = ? WHERE id = ?`)
	deleteLoginSessionSQL  = writeSQL(`DELETE FROM login_sessions WHERE id = ?`)
	accountLoginSessionSQL = readSQL(`SELECT ` + loginSessionColumns + ` FROM login_sessions
	WHERE account_id = ? ORDER BY created_at DESC, id`)
	// Links go with their sessions (ON DELETE CASCADE), here and below.
	deleteAccountLoginSessionsSQL = writeSQL(`DELETE FROM login_sessions WHERE account_id = ?`)
	deleteExpiredLoginSessionsSQL = writeSQL(`DELETE FROM login_sessions WHERE id IN (
	SELECT id FROM login_sessions WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`)

	insertSessionClientSQL = writeSQL(`INSERT INTO login_session_clients (session_id, client_id) VALUES (?, ?)
	ON CONFLICT DO NOTHING`)
	listSessionClientsSQL = readSQL(`SELECT client_id FROM login_session_clients
	WHERE session_id = ? ORDER BY client_id`)
	deleteClientSessionLinksSQL = writeSQL(`DELETE FROM login_session_clients WHERE client_id = ?`)
)

func loginSessionDest(ls *storage.LoginSession) []any {
	return []any{&ls.ID, &ls.AccountID, timeCol{&ls.AuthTime}, listCol{&ls.AMR}, &ls.AppID,
		timeCol{&ls.CreatedAt}, timeCol{&ls.LastSeenAt}, timeCol{&ls.ExpiresAt}}
}

// CreateLoginSession inserts ls; a taken ID is storage.ErrAlreadyExists.
func (s *Storage) CreateLoginSession(ctx context.Context, ls storage.LoginSession) error {
	switch {
	case ls.ID == "":
		return errors.New("sqlite: create login session: empty ID")
	case ls.AccountID == "":
		return errors.New("sqlite: create login session: empty account ID")
	}
	_, err := s.exec(ctx, insertLoginSessionSQL, ls.ID, ls.AccountID, timeArg(ls.AuthTime), listArg(ls.AMR), ls.AppID,
		timeArg(ls.CreatedAt), timeArg(ls.LastSeenAt), timeArg(ls.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlite: create login session: %w", err)
	}
	return nil
}

// GetLoginSession returns one session, expired or not.
func (s *Storage) GetLoginSession(ctx context.Context, id string) (storage.LoginSession, error) {
	var ls storage.LoginSession
	if err := s.queryRow(ctx, selectLoginSessionSQL, []any{id}, loginSessionDest(&ls)...); err != nil {
		return storage.LoginSession{}, fmt.Errorf("sqlite: get login session: %w", err)
	}
	return ls, nil
}

// GetLoginSessionAccount returns a login session and its account in one read.
func (s *Storage) GetLoginSessionAccount(ctx context.Context, id string) (storage.LoginSession, storage.Account, error) {
	var (
		ls  storage.LoginSession
		acc storage.Account
	)
	if err := s.queryRow(ctx, selectLoginSessionAccountSQL, []any{id}, append(loginSessionDest(&ls), accountDest(&acc)...)...); err != nil {
		return storage.LoginSession{}, storage.Account{}, fmt.Errorf("sqlite: get login session account: %w", err)
	}
	return ls, acc, nil
}

// TouchLoginSession sets the session's LastSeenAt to now.
func (s *Storage) TouchLoginSession(ctx context.Context, id string, now time.Time) error {
	// SQLite counts matched rows, so a touch at the same instant is found too.
	if err := s.execFound(ctx, touchLoginSessionSQL, timeArg(now), id); err != nil {
		return fmt.Errorf("sqlite: touch login session: %w", err)
	}
	return nil
}

// DeleteLoginSession removes one session and its client links.
func (s *Storage) DeleteLoginSession(ctx context.Context, id string) error {
	if err := s.execFound(ctx, deleteLoginSessionSQL, id); err != nil {
		return fmt.Errorf("sqlite: delete login session: %w", err)
	}
	return nil
}

// AddLoginSessionClient links the session to clientID, once. The check and
// the insert share one write transaction, so a session deleted in between
// cannot leave a link behind.
func (s *Storage) AddLoginSessionClient(ctx context.Context, id, clientID string) error {
	if clientID == "" {
		return errors.New("sqlite: add login session client: empty client ID")
	}
	err := s.inTx(ctx, func(ctx context.Context) error {
		var one int
		if err := s.queryRow(ctx, existsLoginSessionSQL, []any{id}, &one); err != nil {
			return err
		}
		_, err := s.exec(ctx, insertSessionClientSQL, id, clientID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: add login session client %q: %w", clientID, err)
	}
	return nil
}

// ListLoginSessionClients returns the client IDs linked to the session, ordered.
func (s *Storage) ListLoginSessionClients(ctx context.Context, id string) ([]string, error) {
	var out []string
	err := s.queryRows(ctx, listSessionClientsSQL, []any{id}, func(rows *sql.Rows) error {
		var c string
		if err := rows.Scan(&c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list login session clients: %w", err)
	}
	return out, nil
}

// ListAccountLoginSessions returns an account's sessions, newest first.
func (s *Storage) ListAccountLoginSessions(ctx context.Context, accountID string) ([]storage.LoginSession, error) {
	var out []storage.LoginSession
	err := s.queryRows(ctx, accountLoginSessionSQL, []any{accountID}, func(rows *sql.Rows) error {
		var ls storage.LoginSession
		if err := rows.Scan(loginSessionDest(&ls)...); err != nil {
			return err
		}
		out = append(out, ls)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list account login sessions: %w", err)
	}
	return out, nil
}

// DeleteAccountLoginSessions removes an account's sessions and their links.
func (s *Storage) DeleteAccountLoginSessions(ctx context.Context, accountID string) (int64, error) {
	// changes() counts the sessions only, not the links the cascade removes.
	n, err := s.execCount(ctx, deleteAccountLoginSessionsSQL, accountID)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete account login sessions: %w", err)
	}
	return n, nil
}

// DeleteExpiredLoginSessions deletes up to limit sessions that expired
// before now, oldest first, in one short write transaction.
func (s *Storage) DeleteExpiredLoginSessions(ctx context.Context, now time.Time, limit int) (int64, error) {
	return s.deleteExpired(ctx, "login sessions", deleteExpiredLoginSessionsSQL, now, limit)
}
