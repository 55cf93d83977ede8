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
	// which holds the rows in id order: no sort. A prefix is either read
	// from its index range and sorted, when the range is small (counted
	// first, up to a cap), or else found by reading the newest rows back
	// from the primary key until the page is full, which is quick precisely
	// when many events match. A time range alone is read back the same way
	// (events are appended in time order, so a recent range is found at
	// once and an old one after reading the newer events). The unary +
	// keeps SQLite from choosing another index for a condition that is only
	// a filter. A filter left out is GLOB '*' and the widest times.
	listAuditByActorSQL  = readSQL(auditFilteredSelect + `actor = ? AND +action GLOB ?` + auditFilteredOrder)
	listAuditByActionSQL = readSQL(auditFilteredSelect + `action = ? AND +actor GLOB ?` + auditFilteredOrder)
	listAuditScanSQL     = readSQL(auditFilteredSelect + `+actor GLOB ? AND +action GLOB ?` + auditFilteredOrder)
	// By range: ?1 low, ?2 high (exclusive) of the indexed column, ?3
	// before id, ?4 since, ?5 until, ?6 actor GLOB, ?7 action GLOB, ?8 limit.
	listAuditActorRangeSQL  = readSQL(auditRangeSelect(`audit_events_actor`, `actor`))
	listAuditActionRangeSQL = readSQL(auditRangeSelect(`audit_events_action`, `action`))
	// How many events a range holds, counted up to ?4.
	countAuditActorRangeSQL  = readSQL(auditRangeCount(`audit_events_actor`, `actor`))
	countAuditActionRangeSQL = readSQL(auditRangeCount(`audit_events_action`, `action`))
)

const (
	auditFilteredSelect = `SELECT id, at, actor, action, target, details FROM audit_events
	WHERE id < ? AND at >= ? AND at < ? AND `
	auditFilteredOrder = ` ORDER BY id DESC LIMIT ?`
)

func auditRangeSelect(index, col string) string {
	return `SELECT id, at, actor, action, target, details FROM audit_events INDEXED BY ` + index + `
	WHERE ` + col + ` >= ?1 AND ` + col + ` < ?2 AND id < ?3 AND +at >= ?4 AND +at < ?5
	AND +actor GLOB ?6 AND +action GLOB ?7 ORDER BY id DESC LIMIT ?8`
}

func auditRangeCount(index, col string) string {
	return `SELECT count(*) FROM (SELECT 1 FROM audit_events INDEXED BY ` + index + `
	WHERE ` + col + ` >= ?1 AND ` + col + ` < ?2 AND id < ?3 LIMIT ?4)`
}

// defaultAuditRangeCap is how many events a prefix's index range may hold for the listing to read it and sort it; beyond it
// the newest events are read back until the page is full (the matches are
// then common). Storage.auditRangeCap holds it (tests lower it).
const defaultAuditRangeCap = 2000

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
	actorGlob, actionGlob := globPattern(f.Actor, f.ActorPrefix), globPattern(f.Action, f.ActionPrefix)
	query, args := listAuditScanSQL, []any{before, since, until, actorGlob, actionGlob, f.Limit}
	switch {
	case f.Actor != "" && !f.ActorPrefix:
		query, args[3] = listAuditByActorSQL, f.Actor
	case f.Action != "" && !f.ActionPrefix:
		query, args[3], args[4] = listAuditByActionSQL, f.Action, actorGlob
	default:
		r, err := s.smallestAuditRange(ctx, f, before)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list audit: %w", err)
		}
		if r.list != "" {
			query, args = r.list, []any{r.low, r.high, before, since, until, actorGlob, actionGlob, f.Limit}
		}
	}
	out, err := s.listAudit(ctx, query, args)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return out, nil
}

// auditRange is an index range that holds every event a filter can match.
type auditRange struct {
	list, count string // the listing over the range, and its count
	low, high   string // the prefix, and the least string above all that begin with it
}

// smallestAuditRange counts, up to auditRangeCap, the events in the index
// range of each prefix f has, and returns the smallest range under the cap:
// a zero auditRange when there is none, and the newest events are to be
// read back instead.
func (s *Storage) smallestAuditRange(ctx context.Context, f storage.AuditFilter, before int64) (auditRange, error) {
	var ranges []auditRange
	if high, ok := prefixEnd(f.Actor); ok && f.ActorPrefix {
		ranges = append(ranges, auditRange{list: listAuditActorRangeSQL, count: countAuditActorRangeSQL, low: f.Actor, high: high})
	}
	if high, ok := prefixEnd(f.Action); ok && f.ActionPrefix {
		ranges = append(ranges, auditRange{list: listAuditActionRangeSQL, count: countAuditActionRangeSQL, low: f.Action, high: high})
	}
	var best auditRange
	fewest := s.auditRangeCap
	for _, r := range ranges {
		var n int
		if err := s.queryRow(ctx, r.count, []any{r.low, r.high, before, s.auditRangeCap}, &n); err != nil {
			return auditRange{}, err
		}
		if n < fewest {
			best, fewest = r, n
		}
	}
	return best, nil
}

// prefixEnd is the least string above every string that begins with p:
// false when p is empty or there is none (p is all 0xFF bytes).
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
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
