// Package pgtest gives tests a fresh PostgreSQL database each: the storage
// backend's own tests and the multi-instance end-to-end tests use it.
//
// The server is WXOIDC_TEST_POSTGRES_DSN, by default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable (a role that
// may create databases). When it cannot be reached the test is skipped,
// unless the CI environment variable is set: there a missing database must
// fail loudly rather than pass silently.
package pgtest

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

// DefaultDSN is used when WXOIDC_TEST_POSTGRES_DSN is unset.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminDSN is the DSN of the server tests create their databases on.
func AdminDSN() string {
	if dsn := os.Getenv("WXOIDC_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// Redacted is dsn with any password masked, for test messages.
func Redacted(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

// NewDatabase creates a database with a random name on the test server and
// returns its DSN; the database is dropped (connections included) when the
// test ends.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	admin := AdminDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		msg := "PostgreSQL unreachable at " + Redacted(admin) +
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
