package provider

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/sqlite"
)

// countingStore counts client loads; it keeps sqlite's ClientsVersion.
type countingStore struct {
	*sqlite.Storage
	loads atomic.Int32
}

func (c *countingStore) GetClient(ctx context.Context, id string) (storage.Client, error) {
	c.loads.Add(1)
	return c.Storage.GetClient(ctx, id)
}

// unversioned hides ClientsVersion, as a store that does not count changes.
type unversioned struct{ Store }

func newCacheTestStore(t *testing.T) *countingStore {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "c.db"), sqlite.Options{Synchronous: "NORMAL", Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateClient(t.Context(), storage.Client{ID: "a", Name: "one"}); err != nil {
		t.Fatal(err)
	}
	return &countingStore{Storage: s}
}

func clientName(t *testing.T, fs *fositeStore, id string) string {
	t.Helper()
	c, err := fs.GetClient(t.Context(), id)
	if err != nil {
		t.Fatalf("GetClient(%s): %v", id, err)
	}
	return c.(*fositeClient).Name
}

func TestClientCache(t *testing.T) {
	ctx := t.Context()
	db := newCacheTestStore(t)
	fs := &fositeStore{db: db}
	rename := func(name string, disabled bool) {
		t.Helper()
		if _, err := db.UpdateClient(ctx, "a", func(c storage.Client) (storage.Client, error) {
			c.Name, c.Disabled = name, disabled
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	for range 3 {
		if got := clientName(t, fs, "a"); got != "one" {
			t.Fatalf("name %q", got)
		}
	}
	if n := db.loads.Load(); n != 1 {
		t.Fatalf("%d loads for three look-ups, want 1", n)
	}

	// A change through the store is seen at once.
	rename("two", false)
	if got := clientName(t, fs, "a"); got != "two" || db.loads.Load() != 2 {
		t.Fatalf("after an update: name %q, %d loads", got, db.loads.Load())
	}

	// Disabled clients do not exist for fosite, and that is cached too.
	rename("two", true)
	for range 2 {
		if _, err := fs.GetClient(ctx, "a"); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("disabled client: %v, want fosite.ErrNotFound", err)
		}
	}
	if n := db.loads.Load(); n != 3 {
		t.Fatalf("%d loads, want 3", n)
	}

	// Unknown clients are not cached: one created later works at once.
	for range 2 {
		if _, err := fs.GetClient(ctx, "b"); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("unknown client: %v", err)
		}
	}
	if err := db.CreateClient(ctx, storage.Client{ID: "b", Name: "new"}); err != nil {
		t.Fatal(err)
	}
	if got := clientName(t, fs, "b"); got != "new" {
		t.Fatalf("created client: %q", got)
	}
}

// TestClientCacheInvalidate covers stores that do not count their changes
// (a change made elsewhere): the entry stays until its TTL or
// Provider.InvalidateClient.
func TestClientCacheInvalidate(t *testing.T) {
	db := newCacheTestStore(t)
	fs := &fositeStore{db: unversioned{db}}
	p := &Provider{store: fs}
	if got := clientName(t, fs, "a"); got != "one" {
		t.Fatal(got)
	}
	if _, err := db.UpdateClient(t.Context(), "a", func(c storage.Client) (storage.Client, error) { c.Name = "two"; return c, nil }); err != nil {
		t.Fatal(err)
	}
	if got := clientName(t, fs, "a"); got != "one" {
		t.Fatalf("without a change count the cached entry stays (until its TTL): got %q", got)
	}
	p.InvalidateClient("a")
	if got := clientName(t, fs, "a"); got != "two" {
		t.Fatalf("after InvalidateClient: %q", got)
	}
	if _, err := db.UpdateClient(t.Context(), "a", func(c storage.Client) (storage.Client, error) { c.Name = "three"; return c, nil }); err != nil {
		t.Fatal(err)
	}
	p.InvalidateClient("")
	if got := clientName(t, fs, "a"); got != "three" {
		t.Fatalf("after InvalidateClient(\"\"): %q", got)
	}
}
