package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

const scanTicketColumns = `id, browser_hash, client_id, appid, request, status, account_id, created_at, updated_at, expires_at`

var (
	insertScanTicketSQL = writeSQL(`INSERT INTO scan_tickets (` + scanTicketColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	selectScanTicketSQL = readSQL(`SELECT ` + scanTicketColumns + ` FROM scan_tickets WHERE id = ?`)
	// The compare-and-swap, one statement on the single writer. ?1 the ID,
	// ?2 the from statuses as a JSON array (one prepared statement for any
	// number of them), ?3 the new status, ?4 the account ID ('' keeps the
	// recorded one), ?5 now as compared, ?6 now as stored.
	updateScanTicketSQL = writeSQL(`UPDATE scan_tickets
	SET status = ?3, updated_at = ?6, account_id = iif(?4 = '', account_id, ?4)
	WHERE id = ?1
	AND status IN (SELECT value FROM json_each(?2))
	AND (expires_at IS NULL OR expires_at > ?5)
	AND (?4 = '' OR account_id = '' OR account_id = ?4)
	RETURNING ` + scanTicketColumns)
	listScanTicketsSQL = readSQL(`SELECT ` + scanTicketColumns + ` FROM scan_tickets
	WHERE updated_at > ? ORDER BY updated_at, id LIMIT ?`)
	deleteExpiredScanTicketsSQL = writeSQL(`DELETE FROM scan_tickets WHERE id IN (
	SELECT id FROM scan_tickets WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`)
)

func scanTicketDest(t *storage.ScanTicket) []any {
	return []any{&t.ID, bytesCol{&t.BrowserHash}, &t.ClientID, &t.AppID, &t.Request, &t.Status, &t.AccountID,
		timeCol{&t.CreatedAt}, timeCol{&t.UpdatedAt}, timeCol{&t.ExpiresAt}}
}

// CreateScanTicket inserts t; a taken ID is storage.ErrAlreadyExists. A
// zero UpdatedAt is stored as CreatedAt: the ticket has not changed yet.
// The insert does not wait for a sync (execEphemeral): a ticket lives two
// minutes, and one lost in a power failure costs its browser a fresh code.
func (s *Storage) CreateScanTicket(ctx context.Context, t storage.ScanTicket) error {
	if err := storage.CheckNewScanTicket(t); err != nil {
		return fmt.Errorf("sqlite: create scan ticket: %w", err)
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	_, err := s.execEphemeral(ctx, insertScanTicketSQL, t.ID, bytesArg(t.BrowserHash), t.ClientID, t.AppID, t.Request,
		string(t.Status), t.AccountID, timeArg(t.CreatedAt), timeArg(t.UpdatedAt), timeArg(t.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlite: create scan ticket: %w", err)
	}
	return nil
}

// GetScanTicket returns one ticket, expired or not.
func (s *Storage) GetScanTicket(ctx context.Context, id string) (storage.ScanTicket, error) {
	var t storage.ScanTicket
	if err := s.queryRow(ctx, selectScanTicketSQL, []any{id}, scanTicketDest(&t)...); err != nil {
		return storage.ScanTicket{}, fmt.Errorf("sqlite: get scan ticket: %w", err)
	}
	return t, nil
}

// UpdateScanTicket changes the ticket's status when it is one of from. The
// UPDATE … RETURNING runs on the single writer, so of concurrent callers
// the first changes the row and the others find its new status. When no
// row changed, a read in the same transaction tells why.
func (s *Storage) UpdateScanTicket(ctx context.Context, id string, from []storage.ScanStatus, to storage.ScanStatus,
	accountID string, now time.Time) (storage.ScanTicket, error) {
	if !to.Valid() {
		return storage.ScanTicket{}, fmt.Errorf("sqlite: update scan ticket: invalid status %q", to)
	}
	froms := make([]string, len(from))
	for i, st := range from {
		froms[i] = string(st)
	}
	var t storage.ScanTicket
	err := s.inTx(ctx, func(ctx context.Context) error {
		err := s.queryRow(ctx, updateScanTicketSQL,
			[]any{id, listArg(froms), string(to), accountID, now.UnixMicro(), timeArg(now)}, scanTicketDest(&t)...)
		if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if err := s.queryRow(ctx, selectScanTicketSQL, []any{id}, scanTicketDest(&t)...); err != nil {
			return err
		}
		if refusal := storage.ScanTicketRefusal(t, from, accountID, now); refusal != nil {
			return refusal
		}
		// Unreachable on the single writer: the UPDATE and this read see
		// the same row. Refuse rather than report a change not made.
		return fmt.Errorf("ticket changed concurrently: %w", storage.ErrConflict)
	})
	if err != nil {
		return storage.ScanTicket{}, fmt.Errorf("sqlite: update scan ticket: %w", err)
	}
	return t, nil
}

// ListScanTicketsUpdatedSince returns up to limit tickets updated after
// since, in (UpdatedAt, ID) order.
func (s *Storage) ListScanTicketsUpdatedSince(ctx context.Context, since time.Time, limit int) ([]storage.ScanTicket, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite: list scan tickets: limit %d must be positive", limit)
	}
	var out []storage.ScanTicket
	// since.UnixMicro, not timeArg: a zero since means "all", not NULL.
	err := s.queryRows(ctx, listScanTicketsSQL, []any{since.UnixMicro(), limit}, func(rows *sql.Rows) error {
		var t storage.ScanTicket
		if err := rows.Scan(scanTicketDest(&t)...); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list scan tickets: %w", err)
	}
	return out, nil
}

// DeleteExpiredScanTickets deletes up to limit tickets expired at now,
// oldest first, in one short write transaction.
func (s *Storage) DeleteExpiredScanTickets(ctx context.Context, now time.Time, limit int) (int64, error) {
	return s.deleteExpired(ctx, "scan tickets", deleteExpiredScanTicketsSQL, now, limit)
}
