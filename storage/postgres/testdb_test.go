package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// defaultTestDSN is used when WXOIDC_TEST_POSTGRES_DSN is unset.
const defaultTestDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func adminDSN() string {
	if dsn := os.Getenv("WXOIDC_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return defaultTestDSN
}

// redactedDSN is the DSN with any password masked, for test messages.
func redactedDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

// newTestDatabase creates a database with a random name on the test server
// and returns its DSN; the database is dropped when the test ends. When the
// server cannot be reached the test is skipped, unless CI is set: there a
// missing database must fail loudly rather than pass silently.
func newTestDatabase(tb testing.TB) string {
	tb.Helper()
	admin := adminDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		msg := "PostgreSQL unreachable at " + redactedDSN(admin) +
			" (set WXOIDC_TEST_POSTGRES_DSN to a server where the user may create databases): " + err.Error()
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	defer conn.Close(context.Background())

	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "wxoidc_test_" + hex.EncodeToString(b[:])
	// name is [a-z0-9_] only, so it needs no quoting.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})

	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("parse WXOIDC_TEST_POSTGRES_DSN: %v", err)
	}
	u.Path = "/" + name
	return u.String()
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
