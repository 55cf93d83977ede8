package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

// Audit actors other than admin tokens ("admin-api:<token name>").
const (
	ActorCLI      = "cli"
	ActorRotation = "rotation" // the key lifecycle: bootstrap, automatic rotation, cleanup
)

// AdminAPIActor names the caller authenticated by an admin token.
func AdminAPIActor(tokenName string) string { return "admin-api:" + tokenName }

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
	failed func()
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

// Record writes one event. The action it describes has already happened,
// so a storage failure does not undo it: the event then survives in the
// log line (at error level) and the error is returned for the caller to
// report.
func (a *Auditor) Record(ctx context.Context, actor, action, target string, details any) error {
	raw := []byte("{}")
	if details != nil {
		var err error
		if raw, err = json.Marshal(details); err != nil {
			return fmt.Errorf("audit %s: encoding details: %w", action, err)
		}
	}
	e := storage.AuditEvent{At: a.now().UTC(), Actor: actor, Action: action, Target: target, Details: string(raw)}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
	defer cancel()
	attrs := []slog.Attr{
		slog.String("actor", e.Actor), slog.String("action", e.Action),
		slog.String("target", e.Target), slog.String("details", e.Details),
	}
	if err := a.store.AppendAudit(ctx, e); err != nil {
		if a.failed != nil {
			a.failed()
		}
		a.log.LogAttrs(ctx, slog.LevelError, "audit event not stored", append(attrs, slog.String("error", err.Error()))...)
		return fmt.Errorf("audit %s: %w", action, err)
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
	return nil
}

// keyDetails is what the audit log keeps about a key-state change.
type keyDetails struct {
	Algorithm   string           `json:"alg"`
	State       storage.KeyState `json:"state"`
	CreatedAt   time.Time        `json:"created_at"`
	ActivatedAt time.Time        `json:"activated_at,omitzero"`
	RetiredAt   time.Time        `json:"retired_at,omitzero"`
	RemoveAfter time.Time        `json:"remove_after,omitzero"`
	RevokedAt   time.Time        `json:"revoked_at,omitzero"`
}

// KeyChangeHook returns a keys.Config.OnChange that audits each key-state
// change as "keys.<event>" (keys.created, keys.activated, keys.retired,
// keys.revoked, keys.removed) by actor, and calls also, if set.
func (a *Auditor) KeyChangeHook(actor string, also func(event string, k keys.KeyInfo)) func(string, keys.KeyInfo) {
	return func(event string, k keys.KeyInfo) {
		// The error is already logged with the whole event by Record.
		_ = a.Record(context.Background(), actor, "keys."+event, k.KID, keyDetails{
			Algorithm: k.Algorithm, State: k.State, CreatedAt: k.CreatedAt, ActivatedAt: k.ActivatedAt,
			RetiredAt: k.RetiredAt, RemoveAfter: k.RemoveAfter, RevokedAt: k.RevokedAt,
		})
		if also != nil {
			also(event, k)
		}
	}
}
