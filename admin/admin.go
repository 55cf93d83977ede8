// Package admin holds the operations admins run on a wxoidc deployment:
// signing keys, clients, accounts and the audit log. The admin HTTP API
// (package web) and the CLI (cmd/wxoidc) both call one Service; each change
// is audited under the Actor its context carries.
//
// The Service works on storage, not on a running server, so the CLI can use
// it while servers run; a server's own key manager and client cache are
// told about changes through the hooks in Config.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

// Error classes of admin operations. Every error a Service method returns
// for a caller's mistake wraps one of them (test with errors.Is); anything
// else is an internal failure whose detail belongs in a log, not in an
// answer.
var (
	// ErrInvalid: the request is malformed or breaks a rule (400).
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound: the key, client or account does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request clashes with the current state (409).
	ErrConflict = errors.New("conflict")
	// ErrRotationTooSoon: the next key has not been published for the safe
	// delay and force was not given (409). It is keys.ErrRotationTooSoon, so
	// errors.As with *keys.RotationTooSoonError gives how long to wait.
	ErrRotationTooSoon = keys.ErrRotationTooSoon
	// ErrUnavailable: storage is briefly unreachable (a database restart or
	// failover); retry shortly (503). It is storage.ErrUnavailable.
	ErrUnavailable = storage.ErrUnavailable
	// ErrNoActor: a change was asked for without an Actor in the context.
	// It is a programming error: every change must be attributable.
	ErrNoActor = errors.New("admin: no actor in context")
)

// Store is the storage the Service works on.
type Store interface {
	storage.ClientStore
	storage.AccountStore
	storage.KeyStore
	storage.AuditStore
	RevokeSubjectTokens(ctx context.Context, subject string) (int64, error)
	RevokeClientTokens(ctx context.Context, clientID string) (int64, error)
	RevokeRefreshTokensIssued(ctx context.Context, from, to time.Time, clientIDs []string) (int64, error)
	// Browser sign-in state an admin sees and ends (docs/contract.md §1.5).
	ListAccountLoginSessions(ctx context.Context, accountID string) ([]storage.LoginSession, error)
	ListLoginSessionClients(ctx context.Context, id string) ([]string, error)
	DeleteAccountLoginSessions(ctx context.Context, accountID string) (int64, error)
	ListAccountConsents(ctx context.Context, accountID string) ([]storage.Consent, error)
	DeleteConsent(ctx context.Context, accountID, clientID string) error
}

// SecretHasher hashes new client secrets (provider.SecretHasher).
type SecretHasher interface {
	Hash(ctx context.Context, secret []byte) ([]byte, error)
}

// Config wires New.
type Config struct {
	// Store is required.
	Store Store
	// Keys is the key configuration (Store and Cipher required). Zero
	// fields take keys' defaults; OnChange is replaced by the audit hook.
	Keys keys.Config
	// Manager is the server's key manager, reloaded after key changes; nil
	// in the CLI.
	Manager *keys.Manager
	// Hasher hashes generated client secrets; required.
	Hasher SecretHasher
	// PhoneIndexKey keys the phone blind index (provider.Config.PhoneIndexKey);
	// required to look accounts up by phone.
	PhoneIndexKey []byte
	// Auditor records every change; required.
	Auditor *Auditor
	// Issuer is the default audience of new clients.
	Issuer string
	// WeChatAppIDs are the configured appids (wechat.apps) clients may be
	// bound to.
	WeChatAppIDs []string
	// WeChatAppKinds are the kinds of configured apps by appid
	// (config.WeChatApp.Kind); an appid only in WeChatAppIDs is a
	// mini-program. Client registration checks each binding's kind.
	WeChatAppKinds map[string]string
	// AccessTokenFormat is provider.Config.AccessTokenFormat: JWT access
	// tokens are signed too, so revoking their key revokes more tokens.
	AccessTokenFormat string
	// KeyChanged, if set, is also told about every key-state change made
	// here (metrics).
	KeyChanged func(event string, k keys.KeyInfo)
	// ClientChanged, if set, is told about every client created, changed or
	// deleted here (the server's provider drops it from its cache).
	ClientChanged func(id string)
	// EndSessions, if set, ends an account's login sessions instead of
	// deleting them from storage directly: the server's provider also
	// sends the back-channel logout tokens (provider.EndAccountLogins).
	EndSessions func(ctx context.Context, accountID string) (int64, error)
	Logger      *slog.Logger
	Now         func() time.Time
	// FollowUps runs the second pass of token revocation in the background
	// (servers). Without it RevokeKey reports when to repeat the call.
	FollowUps bool
}

// Service runs admin operations. Its methods are safe for concurrent use.
type Service struct {
	store     Store
	keysCfg   keys.Config // with keys' defaults applied
	manager   *keys.Manager
	hasher    SecretHasher
	phoneHash func(e164 string) string
	audit     *Auditor
	issuer    string
	appIDs    []string
	appKinds  map[string]string // every configured appid → its kind
	// accessTokenJWT: access tokens are JWTs signed with the access-token
	// algorithm's current key.
	accessTokenJWT bool
	now            func() time.Time
	log            *slog.Logger
	keyChanged     func(event string, k keys.KeyInfo)
	clientChanged  func(id string)
	endSessions    func(ctx context.Context, accountID string) (int64, error)

	// Follow-up passes of token revocation (servers only; see RevokeKey).
	bg     context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed bool
	mu     sync.Mutex
}

// New returns a Service. Close it to stop pending follow-ups.
func New(c Config) (*Service, error) {
	if c.Store == nil || c.Hasher == nil || c.Auditor == nil {
		return nil, errors.New("admin: store, hasher and auditor are required")
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	kc := c.Keys
	if kc.Logger == nil {
		kc.Logger = log
	}
	if kc.Now == nil {
		kc.Now = now
	}
	kc, err := kc.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	s := &Service{
		store:          c.Store,
		keysCfg:        kc,
		manager:        c.Manager,
		hasher:         c.Hasher,
		phoneHash:      provider.PhoneHashFunc(c.PhoneIndexKey),
		audit:          c.Auditor,
		issuer:         c.Issuer,
		appIDs:         append([]string(nil), c.WeChatAppIDs...),
		appKinds:       appKinds(c.WeChatAppIDs, c.WeChatAppKinds),
		accessTokenJWT: c.AccessTokenFormat != provider.FormatOpaque, // JWT is provider's default
		now:            now,
		log:            log,
		keyChanged:     c.KeyChanged,
		clientChanged:  c.ClientChanged,
		endSessions:    c.EndSessions,
	}
	if c.FollowUps {
		s.bg, s.stop = context.WithCancel(context.Background())
	}
	return s, nil
}

// Close stops pending follow-up passes and waits for running ones.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.stop != nil {
		s.stop()
	}
	s.wg.Wait()
}

// later runs fn at t in the background, unless Close comes first.
func (s *Service) later(t time.Time, fn func(ctx context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bg == nil || s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		timer := time.NewTimer(t.Sub(s.now()))
		defer timer.Stop()
		select {
		case <-s.bg.Done():
			s.log.Warn("admin: follow-up canceled by shutdown; repeat it by hand")
		case <-timer.C:
			fn(s.bg)
		}
	}()
	return true
}

// record audits an action; a failure is already logged with the event, so
// the caller's action (which did happen) is not reported as failed.
func (s *Service) record(ctx context.Context, actor Actor, action, target string, details any) {
	_ = s.audit.Record(ctx, actor, action, target, details)
}
