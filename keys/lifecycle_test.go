package keys

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/storage"
)

// newEventManager is newTestManager with an OnChange recorder.
func newEventManager(t *testing.T, mutate func(*Config)) (*Manager, *memStore, *testharness.Clock, *eventLog) {
	t.Helper()
	store, clock, log := &memStore{}, testharness.NewClock(testStart), &eventLog{}
	cfg := testConfig(store, clock, testCipher(t))
	cfg.OnChange = log.add
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, store, clock, log
}

func assertInvariant(t *testing.T, keys []KeyInfo, algs ...string) {
	t.Helper()
	for _, alg := range algs {
		onlyKey(t, keys, alg, storage.KeyCurrent)
		onlyKey(t, keys, alg, storage.KeyNext)
	}
}

func jwksHas(m *Manager, kid string) bool {
	body, _ := m.JWKS()
	return strings.Contains(string(body), `"`+kid+`"`)
}

func TestInitBootstrap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, store, clock, log := newEventManager(t, nil)
	now := clock.Now()
	keys := m.Keys()
	if len(keys) != 4 {
		t.Fatalf("%d keys after bootstrap, want 4", len(keys))
	}
	assertInvariant(t, keys, ES256, EdDSA)
	for _, alg := range []string{ES256, EdDSA} {
		cur := onlyKey(t, keys, alg, storage.KeyCurrent)
		if !cur.CreatedAt.Equal(now) || !cur.ActivatedAt.Equal(now) {
			t.Fatalf("bootstrap current key %+v: created directly as current at %s", cur, now)
		}
		if nxt := onlyKey(t, keys, alg, storage.KeyNext); !nxt.ActivatedAt.IsZero() {
			t.Fatalf("next key %+v has an activation date", nxt)
		}
	}
	events := log.take()
	if len(events) != 6 {
		t.Fatalf("events %v, want created+activated per current and created per next", events)
	}
	for _, alg := range []string{ES256, EdDSA} {
		cur := onlyKey(t, keys, alg, storage.KeyCurrent)
		nxt := onlyKey(t, keys, alg, storage.KeyNext)
		for _, want := range []string{
			"created:" + alg + ":current:" + cur.KID,
			"activated:" + alg + ":current:" + cur.KID,
			"created:" + alg + ":next:" + nxt.KID,
		} {
			if !slices.Contains(events, want) {
				t.Errorf("missing event %s in %v", want, events)
			}
		}
	}

	// A second Init (restart) changes nothing and writes nothing.
	clock.Advance(time.Hour)
	updates := store.updateCount()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if store.updateCount() != updates || len(log.take()) != 0 {
		t.Fatal("second Init changed the set")
	}
}

func TestInitPromotesOrphanNextKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, store, clock := newTestManager(t, ES256)
	// Simulate storage edited by hand: the current key is gone.
	rows := store.snapshotRows()
	rows = slices.DeleteFunc(rows, func(r storage.SigningKey) bool { return r.State == storage.KeyCurrent })
	store.setRows(rows)
	orphan := rows[0].KID
	if err := m.Reload(ctx); err == nil || !strings.Contains(err.Error(), "no usable current ES256 key") {
		t.Fatalf("Reload without a current key: %v", err)
	}
	clock.Advance(time.Second)
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if cur := onlyKey(t, m.Keys(), ES256, storage.KeyCurrent); cur.KID != orphan {
		t.Fatalf("current %s, want the former next %s", cur.KID, orphan)
	}
	assertInvariant(t, m.Keys(), ES256)
}

func TestConcurrentInit(t *testing.T) {
	t.Parallel()
	store, clock, cipher := &memStore{}, testharness.NewClock(testStart), testCipher(t)
	var wg sync.WaitGroup
	managers := make([]*Manager, 4)
	errs := make([]error, len(managers))
	for i := range managers {
		m, err := NewManager(testConfig(store, clock, cipher))
		if err != nil {
			t.Fatal(err)
		}
		managers[i] = m
		wg.Go(func() { errs[i] = m.Init(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range managers {
		if err := m.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := List(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 {
		t.Fatalf("%d keys after concurrent Init, want 4", len(keys))
	}
	assertInvariant(t, keys, ES256, EdDSA)
	body0, etag0 := managers[0].JWKS()
	for _, m := range managers[1:] {
		if body, etag := m.JWKS(); string(body) != string(body0) || etag != etag0 {
			t.Fatal("instances disagree after concurrent Init")
		}
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		alg      string
		advance  time.Duration
		force    bool
		wantErr  error
		wantWait time.Duration
	}{
		{"right after bootstrap", ES256, 0, false, ErrRotationTooSoon, testSafe},
		{"one second before publish-safe", ES256, testSafe - time.Second, false, ErrRotationTooSoon, time.Second},
		{"forced right after bootstrap", ES256, 0, true, nil, 0},
		{"publish-safe", ES256, testSafe, false, nil, 0},
		{"long after", EdDSA, 30 * 24 * time.Hour, false, nil, 0},
		{"unconfigured algorithm", RS256, testSafe, true, ErrUnknownAlgorithm, 0},
		{"unknown algorithm", "HS256", testSafe, true, ErrUnknownAlgorithm, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m, store, clock, log := newEventManager(t, nil)
			log.take()
			before := m.Keys()
			clock.Advance(tt.advance)
			now := clock.Now()
			updates := store.updateCount()

			info, err := m.Rotate(ctx, tt.alg, tt.force)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Rotate error %v, want %v", err, tt.wantErr)
				}
				var tooSoon *RotationTooSoonError
				if errors.As(err, &tooSoon) {
					if tooSoon.Wait != tt.wantWait {
						t.Fatalf("Wait %s, want %s", tooSoon.Wait, tt.wantWait)
					}
					if msg := err.Error(); !strings.Contains(msg, "wait "+tt.wantWait.String()) || !strings.Contains(msg, "force") {
						t.Fatalf("message %q does not say how long to wait and to use force", msg)
					}
				}
				if store.updateCount() != updates || len(log.take()) != 0 {
					t.Fatal("a refused rotation changed the set")
				}
				return
			}
			if err != nil {
				t.Fatalf("Rotate: %v", err)
			}

			oldCur := onlyKey(t, before, tt.alg, storage.KeyCurrent)
			oldNext := onlyKey(t, before, tt.alg, storage.KeyNext)
			keys := m.Keys()
			assertInvariant(t, keys, ES256, EdDSA)
			if info.KID != oldNext.KID || info.State != storage.KeyCurrent || !info.ActivatedAt.Equal(now) {
				t.Fatalf("new current %+v, want the old next %s activated at %s", info, oldNext.KID, now)
			}
			retired := findInfo(keys, oldCur.KID)
			if retired.State != storage.KeyRetired || !retired.RetiredAt.Equal(now) || !retired.RemoveAfter.Equal(now.Add(testRetired)) {
				t.Fatalf("old current %+v: want retired at %s, removable after %s", retired, now, now.Add(testRetired))
			}
			newNext := onlyKey(t, keys, tt.alg, storage.KeyNext)
			if !newNext.CreatedAt.Equal(now) || newNext.KID == oldNext.KID {
				t.Fatalf("new next %+v", newNext)
			}
			for _, kid := range []string{oldCur.KID, info.KID, newNext.KID} {
				if !jwksHas(m, kid) {
					t.Fatalf("JWKS lacks %s", kid)
				}
			}
			if got := m.snap.Load().current[tt.alg].info.KID; got != info.KID {
				t.Fatalf("signing with %s, want %s", got, info.KID)
			}
			// The other algorithm is untouched.
			other := ES256
			if tt.alg == ES256 {
				other = EdDSA
			}
			if onlyKey(t, keys, other, storage.KeyCurrent) != onlyKey(t, before, other, storage.KeyCurrent) {
				t.Fatal("rotation touched the other algorithm")
			}
			events := log.take()
			want := []string{
				"activated:" + tt.alg + ":current:" + info.KID,
				"retired:" + tt.alg + ":retired:" + oldCur.KID,
				"created:" + tt.alg + ":next:" + newNext.KID,
			}
			slices.Sort(events)
			slices.Sort(want)
			if !slices.Equal(events, want) {
				t.Fatalf("events %v, want %v", events, want)
			}
		})
	}
}

func TestRotateWithoutNextKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, store, clock := newTestManager(t, ES256)
	rows := slices.DeleteFunc(store.snapshotRows(), func(r storage.SigningKey) bool { return r.State == storage.KeyNext })
	store.setRows(rows)
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	var tooSoon *RotationTooSoonError
	if _, err := m.Rotate(ctx, ES256, false); !errors.As(err, &tooSoon) || tooSoon.NextKID != "" {
		t.Fatalf("Rotate without a next key: %v", err)
	}
	old := onlyKey(t, m.Keys(), ES256, storage.KeyCurrent)
	info, err := m.Rotate(ctx, ES256, true)
	if err != nil {
		t.Fatal(err)
	}
	if info.KID == old.KID || findInfo(m.Keys(), old.KID).State != storage.KeyRetired {
		t.Fatal("forced rotation without a next key did not replace the current key")
	}
	assertInvariant(t, m.Keys(), ES256)
}

func TestRetiredKeyLifetime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, store, clock, log := newEventManager(t, nil)
	tok, _, err := m.AccessTokenSigner().Generate(ctx, testClaims(), nil)
	if err != nil {
		t.Fatal(err)
	}
	old := onlyKey(t, m.Keys(), ES256, storage.KeyCurrent)
	if _, err := m.Rotate(ctx, ES256, true); err != nil {
		t.Fatal(err)
	}
	log.take()

	// Signed before rotation, still valid: the retired key is published.
	if _, _, err := m.Verify(tok); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}
	if _, err := m.AccessTokenSigner().Decode(ctx, tok); err != nil {
		t.Fatalf("fosite Decode of the retired key's token: %v", err)
	}

	clock.Advance(testRetired - time.Nanosecond)
	if err := m.tick(ctx); err != nil {
		t.Fatal(err)
	}
	if findInfo(m.Keys(), old.KID).State != storage.KeyRetired || !jwksHas(m, old.KID) {
		t.Fatal("retired key removed before RemoveAfter")
	}

	clock.Advance(time.Nanosecond)
	if err := m.tick(ctx); err != nil {
		t.Fatal(err)
	}
	if findInfo(m.Keys(), old.KID).KID != "" || jwksHas(m, old.KID) {
		t.Fatal("retired key still present at RemoveAfter")
	}
	if slices.ContainsFunc(store.snapshotRows(), func(r storage.SigningKey) bool { return r.KID == old.KID }) {
		t.Fatal("retired key still in storage")
	}
	if _, _, err := m.Verify(tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("token of a removed key: %v, want ErrUnknownKey", err)
	}
	if events := log.take(); !slices.Equal(events, []string{"removed:ES256:retired:" + old.KID}) {
		t.Fatalf("events %v", events)
	}
	assertInvariant(t, m.Keys(), ES256, EdDSA)
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, m *Manager) string // returns the kid to revoke
		check func(t *testing.T, before, after []KeyInfo, kid string)
	}{
		{"current key: next signs at once, new next made",
			func(t *testing.T, m *Manager) string { return onlyKey(t, m.Keys(), ES256, storage.KeyCurrent).KID },
			func(t *testing.T, before, after []KeyInfo, kid string) {
				oldNext := onlyKey(t, before, ES256, storage.KeyNext)
				if cur := onlyKey(t, after, ES256, storage.KeyCurrent); cur.KID != oldNext.KID {
					t.Fatalf("current %s, want the former next %s", cur.KID, oldNext.KID)
				}
				if onlyKey(t, after, ES256, storage.KeyNext).KID == oldNext.KID {
					t.Fatal("no new next key")
				}
			}},
		{"next key: replaced, current unchanged",
			func(t *testing.T, m *Manager) string { return onlyKey(t, m.Keys(), ES256, storage.KeyNext).KID },
			func(t *testing.T, before, after []KeyInfo, kid string) {
				if onlyKey(t, after, ES256, storage.KeyCurrent) != onlyKey(t, before, ES256, storage.KeyCurrent) {
					t.Fatal("current changed")
				}
				if onlyKey(t, after, ES256, storage.KeyNext).KID == kid {
					t.Fatal("revoked next key still next")
				}
			}},
		{"retired key: nothing else changes",
			func(t *testing.T, m *Manager) string {
				old := onlyKey(t, m.Keys(), ES256, storage.KeyCurrent).KID
				if _, err := m.Rotate(context.Background(), ES256, true); err != nil {
					t.Fatal(err)
				}
				return old
			},
			func(t *testing.T, before, after []KeyInfo, kid string) {
				if onlyKey(t, after, ES256, storage.KeyCurrent) != onlyKey(t, before, ES256, storage.KeyCurrent) ||
					onlyKey(t, after, ES256, storage.KeyNext) != onlyKey(t, before, ES256, storage.KeyNext) {
					t.Fatal("current or next changed")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m, store, clock := newTestManager(t)
			other, err := NewManager(testConfig(store, clock, m.cfg.Cipher))
			if err != nil {
				t.Fatal(err)
			}
			if err := other.Init(ctx); err != nil {
				t.Fatal(err)
			}
			kid := tt.setup(t, m)
			// A token made by the key (its private part is loaded for every
			// published key, whatever the state).
			tok, err := m.snap.Load().byKID[kid].signToken()
			if err != nil {
				t.Fatal(err)
			}
			// Verified on both instances before the revocation, so that
			// both have it in their cache of verified tokens.
			for _, mm := range []*Manager{m, other} {
				if _, _, err := mm.Verify(tok); err != nil {
					t.Fatal(err)
				}
			}
			before := m.Keys()
			clock.Advance(time.Second) // revocation ignores the publish delay
			now := clock.Now()

			info, err := m.Revoke(ctx, kid)
			if err != nil {
				t.Fatal(err)
			}
			if info.KID != kid || info.State != storage.KeyRevoked || !info.RevokedAt.Equal(now) {
				t.Fatalf("revoked info %+v", info)
			}
			if prev := findInfo(before, kid); !info.ActivatedAt.Equal(prev.ActivatedAt) || !info.CreatedAt.Equal(prev.CreatedAt) {
				t.Fatalf("revoked info lost its dates: %+v vs %+v", info, prev)
			}
			after := m.Keys()
			assertInvariant(t, after, ES256, EdDSA)
			tt.check(t, before, after, kid)

			// Gone from this instance at once...
			if jwksHas(m, kid) {
				t.Fatal("revoked key still in the JWKS")
			}
			if _, _, err := m.Verify(tok); !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("Verify after revoke: %v", err)
			}
			if _, err := m.IDTokenSigner().Decode(ctx, tok); err == nil {
				t.Fatal("fosite Decode accepts a revoked key's token")
			}
			// ...and from the other instance at its next reload.
			if err := other.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			if jwksHas(other, kid) {
				t.Fatal("other instance still publishes the revoked key")
			}
			if _, _, err := other.Verify(tok); err == nil {
				t.Fatal("other instance accepts a revoked key's token")
			}
			b1, e1 := m.JWKS()
			b2, e2 := other.JWKS()
			if string(b1) != string(b2) || e1 != e2 {
				t.Fatal("instances disagree after revoke")
			}

			// Revoking again is a no-op returning the same info.
			updates := store.updateCount()
			again, err := m.Revoke(ctx, kid)
			if err != nil || again != info || store.updateCount() != updates {
				t.Fatalf("second Revoke: %+v, %v", again, err)
			}
		})
	}
}

// signToken is a test helper: a JWT signed by this key, whatever its state.
func (k *loadedKey) signToken() (string, error) {
	s := &snapshot{current: map[string]*loadedKey{string(k.alg): k}}
	return s.sign(string(k.alg), "JWT", nil, []byte(`{"sub":"acct-1"}`))
}

func TestRevokeUnknownKey(t *testing.T) {
	t.Parallel()
	m, store, _ := newTestManager(t)
	updates := store.updateCount()
	if _, err := m.Revoke(context.Background(), "no-such-kid"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Revoke unknown: %v", err)
	}
	if store.updateCount() != updates {
		t.Fatal("store changed")
	}
}

func TestRevokedRowsCleanedUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _, clock := newTestManager(t)
	kid := onlyKey(t, m.Keys(), EdDSA, storage.KeyNext).KID
	if _, err := m.Revoke(ctx, kid); err != nil {
		t.Fatal(err)
	}
	clock.Advance(testLifetime + testSkew - time.Nanosecond)
	if err := m.tick(ctx); err != nil {
		t.Fatal(err)
	}
	if findInfo(m.Keys(), kid).State != storage.KeyRevoked {
		t.Fatal("revoked row deleted too early")
	}
	if jwksHas(m, kid) {
		t.Fatal("revoked key published")
	}
	clock.Advance(time.Nanosecond)
	if err := m.tick(ctx); err != nil {
		t.Fatal(err)
	}
	if findInfo(m.Keys(), kid).KID != "" {
		t.Fatal("revoked row kept past MaxTokenLifetime+ClockSkew")
	}
}

func TestConcurrentRotationTwoManagers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, store, clock := newTestManager(t)
	b, err := NewManager(testConfig(store, clock, a.cfg.Cipher))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Init(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(testSafe)

	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		infos [2]KeyInfo
		errs  [2]error
	)
	for i, m := range []*Manager{a, b} {
		wg.Go(func() {
			<-start
			infos[i], errs[i] = m.Rotate(ctx, ES256, false)
		})
	}
	close(start)
	wg.Wait()

	won := 0
	for i := range errs {
		switch {
		case errs[i] == nil:
			won++
		case !errors.Is(errs[i], ErrAlreadyRotated):
			t.Fatalf("rotation %d: %v", i, errs[i])
		}
	}
	if won != 1 {
		t.Fatalf("%d rotations succeeded, want exactly 1 (errors %v)", won, errs)
	}
	// The loser reports the winner's new current key.
	if infos[0].KID != infos[1].KID {
		t.Fatalf("winner and loser disagree on the current key: %+v / %+v", infos[0], infos[1])
	}

	keys, _ := List(ctx, store)
	assertInvariant(t, keys, ES256, EdDSA)
	if n := len(keyByState(t, keys, ES256, storage.KeyRetired)); n != 1 {
		t.Fatalf("%d retired ES256 keys, want 1", n)
	}
	for _, m := range []*Manager{a, b} {
		if err := m.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ba, ea := a.JWKS()
	bb, eb := b.JWKS()
	if string(ba) != string(bb) || ea != eb {
		t.Fatal("managers disagree after reload")
	}
	if a.snap.Load().current[ES256].info.KID != b.snap.Load().current[ES256].info.KID {
		t.Fatal("managers sign with different keys")
	}
}

func TestConcurrentAutomaticRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, clock, cipher := &memStore{}, testharness.NewClock(testStart), testCipher(t)
	var managers []*Manager
	for range 3 {
		cfg := testConfig(store, clock, cipher)
		cfg.RotationPeriod = 2 * time.Hour
		m, err := NewManager(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Init(ctx); err != nil {
			t.Fatal(err)
		}
		managers = append(managers, m)
	}
	clock.Advance(2 * time.Hour)
	var wg sync.WaitGroup
	for _, m := range managers {
		wg.Go(func() {
			if err := m.tick(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	keys, _ := List(ctx, store)
	assertInvariant(t, keys, ES256, EdDSA)
	for _, alg := range []string{ES256, EdDSA} {
		if n := len(keyByState(t, keys, alg, storage.KeyRetired)); n != 1 {
			t.Fatalf("%d retired %s keys after concurrent ticks, want 1", n, alg)
		}
	}
	for _, m := range managers[1:] {
		if err := m.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		b0, e0 := managers[0].JWKS()
		if b, e := m.JWKS(); string(b) != string(b0) || e != e0 {
			t.Fatal("managers disagree")
		}
	}
}

func TestAutomaticRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, store, clock, log := newEventManager(t, func(c *Config) { c.RotationPeriod = 2 * time.Hour })
	log.take()

	clock.Advance(time.Hour)
	updates := store.updateCount()
	if err := m.tick(ctx); err != nil {
		t.Fatal(err)
	}
	if store.updateCount() != updates || len(log.take()) != 0 {
		t.Fatal("tick changed a set that needed nothing")
	}

	clock.Advance(time.Hour) // current keys are now 2h old
	before := m.Keys()
	if err := m.tick(ctx); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{ES256, EdDSA} {
		if onlyKey(t, m.Keys(), alg, storage.KeyCurrent).KID != onlyKey(t, before, alg, storage.KeyNext).KID {
			t.Fatalf("%s not rotated at RotationPeriod", alg)
		}
	}

	// Two hours later the current keys are due again, but ES256's next key
	// was replaced 30s ago (revoked), so ES256 waits until it is publish-safe.
	clock.Advance(2*time.Hour - 30*time.Second)
	if _, err := m.Revoke(ctx, onlyKey(t, m.Keys(), ES256, storage.KeyNext).KID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	before = m.Keys()
	if err := m.tick(ctx); err != nil {
		t.Fatal(err)
	}
	if onlyKey(t, m.Keys(), ES256, storage.KeyCurrent) != onlyKey(t, before, ES256, storage.KeyCurrent) {
		t.Fatal("ES256 rotated onto a next key published 30s ago")
	}
	if onlyKey(t, m.Keys(), EdDSA, storage.KeyCurrent).KID != onlyKey(t, before, EdDSA, storage.KeyNext).KID {
		t.Fatal("EdDSA not rotated")
	}
	clock.Advance(testSafe - 30*time.Second)
	if err := m.tick(ctx); err != nil {
		t.Fatal(err)
	}
	if onlyKey(t, m.Keys(), ES256, storage.KeyCurrent).KID != onlyKey(t, before, ES256, storage.KeyNext).KID {
		t.Fatal("ES256 not rotated once its next key became publish-safe")
	}
	assertInvariant(t, m.Keys(), ES256, EdDSA)
}

func TestMaintenanceRepairsInvariant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, store, clock := newTestManager(t, ES256)
	cipher := m.cfg.Cipher
	now := clock.Now()
	extra := func(state storage.KeyState, created, activated time.Time) storage.SigningKey {
		r, err := newSealedKey(cipher, ES256, 0)
		if err != nil {
			t.Fatal(err)
		}
		r.State, r.CreatedAt, r.ActivatedAt = state, created, activated
		return r
	}
	rows := store.snapshotRows()
	newerCurrent := extra(storage.KeyCurrent, now.Add(time.Second), now.Add(time.Second))
	newerNext := extra(storage.KeyNext, now.Add(time.Second), time.Time{})
	undated := extra(storage.KeyRetired, now.Add(-time.Hour), now.Add(-time.Hour))
	undated.RetiredAt = now.Add(-time.Minute)
	rows = append(rows, newerCurrent, newerNext, undated)
	store.setRows(rows)
	oldCurrent := onlyKey(t, m.Keys(), ES256, storage.KeyCurrent).KID
	oldNext := onlyKey(t, m.Keys(), ES256, storage.KeyNext).KID

	if err := m.Reload(ctx); err == nil || !strings.Contains(err.Error(), "several current") {
		t.Fatalf("Reload with two current keys: %v", err)
	}
	if got := m.snap.Load().current[ES256].info.KID; got != newerCurrent.KID {
		t.Fatalf("signing with %s, want the most recently activated %s", got, newerCurrent.KID)
	}
	clock.Advance(time.Minute)
	if err := m.tick(ctx); err != nil {
		t.Fatal(err)
	}
	keys := m.Keys()
	assertInvariant(t, keys, ES256)
	if onlyKey(t, keys, ES256, storage.KeyCurrent).KID != newerCurrent.KID {
		t.Fatal("kept the wrong current key")
	}
	if findInfo(keys, oldCurrent).State != storage.KeyRetired {
		t.Fatal("extra current key not retired")
	}
	if onlyKey(t, keys, ES256, storage.KeyNext).KID != oldNext {
		t.Fatal("kept the wrong next key (want the longest published)")
	}
	if findInfo(keys, newerNext.KID).KID != "" {
		t.Fatal("extra next key not deleted")
	}
	u := findInfo(keys, undated.KID)
	if u.State != storage.KeyRetired || !u.RemoveAfter.Equal(undated.RetiredAt.Add(testRetired)) {
		t.Fatalf("undated retired key %+v: want kept with RemoveAfter = RetiredAt + %s", u, testRetired)
	}
}

func TestPackageLevelCLIFunctions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, store, clock := newTestManager(t)
	cfg := testConfig(store, clock, m.cfg.Cipher)

	listed, err := List(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(listed, m.Keys()) {
		t.Fatal("List and Manager.Keys differ")
	}

	if _, err := Rotate(ctx, cfg, ES256, false); !errors.Is(err, ErrRotationTooSoon) {
		t.Fatalf("CLI rotate too soon: %v", err)
	}
	clock.Advance(testSafe)
	info, err := Rotate(ctx, cfg, ES256, false)
	if err != nil {
		t.Fatal(err)
	}
	// The server still signs with its snapshot until it reloads.
	if m.snap.Load().current[ES256].info.KID == info.KID {
		t.Fatal("snapshot changed without a reload")
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if m.snap.Load().current[ES256].info.KID != info.KID {
		t.Fatal("server did not pick up the CLI rotation")
	}

	revoked, err := Revoke(ctx, cfg, info.KID)
	if err != nil || revoked.State != storage.KeyRevoked {
		t.Fatalf("CLI revoke: %+v %v", revoked, err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if jwksHas(m, info.KID) {
		t.Fatal("server publishes a key revoked by the CLI")
	}
	assertInvariant(t, m.Keys(), ES256, EdDSA)

	bad := cfg
	bad.Cipher = nil
	if _, err := Rotate(ctx, bad, ES256, true); err == nil {
		t.Fatal("Rotate with an invalid config succeeded")
	}
	if _, err := Revoke(ctx, bad, info.KID); err == nil {
		t.Fatal("Revoke with an invalid config succeeded")
	}
	if _, err := List(ctx, nil); err == nil {
		t.Fatal("List(nil) succeeded")
	}
}

func TestRunReloadsAndStops(t *testing.T) {
	t.Parallel()
	store := &memStore{listed: make(chan struct{}, 1)}
	clock := testharness.NewClock(testStart)
	cfg := testConfig(store, clock, testCipher(t))
	cfg.ReloadInterval = 5 * time.Millisecond
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()

	// Another process revokes the current key; Run picks it up.
	kid := onlyKey(t, m.Keys(), ES256, storage.KeyCurrent).KID
	if _, err := Revoke(ctx, cfg, kid); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for jwksHas(m, kid) {
		select {
		case <-store.listed:
		case <-timeout:
			t.Fatal("Run did not reload the revoked key within 10s")
		}
	}
	cancel()
	select {
	case <-done:
	case <-timeout:
		t.Fatal("Run did not return after cancel")
	}
}
