package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"

	"github.com/wxoidc/wxoidc/storage"
)

var (
	insertAuditSQL = writeSQL(`INSERT INTO audit_events (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)`)
	listAuditSQL   = readSQL(`SELECT id, at, actor, action, target, details FROM audit_events
	ORDER BY id DESC LIMIT ?`)
	listAuditBeforeSQL = readSQL(`SELECT id, at, actor, action, target, details FROM audit_events
	WHERE id < ? ORDER BY id DESC LIMIT ?`)
	// The filtered listings (all statements are prepared at Open). An exact
	// actor, else an exact action, walks its index (0007_audit_filters),
	// which holds the rows in id order: no sort. Otherwise the newest rows
	// are read back from the primary key until the page is full; the unary
	// + keeps SQLite from reading a prefix's whole index range and sorting
	// it, which is slower whenever the prefix matches many events. A filter
	// left out is GLOB '*' and the widest times.
	listAuditByActorSQL  = readSQL(auditFilteredSelect + `actor = ? AND +action GLOB ?` + auditFilteredOrder)
	listAuditByActionSQL = readSQL(auditFilteredSelect + `action = ? AND +actor GLOB ?` + auditFilteredOrder)
	listAuditScanSQL     = readSQL(auditFilteredSelect + `+actor GLOB ? AND +action GLOB ?` + auditFilteredOrder)
)

const (
	auditFilteredSelect = `SELECT id, at, actor, action, target, details FROM audit_events
	WHERE id < ? AND at >= ? AND at < ? AND `
	auditFilteredOrder = ` ORDER BY id DESC LIMIT ?`
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
	out, err := s.listAudit(ctx, query, args)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return out, nil
}

// ListAuditFiltered returns up to f.Limit events matching f, newest first.
func (s *Storage) ListAuditFiltered(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error) {
	if err := f.Check(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	before, since, until := f.BeforeID, int64(math.MinInt64), int64(math.MaxInt64)
	if before == 0 {
		before = math.MaxInt64
	}
	if !f.Since.IsZero() {
		since = f.Since.UnixMicro()
	}
	if !f.Until.IsZero() {
		until = f.Until.UnixMicro()
	}
	query, args := listAuditScanSQL, []any{before, since, until, globPattern(f.Actor, f.ActorPrefix), globPattern(f.Action, f.ActionPrefix), f.Limit}
	switch {
	case f.Actor != "" && !f.ActorPrefix:
		query, args[3] = listAuditByActorSQL, f.Actor
	case f.Action != "" && !f.ActionPrefix:
		query, args[3], args[4] = listAuditByActionSQL, f.Action, args[3]
	}
	out, err := s.listAudit(ctx, query, args)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return out, nil
}

// globPattern is the GLOB pattern matching exactly s, or everything that
// begins with s when prefix is set; an empty s matches everything. GLOB's
// own wildcards in s are escaped as one-character classes.
func globPattern(s string, prefix bool) string {
	if s == "" {
		return "*"
	}
	p := strings.NewReplacer("*", "[*]", "?", "[?]", "[", "[[]").Replace(s)
	if prefix {
		p += "*"
	}
	return p
}

func (s *Storage) listAudit(ctx context.Context, query string, args []any) ([]storage.AuditEvent, error) {
	var out []storage.AuditEvent
	err := s.queryRows(ctx, query, args, func(rows *sql.Rows) error {
		var e storage.AuditEvent
		if err := rows.Scan(&e.ID, timeCol{&e.At}, &e.Actor, &e.Action, &e.Target, &e.Details); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}
