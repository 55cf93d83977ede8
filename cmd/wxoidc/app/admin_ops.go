package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

// Error classes of admin operations; the admin API maps them to 400, 404
// and 409, the CLI prints them.
var (
	ErrInvalid  = errors.New("invalid request")
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Operations are the admin actions shared by the admin API and the CLI:
// signing keys, clients, accounts and the audit log. Every change is
// audited with the caller's actor. They work on storage, so the CLI can use
// them while servers run; a server's own key manager is reloaded at once
// after a key change.
type Operations struct {
	store     storage.Storage
	keysCfg   keys.Config
	manager   *keys.Manager // nil in the CLI
	hasher    *provider.SecretHasher
	phoneHash func(e164 string) string
	audit     *Auditor
	issuer    string
	appIDs    []string
	// accessTokenJWT: access tokens are JWTs signed with the access-token
	// algorithm's current key.
	accessTokenJWT bool
	now            func() time.Time
	log            *slog.Logger
	// keyChanged is also told about every key-state change (metrics).
	keyChanged func(event string, k keys.KeyInfo)
	// clientChanged drops a client from the server's look-up cache.
	clientChanged func(id string)

	// Follow-up passes of token revocation (server only; see RevokeKey).
	bg     context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed bool
	mu     sync.Mutex
}

// OperationsConfig wires NewOperations.
type OperationsConfig struct {
	Config  *config.Config
	Store   storage.Storage
	Cipher  *keys.Cipher
	Auditor *Auditor
	// Manager is the server's key manager, reloaded after key changes; nil
	// in the CLI.
	Manager *keys.Manager
	// KeyChanged, if set, is told about every key-state change made here.
	KeyChanged func(event string, k keys.KeyInfo)
	// ClientChanged, if set, is told about every client created, changed or
	// deleted here (the server's provider drops it from its cache).
	ClientChanged func(id string)
	Logger        *slog.Logger
	Now           func() time.Time
	// FollowUps runs the second pass of token revocation in the background
	// (servers). Without it RevokeKey reports when to repeat the call.
	FollowUps bool
}

// NewOperations returns the admin operations for one configuration.
func NewOperations(c OperationsConfig) (*Operations, error) {
	if c.Config == nil || c.Store == nil || c.Cipher == nil || c.Auditor == nil {
		return nil, errors.New("admin operations: config, store, cipher and auditor are required")
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	hasher, err := SecretHasher(c.Config, c.Cipher)
	if err != nil {
		return nil, err
	}
	o := &Operations{
		store:          c.Store,
		keysCfg:        KeysConfig(c.Config, c.Store, c.Cipher, log, now),
		manager:        c.Manager,
		hasher:         hasher,
		phoneHash:      provider.PhoneHashFunc(PhoneIndexKey(c.Cipher)),
		audit:          c.Auditor,
		issuer:         c.Config.Issuer,
		accessTokenJWT: c.Config.Tokens.AccessTokenFormat != provider.FormatOpaque,
		now:            now,
		log:            log,
		keyChanged:     c.KeyChanged,
		clientChanged:  c.ClientChanged,
	}
	for _, a := range c.Config.WeChat.Apps {
		o.appIDs = append(o.appIDs, a.AppID)
	}
	if c.FollowUps {
		o.bg, o.stop = context.WithCancel(context.Background())
	}
	return o, nil
}

// PhoneIndexKey is the key of the phone blind index (provider.Config.PhoneIndexKey).
func PhoneIndexKey(cipher *keys.Cipher) []byte { return cipher.Derive(purposePhone) }

// Close stops pending follow-up passes and waits for running ones.
func (o *Operations) Close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	if o.stop != nil {
		o.stop()
	}
	o.wg.Wait()
}

// later runs fn at t in the background, unless Close comes first.
func (o *Operations) later(t time.Time, fn func(ctx context.Context)) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.bg == nil || o.closed {
		return false
	}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		timer := time.NewTimer(t.Sub(o.now()))
		defer timer.Stop()
		select {
		case <-o.bg.Done():
			o.log.Warn("admin: follow-up canceled by shutdown; repeat it by hand")
		case <-timer.C:
			fn(o.bg)
		}
	}()
	return true
}

// record audits an action; a failure is already logged with the event, so
// the caller's action (which did happen) is not reported as failed.
func (o *Operations) record(ctx context.Context, actor, action, target string, details any) {
	_ = o.audit.Record(ctx, actor, action, target, details)
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

// Audit lists up to limit events older than beforeID (0: the newest),
// newest first.
func (o *Operations) Audit(ctx context.Context, beforeID int64, limit int) ([]AuditEntry, error) {
	if limit == 0 {
		limit = DefaultAuditLimit
	}
	if limit < 0 || limit > MaxAuditLimit {
		return nil, fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalid, MaxAuditLimit)
	}
	if beforeID < 0 {
		return nil, fmt.Errorf("%w: before must not be negative", ErrInvalid)
	}
	events, err := o.store.ListAudit(ctx, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing audit events: %w", err)
	}
	out := make([]AuditEntry, 0, len(events))
	for _, e := range events {
		out = append(out, auditEntry(e))
	}
	return out, nil
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
