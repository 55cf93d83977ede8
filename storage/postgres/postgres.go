// Package postgres is the PostgreSQL backend of the storage contract
// (storage.Storage), for running several wxoidc instances against one
// database.
//
// Concurrency model: every transaction runs at READ COMMITTED. Operations
// that must serialize do so explicitly: conditional single-statement updates
// (refresh-token rotation, assertion IDs), row locks (client and account
// read-modify-write) and transaction-scoped advisory locks (signing-key set,
// WeChat identity find-or-create, migrations). Serialization failures,
// deadlocks and lock timeouts surface as storage.ErrConflict; operations that
// run outside a caller's transaction are retried a few times first.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wxoidc/wxoidc/storage"
)

// Options configure Open.
type Options struct {
	// MaxConns caps the connection pool (0: pgxpool's default, or the DSN's
	// pool_max_conns). Keep MaxConns × instances below the server's
	// max_connections minus headroom (docs/deployment.md).
	MaxConns int32
	// Migrate applies pending migrations at Open, under the migration lock.
	Migrate bool
	// Now is the clock for timestamps the store fills in (default time.Now).
	Now func() time.Time
	// Logger receives migration and retry messages (default: discard).
	Logger *slog.Logger
}

// Storage implements storage.Storage on a pgx connection pool. It is safe for
// concurrent use; a transaction carried in a context is not (one goroutine
// per transaction, as with any database transaction).
type Storage struct {
	pool       *pgxpool.Pool
	now        func() time.Time
	logger     *slog.Logger
	statements *statementCounter
}

var _ storage.Storage = (*Storage)(nil)

// maxAttempts bounds internal retries of operations that run outside a
// caller's transaction.
const maxAttempts = 4

// Open connects to the database named by dsn (postgres:// or postgresql://),
// checks that it answers and, with opts.Migrate, brings the schema up to date.
func Open(ctx context.Context, dsn string, opts Options) (*Storage, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		// The DSN is not echoed: it may hold a password.
		return nil, errors.New("storage/postgres: DSN must start with postgres:// or postgresql://")
	}
	if opts.MaxConns < 0 {
		return nil, fmt.Errorf("storage/postgres: MaxConns must not be negative (got %d)", opts.MaxConns)
	}
	// pgx masks the password of a postgres:// URL in its parse errors.
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("storage/postgres: parse DSN: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	s := &Storage{now: opts.Now, logger: opts.Logger, statements: new(statementCounter)}
	// A DSN cannot configure a tracer, so there is none to chain with.
	cfg.ConnConfig.Tracer = s.statements
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage/postgres: create pool: %w", err)
	}
	s.pool = pool
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if opts.Migrate {
		if err := s.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	} else if pending, err := s.PendingMigrations(ctx); err != nil {
		pool.Close()
		return nil, err
	} else if len(pending) > 0 {
		// Not fatal: another instance may be migrating right now.
		s.logger.WarnContext(ctx, "postgres schema has pending migrations; run migrations before serving",
			"pending", pending)
	}
	return s, nil
}

// Ping reports whether the database answers.
func (s *Storage) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("storage/postgres: ping: %w", mapErr(err))
	}
	return nil
}

// Close closes every connection of the pool. Transactions still open are
// rolled back by the server.
func (s *Storage) Close() error {
	s.pool.Close()
	return nil
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// txKey identifies this Storage's transaction in a context, so that two
// Storage values never pick up each other's transactions.
type txKey struct{ s *Storage }

// txHandle is what BeginTx puts in the context.
type txHandle struct {
	tx     pgx.Tx
	nested bool // BeginTx found a transaction already: Commit/Rollback are no-ops
}

func (s *Storage) txFrom(ctx context.Context) *txHandle {
	h, _ := ctx.Value(txKey{s}).(*txHandle)
	return h
}

// BeginTx starts a transaction and returns a context carrying it. On a
// context that already carries one it returns a context whose Commit and
// Rollback do nothing, so that the outer owner decides.
func (s *Storage) BeginTx(ctx context.Context) (context.Context, error) {
	if h := s.txFrom(ctx); h != nil {
		if h.nested {
			return ctx, nil
		}
		return context.WithValue(ctx, txKey{s}, &txHandle{tx: h.tx, nested: true}), nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil && errors.Is(mapErr(err), storage.ErrUnavailable) {
		// A pooled connection broken by a database restart fails at BEGIN;
		// nothing has been done yet, so another connection may take over.
		s.logger.DebugContext(ctx, "postgres: retrying BEGIN on another connection", "err", err)
		tx, err = s.pool.Begin(ctx)
	}
	if err != nil {
		return ctx, fmt.Errorf("storage/postgres: begin transaction: %w", mapErr(err))
	}
	return context.WithValue(ctx, txKey{s}, &txHandle{tx: tx}), nil
}

// Commit commits the transaction that BeginTx put in ctx.
func (s *Storage) Commit(ctx context.Context) error {
	tx, err := s.ownTx(ctx, "commit")
	if tx == nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("storage/postgres: commit: %w", mapErr(err))
	}
	return nil
}

// Rollback aborts the transaction that BeginTx put in ctx. Rolling back a
// transaction that is already finished is not an error, so Rollback can be
// deferred after a Commit.
func (s *Storage) Rollback(ctx context.Context) error {
	tx, err := s.ownTx(ctx, "rollback")
	if tx == nil {
		return err
	}
	// The rollback must reach the server even when ctx is already cancelled
	// (the usual reason to roll back); pgx closes the connection otherwise.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := tx.Rollback(rctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("storage/postgres: rollback: %w", mapErr(err))
	}
	return nil
}

// ownTx returns the transaction that Commit and Rollback (op) end: the one
// ctx began, or nil when ctx carries a nested one (they do nothing) and,
// with an error, when it carries none.
func (s *Storage) ownTx(ctx context.Context, op string) (pgx.Tx, error) {
	h := s.txFrom(ctx)
	switch {
	case h == nil:
		return nil, fmt.Errorf("storage/postgres: %s: no transaction in context", op)
	case h.nested:
		return nil, nil
	}
	return h.tx, nil
}

// run executes fn, which must issue a single statement (atomic on its own),
// on the caller's transaction if ctx carries one, else on the pool with
// retries on conflicts.
func (s *Storage) run(ctx context.Context, op string, fn func(q querier) error) error {
	if h := s.txFrom(ctx); h != nil {
		return wrapErr(op, fn(h.tx))
	}
	return s.retry(ctx, op, false, func() error { return fn(s.pool) })
}

// read is run for fn that only reads: outside a transaction it is also
// retried once when the database was unavailable, since a read is safe to
// repeat (the pool hands out connections that a restart has broken; the
// retry gets another one, or dials anew).
func (s *Storage) read(ctx context.Context, op string, fn func(q querier) error) error {
	if h := s.txFrom(ctx); h != nil {
		return wrapErr(op, fn(h.tx))
	}
	return s.retry(ctx, op, true, func() error { return fn(s.pool) })
}

// inTx executes fn inside the caller's transaction if ctx carries one (no
// retry: the caller owns it), else inside a new transaction that is retried
// from the start on conflicts. fn may therefore run more than once.
func (s *Storage) inTx(ctx context.Context, op string, fn func(q querier) error) error {
	if h := s.txFrom(ctx); h != nil {
		return wrapErr(op, fn(h.tx))
	}
	return s.retry(ctx, op, false, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(tx) })
	})
}

// retry runs attempt until it succeeds, fails with a non-conflict error,
// maxAttempts is reached or ctx ends, backing off with jitter in between.
// An unavailable database gets one immediate retry, on another connection,
// when attempt is idempotent or failed before sending anything; a write
// that may have reached the server is not repeated blindly.
func (s *Storage) retry(ctx context.Context, op string, idempotent bool, attempt func() error) error {
	backoff := 2 * time.Millisecond
	reconnected := false
	for i := 1; ; i++ {
		err := mapErr(attempt())
		if errors.Is(err, storage.ErrUnavailable) && !reconnected && (idempotent || pgconn.SafeToRetry(err)) {
			reconnected = true
			s.logger.DebugContext(ctx, "postgres: retrying on another connection", "op", op, "err", err)
			i--
			continue
		}
		if err == nil || !errors.Is(err, storage.ErrConflict) || i == maxAttempts {
			return wrapErr(op, err)
		}
		s.logger.DebugContext(ctx, "postgres: retrying after conflict", "op", op, "attempt", i, "err", err)
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return wrapErr(op, errors.Join(err, ctx.Err()))
		case <-t.C:
		}
		backoff *= 4
	}
}

// SQLSTATE codes mapped to storage errors.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeLockNotAvailable     = "55P03"
)

// SQLSTATEs that mean the server is going away, starting or refusing work
// for now, rather than rejecting the statement (see unavailable).
const (
	classConnectionException = "08"
	codeAdminShutdown        = "57P01"
	codeCrashShutdown        = "57P02"
	codeCannotConnectNow     = "57P03"
	codeTooManyConnections   = "53300"
	codeReadOnlyTransaction  = "25006" // a standby, until failover promotes it
)

// conflictError is a database error that means "a concurrent writer won".
// It matches storage.ErrConflict and unwraps to the driver error.
type conflictError struct{ err error }

func (e *conflictError) Error() string   { return storage.ErrConflict.Error() + ": " + e.err.Error() }
func (e *conflictError) Unwrap() []error { return []error{storage.ErrConflict, e.err} }

// existsError is a unique violation; it matches storage.ErrAlreadyExists.
type existsError struct{ err error }

func (e *existsError) Error() string   { return storage.ErrAlreadyExists.Error() + ": " + e.err.Error() }
func (e *existsError) Unwrap() []error { return []error{storage.ErrAlreadyExists, e.err} }

// unavailableError is a database that cannot be reached for now; it matches
// storage.ErrUnavailable.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string {
	return storage.ErrUnavailable.Error() + ": " + e.err.Error()
}
func (e *unavailableError) Unwrap() []error { return []error{storage.ErrUnavailable, e.err} }

// mapErr translates driver errors into the storage sentinels (keeping the
// driver error reachable through errors.As). Other errors pass unchanged.
func mapErr(err error) error {
	if err == nil || errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrAlreadyExists) ||
		errors.Is(err, storage.ErrUnavailable) {
		return err // nothing to map, or already mapped
	}
	if unavailable(err) {
		return &unavailableError{err: err}
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case codeSerializationFailure, codeDeadlockDetected, codeLockNotAvailable:
		return &conflictError{err: err}
	case codeUniqueViolation:
		return &existsError{err: err}
	}
	return err
}

// unavailable reports whether err means that the database cannot be reached
// or refuses work for now (a restart, a failover, a cut connection), as
// opposed to rejecting the statement or the caller giving up.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the caller went away; the database may be fine
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Also when it ends a connection attempt: a bad password (class 28)
		// or a missing database (3D000) is configuration, not an outage.
		switch pgErr.Code {
		case codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow, codeTooManyConnections, codeReadOnlyTransaction:
			return true
		}
		return strings.HasPrefix(pgErr.Code, classConnectionException)
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true // refused, reset, or the connect deadline passed
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false // a statement that ran out of time: slow, not gone
	}
	// A connection that broke under a statement: pgconn reports the socket
	// error (reset, EOF), or "conn closed" for one it already knew dead,
	// which it marks safe to retry.
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		pgconn.SafeToRetry(err)
}

// wrapErr maps err and prefixes it with the operation.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("storage/postgres: %s: %w", op, mapErr(err))
}
