package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wxoidc/wxoidc/storage"
)

const scanTicketColumns = `id, browser_hash, client_id, app_id, request, status, account_id, created_at, updated_at, expires_at`

// scanTicketDest returns the scan targets of scanTicketColumns; finish
// normalizes what they read.
func scanTicketDest(t *storage.ScanTicket, expires *pgtype.Timestamptz) []any {
	return []any{&t.ID, &t.BrowserHash, &t.ClientID, &t.AppID, &t.Request, &t.Status, &t.AccountID,
		&t.CreatedAt, &t.UpdatedAt, expires}
}

func finishScanTicket(t *storage.ScanTicket, expires pgtype.Timestamptz) {
	t.CreatedAt = t.CreatedAt.UTC()
	t.UpdatedAt = t.UpdatedAt.UTC()
	t.ExpiresAt = fromNullTime(expires)
}

func scanScanTicket(row pgx.Row) (storage.ScanTicket, error) {
	var t storage.ScanTicket
	var expires pgtype.Timestamptz
	err := row.Scan(scanTicketDest(&t, &expires)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, storage.ErrNotFound
	}
	finishScanTicket(&t, expires)
	return t, err
}

// CreateScanTicket inserts t; a taken ID is storage.ErrAlreadyExists. A
// zero UpdatedAt is stored as CreatedAt: the ticket has not changed yet.
func (s *Storage) CreateScanTicket(ctx context.Context, t storage.ScanTicket) error {
	if err := storage.CheckNewScanTicket(t); err != nil {
		return fmt.Errorf("storage/postgres: create scan ticket: %w", err)
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	return s.run(ctx, "create scan ticket", func(q querier) error {
		// ON CONFLICT keeps a caller's transaction usable after a duplicate.
		tag, err := q.Exec(ctx, `INSERT INTO scan_tickets (`+scanTicketColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
			t.ID, nilIfEmpty(t.BrowserHash), t.ClientID, t.AppID, t.Request, string(t.Status), t.AccountID,
			t.CreatedAt, t.UpdatedAt, nullTime(t.ExpiresAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrAlreadyExists
		}
		return nil
	})
}

// GetScanTicket returns one ticket, expired or not.
func (s *Storage) GetScanTicket(ctx context.Context, id string) (storage.ScanTicket, error) {
	var t storage.ScanTicket
	err := s.read(ctx, "get scan ticket", func(q querier) error {
		var err error
		t, err = scanScanTicket(q.QueryRow(ctx, `SELECT `+scanTicketColumns+` FROM scan_tickets WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return storage.ScanTicket{}, err
	}
	return t, nil
}

// updateScanTicketSQL is the compare-and-swap and, when it changes nothing,
// the row as the statement found it, in one round trip. $1 the ID, $2 the
// from statuses, $3 the new status, $4 the account ID (empty keeps the
// recorded one), $5 now. A concurrent writer holding the row makes the
// UPDATE wait and re-check its condition on the committed row (READ
// COMMITTED), so of several callers one wins.
const updateScanTicketSQL = `WITH updated AS (
		UPDATE scan_tickets
		SET status = $3, updated_at = $5, account_id = CASE WHEN $4 = '' THEN account_id ELSE $4 END
		WHERE id = $1
		AND status = ANY ($2)
		AND (expires_at IS NULL OR expires_at > $5)
		AND ($4 = '' OR account_id = '' OR account_id = $4)
		RETURNING ` + scanTicketColumns + `
	)
	SELECT true, ` + scanTicketColumns + ` FROM updated
	UNION ALL
	SELECT false, ` + scanTicketColumns + ` FROM scan_tickets
	WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM updated)`

// UpdateScanTicket changes the ticket's status when it is one of from, in
// one statement. A refusal is decided here, outside run, so that a lost
// race (ErrConflict) is reported rather than retried.
func (s *Storage) UpdateScanTicket(ctx context.Context, id string, from []storage.ScanStatus, to storage.ScanStatus,
	accountID string, now time.Time) (storage.ScanTicket, error) {
	if !to.Valid() {
		return storage.ScanTicket{}, fmt.Errorf("storage/postgres: update scan ticket: invalid status %q", to)
	}
	froms := make([]string, len(from))
	for i, st := range from {
		froms[i] = string(st)
	}
	var t storage.ScanTicket
	var updated bool
	err := s.run(ctx, "update scan ticket", func(q querier) error {
		var expires pgtype.Timestamptz
		t = storage.ScanTicket{}
		err := q.QueryRow(ctx, updateScanTicketSQL, id, froms, string(to), accountID, now).
			Scan(append([]any{&updated}, scanTicketDest(&t, &expires)...)...)
		if errors.Is(err, pgx.ErrNoRows) {
			return storage.ErrNotFound
		}
		finishScanTicket(&t, expires)
		return err
	})
	if err != nil {
		return storage.ScanTicket{}, err
	}
	if updated {
		return t, nil
	}
	refusal := storage.ScanTicketRefusal(t, from, accountID, now)
	if refusal == nil {
		// The row as the statement's snapshot saw it qualified, but a
		// writer that committed meanwhile changed (or cleanup deleted) it.
		// Read it again to tell which.
		if t, err = s.GetScanTicket(ctx, id); err != nil {
			return storage.ScanTicket{}, fmt.Errorf("storage/postgres: update scan ticket: %w", err)
		}
		if refusal = storage.ScanTicketRefusal(t, from, accountID, now); refusal == nil {
			refusal = fmt.Errorf("ticket changed concurrently: %w", storage.ErrConflict)
		}
	}
	return storage.ScanTicket{}, fmt.Errorf("storage/postgres: update scan ticket: %w", refusal)
}

// ListScanTicketsUpdatedSince returns up to limit tickets updated after
// since, in (UpdatedAt, ID) order.
func (s *Storage) ListScanTicketsUpdatedSince(ctx context.Context, since time.Time, limit int) ([]storage.ScanTicket, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("storage/postgres: list scan tickets: limit must be positive (got %d)", limit)
	}
	var out []storage.ScanTicket
	err := s.read(ctx, "list scan tickets", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT `+scanTicketColumns+` FROM scan_tickets
			WHERE updated_at > $1 ORDER BY updated_at, id LIMIT $2`, since, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.ScanTicket, error) { return scanScanTicket(r) })
		return err
	})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return out, nil
}

// DeleteExpiredScanTickets deletes up to limit tickets expired at now,
// oldest first, as DeleteExpiredTokenSessions does (SKIP LOCKED, by ctid).
func (s *Storage) DeleteExpiredScanTickets(ctx context.Context, now time.Time, limit int) (int64, error) {
	return s.deleteExpired(ctx, "scan tickets", `DELETE FROM scan_tickets WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM scan_tickets
			WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2
			FOR UPDATE SKIP LOCKED))`, now, limit)
}
