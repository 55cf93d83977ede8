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
	"log/slog"
	"math/rand/v2"
	"strings"
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
	pool   *pgxpool.Pool
	now    func() time.Time
	logger *slog.Logger
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
	s := &Storage{now: opts.Now, logger: opts.Logger}
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
		return fmt.Errorf("storage/postgres: ping: %w", err)
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
	return s.retry(ctx, op, func() error { return fn(s.pool) })
}

// inTx executes fn inside the caller's transaction if ctx carries one (no
// retry: the caller owns it), else inside a new transaction that is retried
// from the start on conflicts. fn may therefore run more than once.
func (s *Storage) inTx(ctx context.Context, op string, fn func(q querier) error) error {
	if h := s.txFrom(ctx); h != nil {
		return wrapErr(op, fn(h.tx))
	}
	return s.retry(ctx, op, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(tx) })
	})
}

// retry runs attempt until it succeeds, fails with a non-conflict error,
// maxAttempts is reached or ctx ends, backing off with jitter in between.
func (s *Storage) retry(ctx context.Context, op string, attempt func() error) error {
	backoff := 2 * time.Millisecond
	for i := 1; ; i++ {
		err := mapErr(attempt())
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

// conflictError is a database error that means "a concurrent writer won".
// It matches storage.ErrConflict and unwraps to the driver error.
type conflictError struct{ err error }

func (e *conflictError) Error() string   { return storage.ErrConflict.Error() + ": " + e.err.Error() }
func (e *conflictError) Unwrap() []error { return []error{storage.ErrConflict, e.err} }

// existsError is a unique violation; it matches storage.ErrAlreadyExists.
type existsError struct{ err error }

func (e *existsError) Error() string   { return storage.ErrAlreadyExists.Error() + ": " + e.err.Error() }
func (e *existsError) Unwrap() []error { return []error{storage.ErrAlreadyExists, e.err} }

// mapErr translates driver errors into the storage sentinels (keeping the
// driver error reachable through errors.As). Other errors pass unchanged.
func mapErr(err error) error {
	var pgErr *pgconn.PgError
	if err == nil || !errors.As(err, &pgErr) {
		return err
	}
	var c *conflictError
	var e *existsError
	if errors.As(err, &c) || errors.As(err, &e) {
		return err // already mapped
	}
	switch pgErr.Code {
	case codeSerializationFailure, codeDeadlockDetected, codeLockNotAvailable:
		return &conflictError{err: err}
	case codeUniqueViolation:
		return &existsError{err: err}
	}
	return err
}

// wrapErr maps err and prefixes it with the operation.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("storage/postgres: %s: %w", op, mapErr(err))
}
