package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// txKey is the context key under which BeginTx stores a *txHandle.
type txKey struct{}

// txHandle is a transaction carried by a context. A nested handle shares
// its parent's transaction but may not end it.
type txHandle struct {
	s      *Storage
	st     *txState
	nested bool
}

// txState is one write transaction: a savepoint in the batch transaction
// (groupcommit.go), used during one writer turn.
type txState struct {
	g *group

	mu   sync.Mutex // serializes statements with an abort from ctx's end
	turn *writeTurn // nil once the transaction ended
	tx   *sql.Tx    // the batch transaction
	// ended says why the transaction ended before Commit or Rollback (the
	// context ended); nil otherwise.
	ended error
	stop  func() bool // cancels the abort-on-context-end callback
	// clientsChanged: the transaction wrote a client (see ClientsVersion).
	clientsChanged bool
}

// savepoint names the writer's savepoint. One writer holds the batch at a
// time and transactions do not nest in SQL, so one name serves all.
const (
	savepointSQL         = "SAVEPOINT w"
	releaseSavepointSQL  = "RELEASE w"
	rollbackSavepointSQL = "ROLLBACK TO w"
)

// errNoTx is returned by Commit and Rollback on a context without a
// transaction of this Storage.
var errNoTx = errors.New("sqlite: no transaction in context")

// errTxDone is returned for statements and Commit on an ended transaction.
var errTxDone = errors.New("sqlite: transaction has already been committed or rolled back")

// txFrom returns the transaction of this Storage carried by ctx, or nil.
func (s *Storage) txFrom(ctx context.Context) *txHandle {
	h, ok := ctx.Value(txKey{}).(*txHandle)
	if !ok || h.s != s {
		return nil
	}
	return h
}

// BeginTx starts a write transaction and returns a context carrying it. It
// waits for the writer (other transactions of this Storage, and up to
// busy_timeout for another process's). On a context that already carries a
// transaction it returns a nested context whose Commit and Rollback do
// nothing. The transaction is rolled back if ctx ends before Commit.
func (s *Storage) BeginTx(ctx context.Context) (context.Context, error) {
	if h := s.txFrom(ctx); h != nil {
		return context.WithValue(ctx, txKey{}, &txHandle{s: s, st: h.st, nested: true}), nil
	}
	turn, tx, err := s.group.acquire(ctx, false)
	if err != nil {
		return ctx, fmt.Errorf("sqlite: begin: %w", err)
	}
	if _, err := tx.ExecContext(context.WithoutCancel(ctx), savepointSQL); err != nil {
		s.group.release(turn, turnOutcome{broken: err})
		return ctx, fmt.Errorf("sqlite: begin: %w", mapErr(err))
	}
	st := &txState{g: s.group, turn: turn, tx: tx}
	st.stop = context.AfterFunc(ctx, func() { st.abort(ctx.Err()) })
	return context.WithValue(ctx, txKey{}, &txHandle{s: s, st: st}), nil
}

// Commit commits the transaction ctx carries (a no-op when nested). It
// returns once the write is synced to disk, as synchronous requires.
func (s *Storage) Commit(ctx context.Context) error {
	st, err := s.ownTx(ctx)
	if st == nil {
		return err
	}
	st.mu.Lock()
	if st.turn == nil {
		err := st.ended
		st.mu.Unlock()
		if err == nil {
			err = errTxDone
		}
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	st.stop()
	if err := ctx.Err(); err != nil {
		st.rollbackLocked()
		st.mu.Unlock()
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	_, err = st.tx.ExecContext(context.WithoutCancel(ctx), releaseSavepointSQL)
	turn := st.turn
	st.turn = nil
	st.mu.Unlock()
	if err != nil {
		st.g.release(turn, turnOutcome{broken: err})
		return fmt.Errorf("sqlite: commit: %w", mapErr(err))
	}
	// The batch commit is bounded (one sync); waiting for it regardless of
	// ctx keeps the answer exact: nil means durable.
	if err := <-st.g.release(turn, turnOutcome{committed: true}); err != nil {
		return err
	}
	if st.clientsChanged {
		s.clientsVersion.Add(1)
	}
	return nil
}

// ClientsVersion counts the committed transactions that changed a client
// through this Storage. A cache of clients (provider's) compares it to drop
// its entries as soon as a client changes in this process; changes made by
// another process are not counted.
func (s *Storage) ClientsVersion() uint64 { return s.clientsVersion.Load() }

// Rollback rolls back the transaction ctx carries (a no-op when nested).
// Rolling back a transaction that already ended is not an error, so callers
// may defer it unconditionally.
func (s *Storage) Rollback(ctx context.Context) error {
	st, err := s.ownTx(ctx)
	if st == nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.turn == nil {
		return nil
	}
	st.stop()
	if err := st.rollbackLocked(); err != nil {
		return fmt.Errorf("sqlite: rollback: %w", err)
	}
	return nil
}

// ownTx returns the transaction that Commit and Rollback end: the one ctx
// began, or nil when ctx carries a nested one (they do nothing) and, with
// errNoTx, when it carries none.
func (s *Storage) ownTx(ctx context.Context) (*txState, error) {
	h := s.txFrom(ctx)
	switch {
	case h == nil:
		return nil, errNoTx
	case h.nested:
		return nil, nil
	}
	return h.st, nil
}

// abort rolls the transaction back when its context ends first.
func (st *txState) abort(cause error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.turn == nil {
		return
	}
	st.ended = cause
	st.rollbackLocked()
}

// rollbackLocked undoes the savepoint and ends the turn. If SQLite has
// already rolled the whole batch back (after SQLITE_FULL, an I/O error), the
// savepoint is gone: the batch is reported broken so that its other writers
// fail too.
func (st *txState) rollbackLocked() error {
	ctx := context.Background()
	_, err := st.tx.ExecContext(ctx, rollbackSavepointSQL)
	if err == nil {
		_, err = st.tx.ExecContext(ctx, releaseSavepointSQL)
	}
	turn := st.turn
	st.turn = nil
	if err != nil {
		err = mapErr(err)
		st.g.release(turn, turnOutcome{broken: err})
		return err
	}
	st.g.release(turn, turnOutcome{})
	return nil
}

// use runs fn on the batch transaction unless this transaction has ended.
// Statements run with a context that is not cancelled: SQLite answers an
// interrupted write by rolling back the whole (batch) transaction. The
// transaction's own context still ends it, between statements.
func (st *txState) use(fn func(tx *sql.Tx) error) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.turn == nil {
		if st.ended != nil {
			return fmt.Errorf("sqlite: transaction ended: %w", st.ended)
		}
		return errTxDone
	}
	return fn(st.tx)
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
