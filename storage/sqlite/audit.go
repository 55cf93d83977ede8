package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/wxoidc/wxoidc/storage"
)

var (
	insertAuditSQL = writeSQL(`INSERT INTO audit_events (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)`)
	listAuditSQL   = readSQL(`SELECT id, at, actor, action, target, details FROM audit_events
	ORDER BY id DESC LIMIT ?`)
	listAuditBeforeSQL = readSQL(`SELECT id, at, actor, action, target, details FROM audit_events
	WHERE id < ? ORDER BY id DESC LIMIT ?`)
)

// AppendAudit appends one event; a zero At is set to the store's clock.
func (s *Storage) AppendAudit(ctx context.Context, e storage.AuditEvent) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if _, err := s.exec(ctx, insertAuditSQL, timeArg(e.At), e.Actor, e.Action, e.Target, e.Details); err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	return nil
}

// ListAudit returns up to limit events with ID < beforeID (0: from the
// newest), newest first.
func (s *Storage) ListAudit(ctx context.Context, beforeID int64, limit int) ([]storage.AuditEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite: list audit: limit %d must be positive", limit)
	}
	if beforeID < 0 {
		return nil, fmt.Errorf("sqlite: list audit: beforeID %d must not be negative", beforeID)
	}
	query, args := listAuditSQL, []any{limit}
	if beforeID > 0 {
		query, args = listAuditBeforeSQL, []any{beforeID, limit}
	}
	var out []storage.AuditEvent
	err := s.queryRows(ctx, query, args, func(rows *sql.Rows) error {
		var e storage.AuditEvent
		if err := rows.Scan(&e.ID, timeCol{&e.At}, &e.Actor, &e.Action, &e.Target, &e.Details); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return out, nil
}
