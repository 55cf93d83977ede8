// Package keys manages wxoidc's signing keys: generation (RS256, ES256,
// EdDSA), encryption at rest, the next → current → retired → removed
// lifecycle with revocation, the JWKS, verification by kid, and the signer
// fosite uses for ID tokens and JWT access tokens.
//
// Every instance keeps the key set in memory as an immutable snapshot,
// reloaded from storage every ReloadInterval and at once after its own
// changes; signing and verifying read the snapshot without locks. All
// changes go through storage.KeyStore.UpdateSigningKeys, so several
// instances (and the CLI) can change the set concurrently with one outcome.
package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// Manager holds the loaded key set of one process. It is safe for
// concurrent use.
type Manager struct {
	cfg  Config
	snap atomic.Pointer[snapshot]
	// mu serializes reloads and changes made by this process, so a slower
	// reload never installs an older set over a newer one. The signing and
	// verifying paths never take it.
	mu sync.Mutex
	// loadErr is the problem report of the installed snapshot (guarded by mu).
	loadErr error

	idTokens     *Signer
	accessTokens *Signer
	verified     verifiedCache // tokens Verify has checked (verified.go)
}

// NewManager validates cfg (reporting every problem at once) and returns a
// Manager with an empty key set; call Init before use.
func NewManager(cfg Config) (*Manager, error) {
	c, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: c}
	m.snap.Store(emptySnapshot())
	m.idTokens = &Signer{m: m, defaultAlg: c.DefaultAlgorithm}
	m.accessTokens = &Signer{m: m, defaultAlg: c.AccessTokenAlgorithm}
	return m, nil
}

// Config returns the effective configuration (defaults applied).
func (m *Manager) Config() Config {
	c := m.cfg
	c.Algorithms = slices.Clone(c.Algorithms)
	return c
}

// Init bootstraps the set — each configured algorithm gets one current and
// one next key if it lacks them — and loads it. Several instances may run
// Init at once; they agree on one set.
func (m *Manager) Init(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	res, err := apply(ctx, &m.cfg, func(c *change) (KeyInfo, error) {
		for _, alg := range c.cfg.Algorithms {
			if err := c.ensure(alg); err != nil {
				return KeyInfo{}, err
			}
		}
		return KeyInfo{}, nil
	})
	if err != nil {
		return fmt.Errorf("keys: bootstrapping signing keys: %w", err)
	}
	m.emit(res.events, "bootstrap")
	return m.install(ctx, res.listed)
}

// Reload loads the set from storage. An unchanged set is not parsed again.
// Reload installs whatever could be loaded — a revocation must take effect
// even if some other row is damaged — and reports every unusable row and
// every configured algorithm without a current key in its error.
func (m *Manager) Reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reloadLocked(ctx)
}

func (m *Manager) reloadLocked(ctx context.Context) error {
	return m.install(ctx, nil)
}

// install loads rows, or lists them first when rows is nil. m.mu is held.
func (m *Manager) install(ctx context.Context, rows []storage.SigningKey) error {
	if rows == nil {
		var err error
		if rows, err = m.cfg.Store.ListSigningKeys(ctx); err != nil {
			return fmt.Errorf("keys: listing signing keys: %w", err)
		}
	}
	sorted := slices.Clone(rows)
	sortRows(sorted)
	if fingerprintRows(sorted) == m.snap.Load().fingerprint {
		return m.loadErr
	}
	s, err := buildSnapshot(m.cfg.Cipher, sorted, m.cfg.Algorithms)
	if err != nil {
		err = fmt.Errorf("keys: loading signing keys: %w", err)
	}
	m.snap.Store(s)
	m.loadErr = err
	return err
}

// Run reloads and maintains the set every ReloadInterval until ctx is done:
// it rotates each algorithm whose current key is older than RotationPeriod
// once the next key is publish-safe, deletes retired keys past RemoveAfter
// and revoked keys older than MaxTokenLifetime+ClockSkew, and restores one
// current and one next key per algorithm. Errors are logged, never fatal.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.tick(ctx); err != nil && ctx.Err() == nil {
				m.cfg.Logger.ErrorContext(ctx, "signing key maintenance failed", "err", err)
			}
		}
	}
}

// tick is one Run iteration.
func (m *Manager) tick(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	res, err := apply(ctx, &m.cfg, func(c *change) (KeyInfo, error) {
		return KeyInfo{}, c.maintain()
	})
	if err != nil {
		// Still pick up other instances' changes.
		return errors.Join(fmt.Errorf("keys: maintenance: %w", err), m.reloadLocked(ctx))
	}
	m.emit(res.events, "maintenance")
	// Usually nothing changed and the listing made for the dry run is
	// installed as is: one query per tick.
	return m.install(ctx, res.listed)
}

// Rotate promotes alg's next key to current, retires the current key and
// makes a new next key. Without force it refuses with ErrRotationTooSoon
// while the next key has been published for less than SafePublishDelay.
// If another instance rotated since this one last loaded the set, nothing
// changes and the error is ErrAlreadyRotated, with the current key found in
// storage as KeyInfo; the set is reloaded either way, so a retry acts on
// fresh data. On success it returns the new current key.
func (m *Manager) Rotate(ctx context.Context, alg string, force bool) (KeyInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	expect := ""
	if k, ok := m.snap.Load().current[alg]; ok {
		expect = k.info.KID
	}
	res, err := apply(ctx, &m.cfg, func(c *change) (KeyInfo, error) {
		return c.rotate(alg, expect, force)
	})
	if err != nil {
		if errors.Is(err, ErrAlreadyRotated) {
			_ = m.reloadLocked(ctx) // best effort: the caller's error is the rotation's
		}
		return res.info, err
	}
	m.emit(res.events, "rotate")
	if err := m.reloadLocked(ctx); err != nil {
		return res.info, fmt.Errorf("keys: rotated %s, but reloading failed: %w", alg, err)
	}
	return res.info, nil
}

// Revoke removes kid from the JWKS at once and returns its (revoked) info,
// whose ActivatedAt/RetiredAt/RevokedAt bound the tokens it may have
// signed. Revoking the current key promotes the next key immediately and
// makes a new next key. Revoking a revoked key is a no-op returning its
// info. Other instances stop using the key at their next reload.
func (m *Manager) Revoke(ctx context.Context, kid string) (KeyInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res, err := apply(ctx, &m.cfg, func(c *change) (KeyInfo, error) {
		return c.revoke(kid)
	})
	if err != nil {
		return res.info, err
	}
	m.emit(res.events, "revoke")
	if err := m.reloadLocked(ctx); err != nil {
		return res.info, fmt.Errorf("keys: revoked %s, but reloading failed: %w", kid, err)
	}
	return res.info, nil
}

// Keys lists the loaded set (revoked keys included, until cleanup deletes
// them), ordered by creation time.
func (m *Manager) Keys() []KeyInfo {
	return slices.Clone(m.snap.Load().infos)
}

// JWKS returns the JSON Web Key Set body (next, current and retired keys;
// public members only) and its strong ETag. Both are built once per change
// of the set; callers must not modify body.
func (m *Manager) JWKS() (body []byte, etag string) {
	s := m.snap.Load()
	return s.jwks, s.etag
}

// MaxAge is the Cache-Control max-age for the JWKS (Config.JWKSMaxAge).
func (m *Manager) MaxAge() time.Duration { return m.cfg.JWKSMaxAge }

// emit logs and reports committed changes.
func (m *Manager) emit(events []keyEvent, cause string) {
	emit(&m.cfg, events, cause)
}

func emit(cfg *Config, events []keyEvent, cause string) {
	for _, e := range events {
		cfg.Logger.Info("signing key "+e.event, "kid", e.info.KID, "alg", e.info.Algorithm,
			"state", string(e.info.State), "cause", cause)
		if cfg.OnChange != nil {
			cfg.OnChange(e.event, e.info)
		}
	}
}

// List returns the stored set without decrypting anything, for the CLI.
func List(ctx context.Context, store storage.KeyStore) ([]KeyInfo, error) {
	if store == nil {
		return nil, errors.New("keys: List: nil store")
	}
	rows, err := store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: listing signing keys: %w", err)
	}
	return infosOf(rows), nil
}

// Rotate rotates alg in storage without a running Manager (the CLI, while
// servers run). It acts on the current key it reads from storage, so a
// concurrent rotation makes it fail with ErrAlreadyRotated rather than
// rotate twice. Running servers pick the change up at their next reload.
func Rotate(ctx context.Context, cfg Config, alg string, force bool) (KeyInfo, error) {
	c, err := cfg.normalize()
	if err != nil {
		return KeyInfo{}, err
	}
	rows, err := c.Store.ListSigningKeys(ctx)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("keys: listing signing keys: %w", err)
	}
	expect := ""
	probe := &change{cfg: &c, set: rows}
	if i := probe.currentIndex(alg); i >= 0 {
		expect = rows[i].KID
	}
	res, err := apply(ctx, &c, func(ch *change) (KeyInfo, error) {
		return ch.rotate(alg, expect, force)
	})
	if err != nil {
		return res.info, err
	}
	emit(&c, res.events, "rotate")
	return res.info, nil
}

// Revoke revokes kid in storage without a running Manager (the CLI); see
// Manager.Revoke.
func Revoke(ctx context.Context, cfg Config, kid string) (KeyInfo, error) {
	c, err := cfg.normalize()
	if err != nil {
		return KeyInfo{}, err
	}
	res, err := apply(ctx, &c, func(ch *change) (KeyInfo, error) {
		return ch.revoke(kid)
	})
	if err != nil {
		return res.info, err
	}
	emit(&c, res.events, "revoke")
	return res.info, nil
}
