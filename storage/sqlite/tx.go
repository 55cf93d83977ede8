package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// txKey is the context key under which BeginTx stores a *txHandle.
type txKey struct{}

// txHandle is a transaction carried by a context. A nested handle shares
// its parent's transaction but may not end it.
type txHandle struct {
	s      *Storage
	tx     *sql.Tx
	nested bool
}

// errNoTx is returned by Commit and Rollback on a context without a
// transaction of this Storage.
var errNoTx = errors.New("sqlite: no transaction in context")

// txFrom returns the transaction of this Storage carried by ctx, or nil.
func (s *Storage) txFrom(ctx context.Context) *txHandle {
	h, ok := ctx.Value(txKey{}).(*txHandle)
	if !ok || h.s != s {
		return nil
	}
	return h
}

// BeginTx starts a write transaction on the writer connection and returns a
// context carrying it. On a context that already carries one it returns a
// nested context whose Commit and Rollback do nothing. The transaction is
// rolled back if ctx ends before Commit.
func (s *Storage) BeginTx(ctx context.Context) (context.Context, error) {
	if h := s.txFrom(ctx); h != nil {
		return context.WithValue(ctx, txKey{}, &txHandle{s: s, tx: h.tx, nested: true}), nil
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return ctx, fmt.Errorf("sqlite: begin: %w", mapErr(err))
	}
	return context.WithValue(ctx, txKey{}, &txHandle{s: s, tx: tx}), nil
}

// Commit commits the transaction ctx carries (a no-op when nested).
func (s *Storage) Commit(ctx context.Context) error {
	h := s.txFrom(ctx)
	switch {
	case h == nil:
		return errNoTx
	case h.nested:
		return nil
	}
	if err := h.tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", mapErr(err))
	}
	return nil
}

// Rollback rolls back the transaction ctx carries (a no-op when nested).
// Rolling back a transaction that already ended is not an error, so callers
// may defer it unconditionally.
func (s *Storage) Rollback(ctx context.Context) error {
	h := s.txFrom(ctx)
	switch {
	case h == nil:
		return errNoTx
	case h.nested:
		return nil
	}
	if err := h.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("sqlite: rollback: %w", mapErr(err))
	}
	return nil
}

// inTx runs fn in the transaction ctx carries, or in a new one that it
// commits when fn succeeds and rolls back when fn fails.
func (s *Storage) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.txFrom(ctx) != nil {
		return fn(ctx)
	}
	txCtx, err := s.BeginTx(ctx)
	if err != nil {
		return err
	}
	if err := fn(txCtx); err != nil {
		if rbErr := s.Rollback(txCtx); rbErr != nil {
			s.log.WarnContext(ctx, "sqlite: rollback failed", "err", rbErr)
		}
		return err
	}
	return s.Commit(txCtx)
}
