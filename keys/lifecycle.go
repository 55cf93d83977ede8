package keys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

var (
	// ErrRotationTooSoon: the next key has not been published for
	// SafePublishDelay yet, so some caches may not know it. The error is a
	// *RotationTooSoonError saying how long to wait; force overrides it.
	ErrRotationTooSoon = errors.New("keys: rotation too soon")
	// ErrAlreadyRotated: the current key is no longer the one the caller
	// saw, because another instance (or an operator) rotated or revoked it
	// first. Nothing was changed; the returned KeyInfo is the current key
	// found in storage.
	ErrAlreadyRotated = errors.New("keys: already rotated by another instance")
	// ErrKeyNotFound: no key with that kid.
	ErrKeyNotFound = errors.New("keys: key not found")
	// ErrUnknownAlgorithm: the algorithm is not one of Config.Algorithms.
	ErrUnknownAlgorithm = errors.New("keys: algorithm not configured")
)

// RotationTooSoonError is the ErrRotationTooSoon detail.
type RotationTooSoonError struct {
	Algorithm string
	NextKID   string        // empty when there is no next key at all
	Published time.Duration // how long the next key has been in storage
	Wait      time.Duration // how long until it may sign
}

func (e *RotationTooSoonError) Error() string {
	if e.NextKID == "" {
		return fmt.Sprintf("keys: rotation too soon: there is no next %s key to promote; wait %s for a new one to be published (maintenance creates it) or use force",
			e.Algorithm, e.Wait.Round(time.Second))
	}
	return fmt.Sprintf("keys: rotation too soon: next %s key %s has been published for %s, so cached JWKS may lack it; wait %s or use force",
		e.Algorithm, e.NextKID, e.Published.Round(time.Second), e.Wait.Round(time.Second))
}

// Is makes errors.Is(err, ErrRotationTooSoon) true.
func (e *RotationTooSoonError) Is(target error) bool { return target == ErrRotationTooSoon }

// keyPool hands new sealed keys to lifecycle operations running inside
// Store.UpdateSigningKeys. Keys are generated before the transaction (RSA
// generation is slow and the transaction serializes every instance) from a
// dry run's demand, and inline only if the set changed in between. reset
// rewinds it so a retried transaction function reuses the same keys.
type keyPool struct {
	cipher *Cipher
	bits   int
	dry    bool // count demand, hand out placeholders
	demand map[string]int
	ready  map[string][]storage.SigningKey
	used   map[string]int
}

func newKeyPool(c *Cipher, bits int) *keyPool {
	return &keyPool{cipher: c, bits: bits, demand: map[string]int{}, ready: map[string][]storage.SigningKey{}, used: map[string]int{}}
}

func (p *keyPool) reset() { clear(p.used) }

func (p *keyPool) take(alg string) (storage.SigningKey, error) {
	if p.dry {
		p.demand[alg]++
		return storage.SigningKey{KID: fmt.Sprintf("dry-run-%s-%d", alg, p.demand[alg]), Algorithm: alg}, nil
	}
	if i := p.used[alg]; i < len(p.ready[alg]) {
		p.used[alg]++
		return p.ready[alg][i], nil
	}
	k, err := newSealedKey(p.cipher, alg, p.bits)
	if err != nil {
		return storage.SigningKey{}, err
	}
	p.ready[alg] = append(p.ready[alg], k)
	p.used[alg]++
	return k, nil
}

// fill generates every key the dry run asked for.
func (p *keyPool) fill(demand map[string]int) error {
	for alg, n := range demand {
		for len(p.ready[alg]) < n {
			k, err := newSealedKey(p.cipher, alg, p.bits)
			if err != nil {
				return err
			}
			p.ready[alg] = append(p.ready[alg], k)
		}
	}
	return nil
}

// change is one lifecycle operation on a working copy of the key set. Its
// methods are pure apart from taking keys from the pool, so they can run
// both as a dry run and inside the storage transaction.
type change struct {
	cfg  *Config
	now  time.Time
	pool *keyPool
	set  []storage.SigningKey
}

func (c *change) indexes(alg string, state storage.KeyState) []int {
	var out []int
	for i, k := range c.set {
		if k.Algorithm == alg && k.State == state {
			out = append(out, i)
		}
	}
	return out
}

// currentIndex is the signing key of alg, or -1.
func (c *change) currentIndex(alg string) int {
	idx := c.indexes(alg, storage.KeyCurrent)
	if len(idx) == 0 {
		return -1
	}
	return slices.MaxFunc(idx, func(a, b int) int { return compareActivation(c.set[a], c.set[b]) })
}

// nextIndex is the longest-published next key of alg, or -1.
func (c *change) nextIndex(alg string) int {
	idx := c.indexes(alg, storage.KeyNext)
	if len(idx) == 0 {
		return -1
	}
	return slices.MinFunc(idx, func(a, b int) int { return compareCreation(c.set[a], c.set[b]) })
}

func compareCreation(a, b storage.SigningKey) int {
	if d := a.CreatedAt.Compare(b.CreatedAt); d != 0 {
		return d
	}
	return cmp.Compare(a.KID, b.KID)
}

func compareActivation(a, b storage.SigningKey) int {
	if d := a.ActivatedAt.Compare(b.ActivatedAt); d != 0 {
		return d
	}
	return compareCreation(a, b)
}

func (c *change) indexOf(kid string) int {
	return slices.IndexFunc(c.set, func(k storage.SigningKey) bool { return k.KID == kid })
}

func (c *change) add(alg string, state storage.KeyState) (int, error) {
	k, err := c.pool.take(alg)
	if err != nil {
		return -1, err
	}
	if c.indexOf(k.KID) >= 0 {
		return -1, fmt.Errorf("keys: generated kid %s already exists", k.KID)
	}
	k.State = state
	k.CreatedAt = c.now
	if state == storage.KeyCurrent {
		k.ActivatedAt = c.now
	}
	c.set = append(c.set, k)
	return len(c.set) - 1, nil
}

func (c *change) activate(i int) {
	c.set[i].State = storage.KeyCurrent
	c.set[i].ActivatedAt = c.now
}

func (c *change) retire(i int) {
	c.set[i].State = storage.KeyRetired
	c.set[i].RetiredAt = c.now
	c.set[i].RemoveAfter = c.now.Add(c.cfg.RetiredKeepFor())
}

func (c *change) remove(i int) {
	c.set = slices.Delete(c.set, i, i+1)
}

// ensure restores the invariant for alg: exactly one current key and
// exactly one next key. At first start the current key is created directly
// as current: no JWKS can have been cached before the first key existed.
// Later a missing current key (every one revoked outside Revoke) promotes
// the next key, publish-safe or not, because nothing could sign otherwise.
func (c *change) ensure(alg string) error {
	cur := c.currentIndex(alg)
	if cur >= 0 {
		keep := c.set[cur].KID
		for _, i := range c.indexes(alg, storage.KeyCurrent) {
			if c.set[i].KID != keep {
				c.retire(i)
			}
		}
	} else if nxt := c.nextIndex(alg); nxt >= 0 {
		c.activate(nxt)
	} else if _, err := c.add(alg, storage.KeyCurrent); err != nil {
		return err
	}

	nxt := c.nextIndex(alg)
	if nxt < 0 {
		_, err := c.add(alg, storage.KeyNext)
		return err
	}
	// Extra next keys never signed anything: dropping them is safe.
	keep := c.set[nxt].KID
	for i := len(c.set) - 1; i >= 0; i-- {
		if k := c.set[i]; k.Algorithm == alg && k.State == storage.KeyNext && k.KID != keep {
			c.remove(i)
		}
	}
	return nil
}

// rotate promotes next → current and current → retired, then makes a new
// next key. expectKID is the current kid the caller saw ("" for none): if
// storage holds another, someone rotated first and nothing changes.
func (c *change) rotate(alg, expectKID string, force bool) (KeyInfo, error) {
	if !slices.Contains(c.cfg.Algorithms, alg) {
		return KeyInfo{}, fmt.Errorf("%w: %q (configured: %v)", ErrUnknownAlgorithm, alg, c.cfg.Algorithms)
	}
	cur := c.currentIndex(alg)
	curKID := ""
	if cur >= 0 {
		curKID = c.set[cur].KID
	}
	if curKID != expectKID {
		var info KeyInfo
		if cur >= 0 {
			info = infoOf(c.set[cur])
		}
		return info, fmt.Errorf("%w: current %s key is %q, expected %q", ErrAlreadyRotated, alg, curKID, expectKID)
	}

	nxt := c.nextIndex(alg)
	safe := c.cfg.SafePublishDelay()
	if !force {
		if nxt < 0 {
			return KeyInfo{}, &RotationTooSoonError{Algorithm: alg, Wait: safe}
		}
		if age := c.now.Sub(c.set[nxt].CreatedAt); age < safe {
			return KeyInfo{}, &RotationTooSoonError{Algorithm: alg, NextKID: c.set[nxt].KID, Published: age, Wait: safe - age}
		}
	}

	var err error
	if nxt >= 0 {
		c.activate(nxt)
	} else if nxt, err = c.add(alg, storage.KeyCurrent); err != nil {
		return KeyInfo{}, err
	}
	newKID := c.set[nxt].KID
	for _, i := range c.indexes(alg, storage.KeyCurrent) {
		if c.set[i].KID != newKID {
			c.retire(i)
		}
	}
	if _, err := c.add(alg, storage.KeyNext); err != nil {
		return KeyInfo{}, err
	}
	return infoOf(c.set[c.indexOf(newKID)]), nil
}

// revoke removes kid from the JWKS at once. A revoked current key is an
// emergency: the next key signs immediately, publish-safe or not, and a new
// next key is made. Revoking an already revoked key changes nothing.
func (c *change) revoke(kid string) (KeyInfo, error) {
	i := c.indexOf(kid)
	if i < 0 {
		return KeyInfo{}, fmt.Errorf("%w: %q", ErrKeyNotFound, kid)
	}
	if c.set[i].State == storage.KeyRevoked {
		return infoOf(c.set[i]), nil
	}
	c.set[i].State = storage.KeyRevoked
	c.set[i].RevokedAt = c.now
	info := infoOf(c.set[i])
	// Algorithms no longer configured get no replacement keys.
	if alg := c.set[i].Algorithm; slices.Contains(c.cfg.Algorithms, alg) {
		if err := c.ensure(alg); err != nil {
			return KeyInfo{}, err
		}
	}
	return info, nil
}

// maintain is one periodic pass: repair the invariant, rotate keys older
// than RotationPeriod whose next key is publish-safe, and delete retired
// keys past RemoveAfter and revoked keys kept long enough for audit.
func (c *change) maintain() error {
	for _, alg := range c.cfg.Algorithms {
		if err := c.ensure(alg); err != nil {
			return err
		}
		if c.cfg.RotationPeriod <= 0 {
			continue
		}
		cur := c.set[c.currentIndex(alg)]
		since := cur.ActivatedAt
		if since.IsZero() {
			since = cur.CreatedAt
		}
		if c.now.Sub(since) < c.cfg.RotationPeriod {
			continue
		}
		if _, err := c.rotate(alg, cur.KID, false); err != nil {
			if errors.Is(err, ErrRotationTooSoon) {
				continue // the next key becomes publish-safe on a later tick
			}
			return err
		}
	}
	for i := len(c.set) - 1; i >= 0; i-- {
		k := &c.set[i]
		switch k.State {
		case storage.KeyRetired:
			if k.RemoveAfter.IsZero() {
				// Never remove a retired key without a date: give it the
				// full period from when it was retired.
				from := k.RetiredAt
				if from.IsZero() {
					from = c.now
				}
				k.RemoveAfter = from.Add(c.cfg.RetiredKeepFor())
			}
			if !c.now.Before(k.RemoveAfter) {
				c.remove(i)
			}
		case storage.KeyRevoked:
			if !c.now.Before(k.RevokedAt.Add(c.cfg.revokedKeepFor())) {
				c.remove(i)
			}
		}
	}
	return nil
}

// errNoChange aborts the storage transaction when an operation turned out
// to change nothing.
var errNoChange = errors.New("keys: no change")

type keyEvent struct {
	event string
	info  KeyInfo
}

// applied is the outcome of apply.
type applied struct {
	info   KeyInfo
	events []keyEvent // committed changes, for emit
	// listed is the set as read, when the dry run found nothing to change:
	// the caller can install it without listing again.
	listed []storage.SigningKey
}

// apply runs op against storage: first as a dry run on a plain listing (to
// fail early without a write transaction, skip no-op work, and count the
// keys to generate), then for real inside Store.UpdateSigningKeys, the
// compare-and-swap that gives concurrent instances one outcome. op must
// decide only from the set it is given.
func apply(ctx context.Context, cfg *Config, op func(*change) (KeyInfo, error)) (applied, error) {
	rows, err := cfg.Store.ListSigningKeys(ctx)
	if err != nil {
		return applied{}, fmt.Errorf("keys: listing signing keys: %w", err)
	}
	pool := newKeyPool(cfg.Cipher, cfg.RSABits)
	pool.dry = true
	dry := &change{cfg: cfg, now: cfg.Now(), pool: pool, set: cloneRows(rows)}
	if info, err := op(dry); err != nil {
		return applied{info: info}, err
	} else if setsEqual(rows, dry.set) {
		return applied{info: info, listed: rows}, nil
	}
	pool.dry = false
	if err := pool.fill(pool.demand); err != nil {
		return applied{}, err
	}

	var res applied
	_, err = cfg.Store.UpdateSigningKeys(ctx, func(set []storage.SigningKey) ([]storage.SigningKey, error) {
		pool.reset()
		ch := &change{cfg: cfg, now: cfg.Now(), pool: pool, set: cloneRows(set)}
		info, err := op(ch)
		res = applied{info: info}
		if err != nil {
			return nil, err
		}
		if setsEqual(set, ch.set) {
			return nil, errNoChange
		}
		res.events = diffSets(set, ch.set)
		return ch.set, nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return applied{info: res.info}, nil
	case err == nil:
		return res, nil
	case errors.Is(err, ErrRotationTooSoon), errors.Is(err, ErrAlreadyRotated), errors.Is(err, ErrKeyNotFound), errors.Is(err, ErrUnknownAlgorithm):
		return applied{info: res.info}, err
	}
	return applied{}, fmt.Errorf("keys: updating signing keys: %w", err)
}

// diffSets lists the state changes from before to after, ordered by kid.
func diffSets(before, after []storage.SigningKey) []keyEvent {
	old := map[string]storage.SigningKey{}
	for _, k := range before {
		old[k.KID] = k
	}
	var out []keyEvent
	seen := map[string]bool{}
	for _, k := range after {
		seen[k.KID] = true
		prev, existed := old[k.KID]
		switch {
		case !existed:
			out = append(out, keyEvent{EventCreated, infoOf(k)})
			if k.State == storage.KeyCurrent {
				out = append(out, keyEvent{EventActivated, infoOf(k)})
			}
		case prev.State != k.State:
			out = append(out, keyEvent{stateEvent(k.State), infoOf(k)})
		}
	}
	for _, k := range before {
		if !seen[k.KID] {
			out = append(out, keyEvent{EventRemoved, infoOf(k)})
		}
	}
	slices.SortStableFunc(out, func(a, b keyEvent) int { return cmp.Compare(a.info.KID, b.info.KID) })
	return out
}

func stateEvent(s storage.KeyState) string {
	switch s {
	case storage.KeyCurrent:
		return EventActivated
	case storage.KeyRetired:
		return EventRetired
	case storage.KeyRevoked:
		return EventRevoked
	}
	return EventCreated
}

// setsEqual reports whether two sets hold the same rows, in any order.
func setsEqual(a, b []storage.SigningKey) bool {
	if len(a) != len(b) {
		return false
	}
	byKID := make(map[string]storage.SigningKey, len(a))
	for _, k := range a {
		byKID[k.KID] = k
	}
	for _, k := range b {
		if o, ok := byKID[k.KID]; !ok || !sameRow(o, k) {
			return false
		}
	}
	return true
}

func sameRow(a, b storage.SigningKey) bool {
	return a.KID == b.KID && a.Algorithm == b.Algorithm && a.State == b.State &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ActivatedAt.Equal(b.ActivatedAt) &&
		a.RetiredAt.Equal(b.RetiredAt) && a.RemoveAfter.Equal(b.RemoveAfter) && a.RevokedAt.Equal(b.RevokedAt) &&
		string(a.PrivateKeyEncrypted) == string(b.PrivateKeyEncrypted) && string(a.PublicJWK) == string(b.PublicJWK)
}

func cloneRows(rows []storage.SigningKey) []storage.SigningKey {
	out := make([]storage.SigningKey, len(rows))
	for i, r := range rows {
		r.PrivateKeyEncrypted = slices.Clone(r.PrivateKeyEncrypted)
		r.PublicJWK = slices.Clone(r.PublicJWK)
		out[i] = r
	}
	return out
}
