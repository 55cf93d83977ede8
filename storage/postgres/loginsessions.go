package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wxoidc/wxoidc/storage"
)

const loginSessionColumns = `id, account_id, auth_time, amr, app_id, created_at, last_seen_at, expires_at`

// loginSessionScan scans a login session's columns, alone or joined.
type loginSessionScan struct {
	ls                          storage.LoginSession
	authTime, lastSeen, expires pgtype.Timestamptz
}

func (x *loginSessionScan) dest() []any {
	return []any{&x.ls.ID, &x.ls.AccountID, &x.authTime, &x.ls.AMR, &x.ls.AppID, &x.ls.CreatedAt, &x.lastSeen, &x.expires}
}

func (x *loginSessionScan) session() storage.LoginSession {
	ls := x.ls
	ls.AuthTime = fromNullTime(x.authTime)
	ls.CreatedAt = ls.CreatedAt.UTC()
	ls.LastSeenAt = fromNullTime(x.lastSeen)
	ls.ExpiresAt = fromNullTime(x.expires)
	return ls
}

func scanLoginSession(row pgx.Row) (storage.LoginSession, error) {
	var x loginSessionScan
	if err := row.Scan(x.dest()...); err != nil {
		return storage.LoginSession{}, noRowsNotFound(err)
	}
	return x.session(), nil
}

// GetLoginSessionAccount returns a login session and its account in one read.
func (s *Storage) GetLoginSessionAccount(ctx context.Context, id string) (storage.LoginSession, storage.Account, error) {
	var (
		lx loginSessionScan
		ax accountScan
	)
	err := s.read(ctx, "get login session account", func(q querier) error {
		return noRowsNotFound(q.QueryRow(ctx, `SELECT `+qualify("l", loginSessionColumns)+`, `+qualify("a", accountColumns)+`
			FROM login_sessions l JOIN accounts a ON a.id = l.account_id WHERE l.id = $1`, id).Scan(append(lx.dest(), ax.dest()...)...))
	})
	if err != nil {
		return storage.LoginSession{}, storage.Account{}, err
	}
	return lx.session(), ax.account(), nil
}

// CreateLoginSession inserts ls; a taken ID is storage.ErrAlreadyExists. ON
// CONFLICT keeps a caller's transaction usable after a duplicate.
func (s *Storage) CreateLoginSession(ctx context.Context, ls storage.LoginSession) error {
	switch {
	case ls.ID == "":
		return errors.New("storage/postgres: create login session: empty ID")
	case ls.AccountID == "":
		return errors.New("storage/postgres: create login session: empty account ID")
	}
	return s.run(ctx, "create login session", func(q querier) error {
		tag, err := q.Exec(ctx, `INSERT INTO login_sessions (`+loginSessionColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
			ls.ID, ls.AccountID, nullTime(ls.AuthTime), nilIfEmpty(ls.AMR), ls.AppID, ls.CreatedAt,
			nullTime(ls.LastSeenAt), nullTime(ls.ExpiresAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrAlreadyExists
		}
		return nil
	})
}

// GetLoginSession returns one session, expired or not.
func (s *Storage) GetLoginSession(ctx context.Context, id string) (storage.LoginSession, error) {
	var ls storage.LoginSession
	err := s.read(ctx, "get login session", func(q querier) error {
		var err error
		ls, err = scanLoginSession(q.QueryRow(ctx, `SELECT `+loginSessionColumns+` FROM login_sessions WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return storage.LoginSession{}, err
	}
	return ls, nil
}

// TouchLoginSession sets the session's LastSeenAt to now.
func (s *Storage) TouchLoginSession(ctx context.Context, id string, now time.Time) error {
	return s.run(ctx, "touch login session", func(q querier) error {
		tag, err := q.Exec(ctx, `UPDATE login_sessions SET last_seen_at = $2 WHERE id = $1`, id, nullTime(now))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return nil
	})
}

// DeleteLoginSession removes one session; its links go with it (ON DELETE
// CASCADE).
func (s *Storage) DeleteLoginSession(ctx context.Context, id string) error {
	return s.run(ctx, "delete login session", func(q querier) error {
		tag, err := q.Exec(ctx, `DELETE FROM login_sessions WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return nil
	})
}

// AddLoginSessionClient links the session to clientID, once, in one
// statement. FOR KEY SHARE holds the session until the statement ends, so a
// concurrent delete waits and then takes the new link with it.
func (s *Storage) AddLoginSessionClient(ctx context.Context, id, clientID string) error {
	if clientID == "" {
		return errors.New("storage/postgres: add login session client: empty client ID")
	}
	return s.run(ctx, "add login session client", func(q querier) error {
		var found bool
		err := q.QueryRow(ctx, `WITH session AS (
				SELECT id FROM login_sessions WHERE id = $1 FOR KEY SHARE
			), linked AS (
				INSERT INTO login_session_clients (session_id, client_id)
				SELECT id, $2 FROM session
				ON CONFLICT DO NOTHING
			)
			SELECT EXISTS (SELECT 1 FROM session)`, id, clientID).Scan(&found)
		if err != nil {
			return err
		}
		if !found {
			return storage.ErrNotFound
		}
		return nil
	})
}

// ListLoginSessionClients returns the client IDs linked to the session, ordered.
func (s *Storage) ListLoginSessionClients(ctx context.Context, id string) ([]string, error) {
	var out []string
	err := s.read(ctx, "list login session clients", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT client_id FROM login_session_clients
			WHERE session_id = $1 ORDER BY client_id`, id)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return out, nil
}

// ListAccountLoginSessions returns an account's sessions, newest first.
func (s *Storage) ListAccountLoginSessions(ctx context.Context, accountID string) ([]storage.LoginSession, error) {
	var out []storage.LoginSession
	err := s.read(ctx, "list account login sessions", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT `+loginSessionColumns+` FROM login_sessions
			WHERE account_id = $1 ORDER BY created_at DESC, id`, accountID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.LoginSession, error) { return scanLoginSession(r) })
		return err
	})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return out, nil
}

// DeleteAccountLoginSessions removes an account's sessions; their links go
// with them (ON DELETE CASCADE), and are not counted.
func (s *Storage) DeleteAccountLoginSessions(ctx context.Context, accountID string) (int64, error) {
	var n int64
	err := s.run(ctx, "delete account login sessions", func(q querier) error {
		tag, err := q.Exec(ctx, `DELETE FROM login_sessions WHERE account_id = $1`, accountID)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// DeleteExpiredLoginSessions deletes up to limit sessions that expired
// before now, oldest first, as DeleteExpiredTokenSessions does (SKIP LOCKED,
// by ctid); their links go with them.
func (s *Storage) DeleteExpiredLoginSessions(ctx context.Context, now time.Time, limit int) (int64, error) {
	return s.deleteExpired(ctx, "login sessions", `DELETE FROM login_sessions WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM login_sessions
			WHERE expires_at < $1 ORDER BY expires_at LIMIT $2
			FOR UPDATE SKIP LOCKED))`, now, limit)
}
