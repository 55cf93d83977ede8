package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/postgres/pgtest"
)

// TestMapErrUnavailable: which driver errors mean "the database is briefly
// unreachable" (a restart, a failover, a cut connection) and so map to
// storage.ErrUnavailable.
func TestMapErrUnavailable(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Code: code, Message: "boom"} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"57P01 admin_shutdown", pg("57P01"), true},
		{"57P02 crash_shutdown", pg("57P02"), true},
		{"57P03 cannot_connect_now", pg("57P03"), true},
		{"08006 connection_failure", pg("08006"), true},
		{"08001 unable to connect", pg("08001"), true},
		{"53300 too_many_connections", pg("53300"), true},
		{"25006 read-only (standby before promotion)", pg("25006"), true},
		{"40001 serialization_failure", pg("40001"), false},
		{"23505 unique_violation", pg("23505"), false},
		{"28P01 bad password", pg("28P01"), false},
		{"3D000 no such database", pg("3D000"), false},
		{"42P01 undefined table", pg("42P01"), false},
		{"57014 query_canceled", pg("57014"), false},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), true},
		{"EOF mid-statement", fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), true},
		{"EOF", fmt.Errorf("receive message: %w", io.EOF), true},
		{"caller cancelled", fmt.Errorf("query: %w", context.Canceled), false},
		{"statement deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{"plain error", errors.New("plain"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := wrapErr("op", fmt.Errorf("inner: %w", tc.err))
			if got := errors.Is(err, storage.ErrUnavailable); got != tc.want {
				t.Errorf("Is(ErrUnavailable) = %v, want %v (err %v)", got, tc.want, err)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("driver error not reachable: %v", err)
			}
			if tc.want && (errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrAlreadyExists)) {
				t.Errorf("unavailable error also matches another sentinel: %v", err)
			}
		})
	}
}

// TestUnavailableOverTheWire checks the classification on the errors pgx
// really returns, through a proxy that is cut and restored: a read is
// retried once on another connection after the pooled one broke, a write
// that may have reached the server is not, a BEGIN is, and a database that
// stays unreachable is storage.ErrUnavailable.
func TestUnavailableOverTheWire(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t, newTestDatabase(t))
	// One connection, so the one broken by the cut is the one handed out.
	s := openTestStorage(t, dsn, Options{Migrate: true, MaxConns: 1})
	ctx := t.Context()
	if err := s.CreateClient(ctx, storage.Client{ID: "c", GrantTypes: []string{"client_credentials"}}); err != nil {
		t.Fatal(err)
	}
	breakPool := func() {
		t.Helper()
		if _, err := s.GetClient(ctx, "c"); err != nil { // the connection is idle in the pool
			t.Fatal(err)
		}
		proxy.Cut()
		proxy.Restore()
	}

	breakPool()
	if _, err := s.GetClient(ctx, "c"); err != nil {
		t.Errorf("read after a restart: %v, want success on a fresh connection", err)
	}

	breakPool()
	err := s.DeleteTokenSession(ctx, storage.KindAccessToken, "no-such-signature")
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("write on a broken connection: %v, want ErrUnavailable (not retried: it may have committed)", err)
	}

	breakPool()
	txCtx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatalf("BeginTx after a restart: %v, want success on a fresh connection", err)
	}
	if err := s.Rollback(txCtx); err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
	defer proxy.Restore()
	if _, err := s.GetClient(ctx, "c"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("read while the database is down: %v, want ErrUnavailable", err)
	}
	if _, err := s.BeginTx(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("BeginTx while the database is down: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping while the database is down: %v, want ErrUnavailable", err)
	}
	if proxy.CutConnections() == 0 {
		t.Fatal("the cuts closed no connection")
	}
}
