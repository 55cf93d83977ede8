package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

// auditWriteTimeout bounds one audit write, so a stuck database never holds
// up an admin action (or the key manager, which reports changes inline)
// for longer.
const auditWriteTimeout = 5 * time.Second

// Auditor writes audit events to storage and, as a structured line, to the
// log. Details must never hold secrets: callers pass identifiers, names and
// flags only.
type Auditor struct {
	store storage.AuditStore
	log   *slog.Logger
	now   func() time.Time
	// failed, if set, is told about each event that could not be stored.
	failed atomic.Pointer[func()]
}

// NewAuditor returns an Auditor; log and now default to discard and time.Now.
func NewAuditor(store storage.AuditStore, log *slog.Logger, now func() time.Time) *Auditor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Auditor{store: store, log: log, now: now}
}

// OnStoreFailure makes fn be called for each event that could not be
// stored (a metric). It may be set after the Auditor is in use.
func (a *Auditor) OnStoreFailure(fn func()) { a.failed.Store(&fn) }

// Record writes one event. The action it describes has already happened,
// so a storage failure does not undo it: the event then survives in the
// log line (at error level) and the error is returned for the caller to
// report.
func (a *Auditor) Record(ctx context.Context, actor Actor, action, target string, details any) error {
	raw := []byte("{}")
	if details != nil {
		var err error
		if raw, err = json.Marshal(details); err != nil {
			return fmt.Errorf("audit %s: encoding details: %w", action, err)
		}
	}
	e := storage.AuditEvent{At: a.now().UTC(), Actor: actor.Name, Action: action, Target: target, Details: string(raw)}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
	defer cancel()
	attrs := []slog.Attr{
		slog.String("actor", e.Actor), slog.String("action", e.Action),
		slog.String("target", e.Target), slog.String("details", e.Details),
	}
	if err := a.store.AppendAudit(ctx, e); err != nil {
		if fn := a.failed.Load(); fn != nil && *fn != nil {
			(*fn)()
		}
		a.log.LogAttrs(ctx, slog.LevelError, "audit event not stored", append(attrs, slog.String("error", err.Error()))...)
		return fmt.Errorf("audit %s: %w", action, err)
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
	return nil
}

// KeyChangeHook returns a keys.Config.OnChange that audits each key-state
// change as "keys.<event>" (keys.created, keys.activated, keys.retired,
// keys.revoked, keys.removed) by actor, and calls also, if set. The
// details are the key's public description, keys.KeyInfo.
func (a *Auditor) KeyChangeHook(actor Actor, also func(event string, k keys.KeyInfo)) func(string, keys.KeyInfo) {
	return func(event string, k keys.KeyInfo) {
		// The error is already logged with the whole event by Record.
		_ = a.Record(context.Background(), actor, "keys."+event, k.KID, k)
		if also != nil {
			also(event, k)
		}
	}
}

// AuditEntry is one audit event as the API and the CLI show it.
type AuditEntry struct {
	ID      int64          `json:"id"`
	At      time.Time      `json:"at"`
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Target  string         `json:"target"`
	Details map[string]any `json:"details"`
}

// Limits of one audit listing.
const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 1000
)

// AuditPage is one page of the audit log, newest first.
type AuditPage struct {
	Events []AuditEntry `json:"events"`
	// NextBefore, when set, is the Before of the next (older) page: the
	// page was full, so more may follow.
	NextBefore int64 `json:"next_before,omitempty"`
}

// Audit lists up to limit events older than beforeID (0: the newest),
// newest first. A zero limit is DefaultAuditLimit.
func (s *Service) Audit(ctx context.Context, beforeID int64, limit int) (AuditPage, error) {
	return s.AuditFiltered(ctx, storage.AuditFilter{BeforeID: beforeID, Limit: limit})
}

// AuditFiltered lists the events f selects (storage.AuditFilter: actor and
// action, each exact or a prefix, a time range Since <= at < Until, and
// f.BeforeID as Audit's beforeID), newest first. A zero f.Limit is
// DefaultAuditLimit.
func (s *Service) AuditFiltered(ctx context.Context, f storage.AuditFilter) (AuditPage, error) {
	if f.Limit == 0 {
		f.Limit = DefaultAuditLimit
	}
	switch {
	case f.Limit < 0 || f.Limit > MaxAuditLimit:
		return AuditPage{}, fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalid, MaxAuditLimit)
	case f.BeforeID < 0:
		return AuditPage{}, fmt.Errorf("%w: before must not be negative", ErrInvalid)
	case !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since):
		return AuditPage{}, fmt.Errorf("%w: the end of the time range is before its start", ErrInvalid)
	}
	events, err := s.store.ListAuditFiltered(ctx, f)
	if err != nil {
		return AuditPage{}, fmt.Errorf("listing audit events: %w", err)
	}
	page := AuditPage{Events: make([]AuditEntry, 0, len(events))}
	for _, e := range events {
		page.Events = append(page.Events, auditEntry(e))
	}
	if n := len(page.Events); n > 0 && n == f.Limit {
		page.NextBefore = page.Events[n-1].ID
	}
	return page, nil
}

func auditEntry(e storage.AuditEvent) AuditEntry {
	a := AuditEntry{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target}
	if err := json.Unmarshal([]byte(e.Details), &a.Details); err != nil || a.Details == nil {
		// Details are written by this package as objects; anything else is
		// shown verbatim rather than dropped.
		a.Details = map[string]any{"raw": e.Details}
	}
	return a
}

// RecordConsoleSignIn audits an admin signing in to (signedIn) or out of the
// web console: who held the console, and when, is part of the record.
func (s *Service) RecordConsoleSignIn(ctx context.Context, signedIn bool) error {
	actor, err := actorOf(ctx)
	if err != nil {
		return err
	}
	action := "console.sign_out"
	if signedIn {
		action = "console.sign_in"
	}
	s.record(ctx, actor, action, actor.Name, nil)
	return nil
}
