package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
)

// ListKeys returns the key set as stored: authoritative even before this
// instance's next reload.
func (s *Service) ListKeys(ctx context.Context) ([]keys.KeyInfo, error) {
	return keys.List(ctx, s.store)
}

// Algorithms lists the configured signing algorithms.
func (s *Service) Algorithms() []string { return slices.Clone(s.keysCfg.Algorithms) }

// keysConfigFor is the key configuration whose changes are audited as
// actor's. Changes go through the package-level keys functions rather than
// the server's Manager, whose OnChange cannot tell an admin's change from
// its own maintenance; the Manager is reloaded afterwards.
func (s *Service) keysConfigFor(actor Actor) keys.Config {
	c := s.keysCfg
	c.OnChange = s.audit.KeyChangeHook(actor, s.keyChanged)
	return c
}

// reloadKeys makes the server sign and publish a change at once rather than
// at its next reload.
func (s *Service) reloadKeys(ctx context.Context) {
	if s.manager == nil {
		return
	}
	if err := s.manager.Reload(context.WithoutCancel(ctx)); err != nil {
		s.log.WarnContext(ctx, "admin: reloading signing keys after a change", "error", err.Error())
	}
}

// keyError classifies a keys error.
func keyError(err error) error {
	switch {
	case errors.Is(err, keys.ErrUnknownAlgorithm):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	case errors.Is(err, keys.ErrKeyNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, keys.ErrAlreadyRotated):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err // ErrRotationTooSoon is keys' own error
}

// RotateKeys rotates each algorithm of algs (every configured one when
// empty) and returns the new current keys. Without force a rotation whose
// next key has been published for less than the safe delay is refused with
// ErrRotationTooSoon. It stops at the first failure, returning the
// rotations already made.
func (s *Service) RotateKeys(ctx context.Context, algs []string, force bool) ([]keys.KeyInfo, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if len(algs) == 0 {
		algs = s.Algorithms()
	}
	cfg := s.keysConfigFor(actor)
	out := []keys.KeyInfo{}
	defer func() {
		if len(out) > 0 {
			s.reloadKeys(ctx)
		}
	}()
	for _, alg := range algs {
		k, err := keys.Rotate(ctx, cfg, alg, force)
		if err != nil {
			return out, fmt.Errorf("rotating %s: %w", alg, keyError(err))
		}
		s.record(ctx, actor, "keys.rotate", alg, map[string]any{"kid": k.KID, "force": force})
		out = append(out, k)
	}
	return out, nil
}

// RevokeResult is the outcome of RevokeKey.
type RevokeResult struct {
	Key keys.KeyInfo `json:"key"`
	// TokensRevoked counts refresh tokens revoked and access tokens deleted
	// (when asked).
	TokensRevoked int64 `json:"tokens_revoked"`
	// FollowUpAt: instances that had not reloaded yet may have signed with
	// the key until then. A server repeats the token revocation at that
	// time by itself (FollowUpScheduled); otherwise repeat the call then.
	FollowUpAt        time.Time `json:"follow_up_at,omitzero"`
	FollowUpScheduled bool      `json:"follow_up_scheduled,omitempty"`
}

// RevokeKey takes kid out of the JWKS at once (a revoked current key is
// replaced by the next key immediately). With revokeTokens it also revokes
// the refresh tokens issued while the key was signing (see
// revokeSignedTokens). Revoking a revoked key changes no key, so calling
// it again with revokeTokens repeats the token revocation.
func (s *Service) RevokeKey(ctx context.Context, kid string, revokeTokens bool) (RevokeResult, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return RevokeResult{}, err
	}
	if kid == "" {
		return RevokeResult{}, fmt.Errorf("%w: kid is required", ErrInvalid)
	}
	info, err := keys.Revoke(ctx, s.keysConfigFor(actor), kid)
	if err != nil {
		return RevokeResult{}, fmt.Errorf("revoking %s: %w", kid, keyError(err))
	}
	s.reloadKeys(ctx)
	s.record(ctx, actor, "keys.revoke", kid, map[string]any{"alg": info.Algorithm, "revoke_tokens": revokeTokens})
	res := RevokeResult{Key: info}
	if !revokeTokens {
		return res, nil
	}
	n, w, err := s.revokeSignedTokens(ctx, actor, info, false)
	if err != nil {
		return res, err
	}
	res.TokensRevoked = n
	if w.followUp.After(s.now()) {
		res.FollowUpAt = w.followUp
		res.FollowUpScheduled = s.later(w.followUp.Add(followUpMargin), func(ctx context.Context) {
			if _, _, err := s.revokeSignedTokens(ctx, actor, info, true); err != nil {
				s.log.ErrorContext(ctx, "admin: follow-up token revocation failed; repeat the key revocation with revoke_tokens",
					"kid", kid, "error", err.Error())
			}
		})
	}
	return res, nil
}

// followUpMargin is waited past the last reload that may still have
// signed with a revoked key, for clocks and slow reloads.
const followUpMargin = time.Second

// signingWindow is when a key may have signed, as seen by any instance.
type signingWindow struct {
	from, to time.Time
	// followUp is when every instance has reloaded since the key stopped
	// signing: no token signed by it can be issued after that.
	followUp time.Time
}

// windowOf bounds the tokens k may have signed: from its activation to the
// last reload of any instance after it stopped being current (retired, or
// revoked while current), widened by the clock skew both ways because
// tokens carry their instance's clock. A key that never became current
// signed nothing.
func (s *Service) windowOf(k keys.KeyInfo) (signingWindow, bool) {
	if k.ActivatedAt.IsZero() {
		return signingWindow{}, false
	}
	reload, skew := s.keysCfg.ReloadInterval, s.keysCfg.ClockSkew
	end := k.RetiredAt
	if end.IsZero() {
		end = k.RevokedAt
	}
	if end.IsZero() {
		end = s.now()
	}
	return signingWindow{
		from:     k.ActivatedAt.Add(-skew),
		to:       end.Add(reload + skew),
		followUp: end.Add(reload),
	}, true
}

// revokeSignedTokens revokes the refresh tokens (and the access tokens
// issued with them) that were issued while k was signing, to the clients
// whose tokens k signed: those whose ID tokens use k's algorithm, every
// client when k's algorithm signs JWT access tokens, and, conservatively,
// every client changed since the window opened (its algorithm may have
// differed then).
func (s *Service) revokeSignedTokens(ctx context.Context, actor Actor, k keys.KeyInfo, followUp bool) (int64, signingWindow, error) {
	w, ok := s.windowOf(k)
	if !ok {
		s.record(ctx, actor, "keys.revoke_tokens", k.KID, map[string]any{"alg": k.Algorithm, "tokens_revoked": 0, "reason": "the key never signed"})
		return 0, w, nil
	}
	clients, err := s.store.ListClients(ctx)
	if err != nil {
		return 0, w, fmt.Errorf("listing clients: %w", err)
	}
	allClients := s.accessTokenJWT && k.Algorithm == s.keysCfg.AccessTokenAlgorithm
	var ids []string
	for _, c := range clients {
		if allClients || provider.IDTokenAlg(c) == k.Algorithm || !c.UpdatedAt.Before(w.from) {
			ids = append(ids, c.ID)
		}
	}
	n, err := s.store.RevokeRefreshTokensIssued(ctx, w.from, w.to, ids)
	if err != nil {
		return 0, w, fmt.Errorf("revoking tokens signed by %s: %w", k.KID, err)
	}
	s.record(ctx, actor, "keys.revoke_tokens", k.KID, map[string]any{
		"alg": k.Algorithm, "issued_from": w.from, "issued_to": w.to,
		"clients": len(ids), "tokens_revoked": n, "follow_up": followUp,
	})
	return n, w, nil
}

// KeyPolicy is what the key lifecycle's configuration says about time: the
// console draws the safe moments to rotate and to remove keys from it.
type KeyPolicy struct {
	Algorithms           []string
	IDTokenAlgorithm     string // signs ID tokens of clients that name no algorithm
	AccessTokenAlgorithm string // signs JWT access tokens
	// SafePublishDelay: a next key may sign this long after it was stored
	// (every instance has published it and every cached JWKS has expired).
	SafePublishDelay time.Duration
	// RotationPeriod is the age at which a current key is rotated
	// automatically; 0 when rotation is manual only.
	RotationPeriod time.Duration
	// RetiredKeep is how long a key stays published after it stops signing.
	RetiredKeep time.Duration
	// JWKSMaxAge is how long relying parties may cache the JWKS.
	JWKSMaxAge time.Duration
	// MaxTokenLifetime is the longest life of a signed token.
	MaxTokenLifetime time.Duration
}

// KeyPolicy returns the configured key lifecycle's timing.
func (s *Service) KeyPolicy() KeyPolicy {
	c := s.keysCfg
	return KeyPolicy{
		Algorithms: slices.Clone(c.Algorithms), IDTokenAlgorithm: c.DefaultAlgorithm, AccessTokenAlgorithm: c.AccessTokenAlgorithm,
		SafePublishDelay: c.SafePublishDelay(), RotationPeriod: c.RotationPeriod, RetiredKeep: c.RetiredKeepFor(),
		JWKSMaxAge: c.JWKSMaxAge, MaxTokenLifetime: c.MaxTokenLifetime,
	}
}
