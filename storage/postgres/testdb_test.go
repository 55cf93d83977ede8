package postgres

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage/postgres/pgtest"
)

// newTestDatabase is a fresh database on the test server (see pgtest).
func newTestDatabase(tb testing.TB) string {
	tb.Helper()
	return pgtest.NewDatabase(tb)
}

// testClock is the fixed clock tests give Options.Now.
var testClock = func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }

// openTestStorage opens dsn with opts (the test clock unless opts.Now is
// set) and closes it at cleanup.
func openTestStorage(tb testing.TB, dsn string, opts Options) *Storage {
	tb.Helper()
	if opts.Now == nil {
		opts.Now = testClock
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// newTestStorage is a migrated storage on its own fresh database.
func newTestStorage(tb testing.TB) *Storage {
	tb.Helper()
	return openTestStorage(tb, newTestDatabase(tb), Options{Migrate: true})
}

// withParam returns dsn with one query parameter set.
func withParam(tb testing.TB, dsn, key, value string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("parse DSN: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
