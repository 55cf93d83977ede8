package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/wxoidc/wxoidc/storage"
)

// AppendAudit stores e with a new ID; a zero At is set from the clock.
func (s *Storage) AppendAudit(ctx context.Context, e storage.AuditEvent) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	return s.run(ctx, "append audit event", func(q querier) error {
		_, err := q.Exec(ctx, `INSERT INTO audit_events (at, actor, action, target, details)
			VALUES ($1, $2, $3, $4, $5)`, e.At, e.Actor, e.Action, e.Target, e.Details)
		return err
	})
}

// ListAudit returns up to limit events with ID < beforeID (0: from the
// newest), newest first.
func (s *Storage) ListAudit(ctx context.Context, beforeID int64, limit int) ([]storage.AuditEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("storage/postgres: list audit events: limit must be positive (got %d)", limit)
	}
	if beforeID < 0 {
		return nil, fmt.Errorf("storage/postgres: list audit events: negative beforeID %d", beforeID)
	}
	var es []storage.AuditEvent
	err := s.read(ctx, "list audit events", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT id, at, actor, action, target, details FROM audit_events
			WHERE $1::bigint = 0 OR id < $1::bigint ORDER BY id DESC LIMIT $2`, beforeID, limit)
		if err != nil {
			return err
		}
		es, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.AuditEvent, error) {
			var e storage.AuditEvent
			err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Target, &e.Details)
			e.At = e.At.UTC()
			return e, err
		})
		return err
	})
	return es, err
}
