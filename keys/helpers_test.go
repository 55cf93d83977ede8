package keys

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/storage"
)

// memStore is an in-memory storage.KeyStore with the documented semantics:
// List ordered by CreatedAt then KID; Update runs fn on the whole set under
// one lock (the serialized transaction) and replaces the set with its result.
type memStore struct {
	mu   sync.Mutex
	rows []storage.SigningKey

	// listed, if set, receives (without blocking) after every List.
	listed chan struct{}
	// updates counts committed updates.
	updates int
}

var _ storage.KeyStore = (*memStore)(nil)

func copyRows(in []storage.SigningKey) []storage.SigningKey {
	out := make([]storage.SigningKey, len(in))
	for i, r := range in {
		r.PrivateKeyEncrypted = append([]byte(nil), r.PrivateKeyEncrypted...)
		r.PublicJWK = append([]byte(nil), r.PublicJWK...)
		out[i] = r
	}
	slices.SortFunc(out, func(a, b storage.SigningKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.KID, b.KID)
	})
	return out
}

func (s *memStore) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	out := copyRows(s.rows)
	s.mu.Unlock()
	if s.listed != nil {
		select {
		case s.listed <- struct{}{}:
		default:
		}
	}
	return out, nil
}

func (s *memStore) UpdateSigningKeys(ctx context.Context, fn func([]storage.SigningKey) ([]storage.SigningKey, error)) ([]storage.SigningKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := fn(copyRows(s.rows))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range out {
		if seen[r.KID] {
			return nil, errors.New("memStore: duplicate kid")
		}
		seen[r.KID] = true
	}
	s.rows = copyRows(out)
	s.updates++
	return copyRows(s.rows), nil
}

func (s *memStore) snapshotRows() []storage.SigningKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyRows(s.rows)
}

func (s *memStore) setRows(rows []storage.SigningKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = copyRows(rows)
}

func (s *memStore) updateCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updates
}

// testStart is where every test's clock starts.
var testStart = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Test timings: SafePublishDelay = 30s + 30s = 1m; retired keys live
// 30s + 1h + 1m after retirement; revoked rows 1h + 1m.
const (
	testReload   = 30 * time.Second
	testLifetime = time.Hour
	testSkew     = time.Minute
	testSafe     = 2 * testReload
	testRetired  = testReload + testLifetime + testSkew
)

type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(event string, k KeyInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, event+":"+k.Algorithm+":"+string(k.State)+":"+k.KID)
}

func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

func testConfig(store storage.KeyStore, clock *testharness.Clock, cipher *Cipher, algs ...string) Config {
	if len(algs) == 0 {
		algs = []string{ES256, EdDSA}
	}
	return Config{
		Store:                store,
		Cipher:               cipher,
		Algorithms:           algs,
		DefaultAlgorithm:     algs[0],
		AccessTokenAlgorithm: algs[0],
		ReloadInterval:       testReload,
		MaxTokenLifetime:     testLifetime,
		ClockSkew:            testSkew,
		Now:                  clock.Now,
		Logger:               slog.New(slog.DiscardHandler),
	}
}

func testCipher(t testing.TB) *Cipher {
	t.Helper()
	c, err := NewCipher(GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newTestManager returns an initialised Manager on a fresh store.
func newTestManager(t testing.TB, algs ...string) (*Manager, *memStore, *testharness.Clock) {
	t.Helper()
	store := &memStore{}
	clock := testharness.NewClock(testStart)
	m, err := NewManager(testConfig(store, clock, testCipher(t), algs...))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, store, clock
}

func keyByState(t testing.TB, keys []KeyInfo, alg string, state storage.KeyState) []KeyInfo {
	t.Helper()
	var out []KeyInfo
	for _, k := range keys {
		if k.Algorithm == alg && k.State == state {
			out = append(out, k)
		}
	}
	return out
}

func onlyKey(t testing.TB, keys []KeyInfo, alg string, state storage.KeyState) KeyInfo {
	t.Helper()
	ks := keyByState(t, keys, alg, state)
	if len(ks) != 1 {
		t.Fatalf("want exactly one %s %s key, got %d: %+v", state, alg, len(ks), keys)
	}
	return ks[0]
}
