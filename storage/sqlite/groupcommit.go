package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
)

// Group commit. With synchronous=FULL every COMMIT syncs the WAL (a few
// hundred microseconds to milliseconds), and SQLite has one writer, so one
// transaction per write caps the write rate at one sync per request. Instead,
// the writer connection runs one batch transaction at a time and every write
// transaction of this Storage is a savepoint inside it:
//
//   - A writer takes a turn: exclusive use of the batch transaction (which
//     the committer opens with BEGIN IMMEDIATE if none is open), runs
//     SAVEPOINT, its statements, then RELEASE (its commit) or ROLLBACK TO
//     (its rollback), and hands the turn back. A single write outside a
//     transaction needs no savepoint (execAlone).
//   - The committer commits the batch as soon as no writer is waiting for a
//     turn, or after maxBatch committed turns, and only then answers the
//     writers of the batch: Commit returns once the batch is synced, so a
//     write is as durable when Commit returns as before.
//   - While the batch syncs, new writers queue; they form the next batch. At
//     low load a batch holds one transaction and nothing waits longer than a
//     plain COMMIT would; under load one sync serves many requests.
//   - A write that may be lost in a power failure (a scan ticket: it lives
//     two minutes and the page offers a fresh one) is an ephemeral turn. A
//     batch of ephemeral turns alone commits with synchronous=NORMAL, which
//     in WAL mode writes the frames without waiting for a sync; the next
//     synced commit (or checkpoint) syncs them too, and a process crash
//     loses nothing (the frames are in the OS's cache). A durable turn never
//     joins such a batch: the batch commits first. An ephemeral turn may join
//     a durable batch and is then synced with it.
//
// Isolation is unchanged for everyone who can observe a write: readers (the
// reader pool) see only committed batches, and a writer whose savepoint was
// released but whose batch is not yet synced has not returned from Commit.
// Writers inside one batch do see the released savepoints of earlier turns of
// the batch, exactly as they would see those transactions committed. If the
// batch fails to commit, or SQLite rolls the whole transaction back (disk
// full, I/O error), every writer of the batch gets the error: none of them
// was acknowledged.
type group struct {
	db       *sql.DB // the writer pool (one connection)
	log      *slog.Logger
	maxBatch int
	// synchronous is the configured PRAGMA synchronous, FULL or NORMAL;
	// connSync is the connection's (NORMAL during ephemeral batches), ""
	// when unknown. Only loop reads or writes connSync.
	synchronous string
	connSync    string
	turns       chan *writeTurn
	quit        chan struct{}
	done        chan struct{}
}

// defaultMaxBatch bounds how many committed transactions wait for one sync
// when writers never leave the writer idle.
const defaultMaxBatch = 128

// writeTurn is one writer's exclusive use of the batch transaction.
type writeTurn struct {
	// ephemeral: the write need not wait for a sync (see group).
	ephemeral bool
	granted   chan turnGrant
	outcome   chan turnOutcome
	durable   chan error
}

type turnGrant struct {
	tx  *sql.Tx
	err error
}

// turnOutcome is how a turn ended: committed (its savepoint released), rolled
// back (neither flag), or broken: the batch transaction no longer exists.
type turnOutcome struct {
	committed bool
	broken    error
}

var errClosed = errors.New("sqlite: storage is closed")

// newGroup starts the committer of the writer pool db, whose connection
// was opened with PRAGMA synchronous = synchronous (FULL or NORMAL).
func newGroup(db *sql.DB, log *slog.Logger, synchronous string) *group {
	g := &group{
		db:          db,
		log:         log,
		maxBatch:    defaultMaxBatch,
		synchronous: synchronous,
		connSync:    synchronous,
		turns:       make(chan *writeTurn),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	go g.loop()
	return g
}

// close stops the committer once the current batch is committed.
func (g *group) close() {
	select {
	case <-g.quit:
	default:
		close(g.quit)
	}
	<-g.done
}

// acquire waits for a turn and returns the batch transaction. Once the turn
// is granted the caller must end it with release, whatever happens.
// An ephemeral turn's write may be lost in a power failure (see group).
func (g *group) acquire(ctx context.Context, ephemeral bool) (*writeTurn, *sql.Tx, error) {
	t := &writeTurn{
		ephemeral: ephemeral,
		granted:   make(chan turnGrant, 1),
		outcome:   make(chan turnOutcome, 1),
		durable:   make(chan error, 1),
	}
	select {
	case g.turns <- t:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-g.done:
		return nil, nil, errClosed
	}
	gr := <-t.granted
	if gr.err != nil {
		return nil, nil, gr.err
	}
	return t, gr.tx, nil
}

// release ends a turn. For a committed turn, the returned channel yields the
// outcome of the batch commit.
func (g *group) release(t *writeTurn, o turnOutcome) <-chan error {
	t.outcome <- o
	return t.durable
}

func (g *group) loop() {
	defer close(g.done)
	var (
		tx      *sql.Tx
		pending []chan<- error // durable channels of the batch's committed turns
	)
	finish := func(err error) {
		for _, ch := range pending {
			ch <- err
		}
		pending = pending[:0]
	}
	commit := func() {
		err := tx.Commit()
		tx = nil
		if err != nil {
			// A failed COMMIT (SQLITE_BUSY on a checkpoint, an I/O error) may
			// leave SQLite inside the transaction; end it so the connection
			// is clean for the next batch.
			_, _ = g.db.ExecContext(context.Background(), "ROLLBACK")
			err = fmt.Errorf("sqlite: commit: %w", mapErr(err))
			g.log.Error("sqlite: group commit failed", "transactions", len(pending), "err", err)
		}
		finish(err)
	}
	for {
		var t *writeTurn
		if tx != nil {
			select {
			case t = <-g.turns:
			default:
				// No writer is waiting: make the batch durable now.
				commit()
				continue
			}
		} else {
			select {
			case t = <-g.turns:
			case <-g.quit:
				return
			}
		}
		if tx != nil && !t.ephemeral && g.connSync != g.synchronous {
			// A durable turn does not join an unsynced batch.
			commit()
		}
		if tx == nil {
			if err := g.setSync(t.ephemeral); err != nil {
				t.granted <- turnGrant{err: err}
				continue
			}
			// Not bound to any request's context: the batch outlives them.
			var err error
			if tx, err = g.db.BeginTx(context.Background(), nil); err != nil {
				tx = nil
				t.granted <- turnGrant{err: mapErr(err)}
				continue
			}
		}
		t.granted <- turnGrant{tx: tx}
		switch o := <-t.outcome; {
		case o.broken != nil:
			// SQLite rolled the batch back (or it is unusable): every
			// transaction committed into it is lost, and its writers learn so.
			_ = tx.Rollback()
			tx = nil
			err := fmt.Errorf("sqlite: batch transaction aborted: %w", o.broken)
			g.log.Error("sqlite: batch transaction aborted", "transactions", len(pending), "err", o.broken)
			finish(err)
		case o.committed:
			pending = append(pending, t.durable)
			if len(pending) >= g.maxBatch {
				commit()
			}
		}
	}
}

// setSync sets the connection's PRAGMA synchronous for the next batch:
// NORMAL for an ephemeral one, the configured level otherwise. SQLite
// refuses the change inside a transaction, so it runs before BEGIN. When
// the change fails the level is unknown and set again next time.
func (g *group) setSync(ephemeral bool) error {
	want := g.synchronous
	if ephemeral {
		want = "NORMAL"
	}
	if want == g.connSync {
		return nil
	}
	g.connSync = ""
	if _, err := g.db.ExecContext(context.Background(), "PRAGMA synchronous = "+want); err != nil {
		return fmt.Errorf("sqlite: set synchronous %s: %w", want, mapErr(err))
	}
	g.connSync = want
	return nil
}
