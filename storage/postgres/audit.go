package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

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
		es, err = collectAudit(rows)
		return err
	})
	return es, err
}

func collectAudit(rows pgx.Rows) ([]storage.AuditEvent, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.AuditEvent, error) {
		var e storage.AuditEvent
		err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Target, &e.Details)
		e.At = e.At.UTC()
		return e, err
	})
}

// ListAuditFiltered returns up to f.Limit events matching f, newest first.
// Only the filters f sets are in the query, so an exact actor or action
// walks its index (0008_audit_filters) in id order; a prefix is
// starts_with, which is byte-exact under any collation.
func (s *Storage) ListAuditFiltered(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error) {
	if err := f.Check(); err != nil {
		return nil, fmt.Errorf("storage/postgres: list audit events: %w", err)
	}
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if f.BeforeID > 0 {
		add("id < $?", f.BeforeID)
	}
	if !f.Since.IsZero() {
		add("at >= $?", f.Since)
	}
	if !f.Until.IsZero() {
		add("at < $?", f.Until)
	}
	match := func(col, v string, prefix bool) {
		switch {
		case v == "":
		case prefix:
			add("starts_with("+col+", $?)", v)
		default:
			add(col+" = $?", v)
		}
	}
	match("actor", f.Actor, f.ActorPrefix)
	match("action", f.Action, f.ActionPrefix)
	q := "SELECT id, at, actor, action, target, details FROM audit_events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	q += " ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args))
	var es []storage.AuditEvent
	err := s.read(ctx, "list audit events", func(qr querier) error {
		rows, err := qr.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		es, err = collectAudit(rows)
		return err
	})
	return es, err
}
