package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

func groupSession(i int) storage.TokenSession {
	return storage.TokenSession{Kind: storage.KindAccessToken, Signature: fmt.Sprintf("sig-%d", i), RequestID: fmt.Sprintf("req-%d", i), Active: true}
}

// TestGroupCommitConcurrentWriters runs many writers at once, mixing
// transactions that commit, transactions that roll back, single writes and
// duplicates, so that batches hold all of them: each outcome must be exactly
// its own.
func TestGroupCommitConcurrentWriters(t *testing.T) {
	s := openTest(t, Options{})
	ctx := t.Context()
	if err := s.CreateTokenSession(ctx, groupSession(-1)); err != nil {
		t.Fatal(err)
	}
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 4 {
			case 0: // a transaction that commits two rows
				errs[i] = s.inTx(ctx, func(ctx context.Context) error {
					if err := s.CreateTokenSession(ctx, groupSession(i)); err != nil {
						return err
					}
					return s.CreateTokenSession(ctx, groupSession(1000+i))
				})
			case 1: // a transaction that writes, then fails and rolls back
				errs[i] = s.inTx(ctx, func(ctx context.Context) error {
					if err := s.CreateTokenSession(ctx, groupSession(i)); err != nil {
						return err
					}
					return errors.New("abandoned")
				})
			case 2: // a single write
				errs[i] = s.CreateTokenSession(ctx, groupSession(i))
			case 3: // a duplicate single write
				errs[i] = s.CreateTokenSession(ctx, groupSession(-1))
			}
		}()
	}
	wg.Wait()
	for i := range n {
		_, getErr := s.GetTokenSession(ctx, storage.KindAccessToken, groupSession(i).Signature)
		switch i % 4 {
		case 0:
			_, getErr2 := s.GetTokenSession(ctx, storage.KindAccessToken, groupSession(1000+i).Signature)
			if errs[i] != nil || getErr != nil || getErr2 != nil {
				t.Errorf("writer %d (commit): %v; rows: %v, %v", i, errs[i], getErr, getErr2)
			}
		case 1:
			if errs[i] == nil || !errors.Is(getErr, storage.ErrNotFound) {
				t.Errorf("writer %d (rollback): %v; row: %v", i, errs[i], getErr)
			}
		case 2:
			if errs[i] != nil || getErr != nil {
				t.Errorf("writer %d (single): %v; row: %v", i, errs[i], getErr)
			}
		case 3:
			if !errors.Is(errs[i], storage.ErrAlreadyExists) {
				t.Errorf("writer %d (duplicate): %v, want ErrAlreadyExists", i, errs[i])
			}
		}
	}
}

// TestGroupCommitWaitsForTheHolder checks that a writer waits while a
// transaction holds the batch, and that the holder's rollback does not undo
// the waiting writer's write.
func TestGroupCommitWaitsForTheHolder(t *testing.T) {
	s := openTest(t, Options{})
	ctx := t.Context()
	txCtx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTokenSession(txCtx, groupSession(1)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.CreateTokenSession(ctx, groupSession(2)) }()
	select {
	case err := <-done:
		t.Fatalf("a write completed while another transaction held the writer: %v", err)
	default:
	}
	if err := s.Rollback(txCtx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTokenSession(ctx, storage.KindAccessToken, groupSession(1).Signature); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("rolled back row: %v, want ErrNotFound", err)
	}
	if _, err := s.GetTokenSession(ctx, storage.KindAccessToken, groupSession(2).Signature); err != nil {
		t.Errorf("the waiting writer's row: %v", err)
	}
}

func TestClientsVersion(t *testing.T) {
	s := openTest(t, Options{})
	ctx := t.Context()
	step := func(what string, want uint64, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := s.ClientsVersion(); got != want {
			t.Fatalf("after %s: ClientsVersion = %d, want %d", what, got, want)
		}
	}
	step("open", 0, nil)
	step("create", 1, s.CreateClient(ctx, storage.Client{ID: "c"}))
	if err := s.CreateClient(ctx, storage.Client{ID: "c"}); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	step("a failed create", 1, nil)
	rename := func(ctx context.Context, name string) error {
		_, err := s.UpdateClient(ctx, "c", func(c storage.Client) (storage.Client, error) { c.Name = name; return c, nil })
		return err
	}
	step("update", 2, rename(ctx, "a"))

	txCtx, err := s.BeginTx(ctx)
	step("begin", 2, err)
	step("update in a transaction", 2, rename(txCtx, "b"))
	step("rollback", 2, s.Rollback(txCtx))

	txCtx, err = s.BeginTx(ctx)
	step("begin", 2, err)
	step("update in a transaction", 2, rename(txCtx, "c"))
	step("commit", 3, s.Commit(txCtx))

	step("token write", 3, s.CreateTokenSession(ctx, groupSession(1)))
	step("delete", 4, s.DeleteClient(ctx, "c"))
}

// connSynchronous reads PRAGMA synchronous on the writer connection: 2 is
// FULL, 1 NORMAL. Between turns the connection is idle, so the writer
// pool's one connection is the group's.
func connSynchronous(t *testing.T, s *Storage) int {
	t.Helper()
	var level int
	if err := s.writer.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&level); err != nil {
		t.Fatal(err)
	}
	return level
}

// turnSynchronous reads PRAGMA synchronous inside the transaction ctx
// carries: the level its batch commits with.
func turnSynchronous(t *testing.T, s *Storage, ctx context.Context) int {
	t.Helper()
	var level int
	err := s.txFrom(ctx).st.use(func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level)
	})
	if err != nil {
		t.Fatal(err)
	}
	return level
}

func ephemeralTicket(id string) storage.ScanTicket {
	now := time.Now()
	return storage.ScanTicket{ID: id, BrowserHash: []byte("h"), ClientID: "c", AppID: "wx", Request: "r",
		Status: storage.ScanPending, CreatedAt: now, ExpiresAt: now.Add(2 * time.Minute)}
}

// TestGroupCommitEphemeral checks which writes skip the sync: a scan
// ticket's insert alone commits with synchronous=NORMAL and is visible when
// it returns; every other write, and a ticket written inside a transaction,
// commits at the configured level; and a durable write arriving while an
// ephemeral batch is open does not join it.
func TestGroupCommitEphemeral(t *testing.T) {
	const full, normal = 2, 1
	s := openTest(t, Options{})
	ctx := t.Context()
	if got := connSynchronous(t, s); got != full {
		t.Fatalf("synchronous at open = %d, want FULL", got)
	}

	if err := s.CreateScanTicket(ctx, ephemeralTicket("T1")); err != nil {
		t.Fatal(err)
	}
	if got := connSynchronous(t, s); got != normal {
		t.Errorf("after a ticket insert: synchronous = %d, want NORMAL", got)
	}
	if _, err := s.GetScanTicket(ctx, "T1"); err != nil {
		t.Errorf("the ticket is not visible to readers when its insert returns: %v", err)
	}
	if err := s.CreateTokenSession(ctx, groupSession(1)); err != nil {
		t.Fatal(err)
	}
	if got := connSynchronous(t, s); got != full {
		t.Errorf("after a token insert: synchronous = %d, want FULL", got)
	}

	// A ticket inside a transaction is as durable as the transaction.
	txCtx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateScanTicket(txCtx, ephemeralTicket("T2")); err != nil {
		t.Fatal(err)
	}
	if got := turnSynchronous(t, s, txCtx); got != full {
		t.Errorf("a ticket in a transaction commits at synchronous = %d, want FULL", got)
	}
	if err := s.Commit(txCtx); err != nil {
		t.Fatal(err)
	}

	// An ephemeral batch is open (its turn held here) when a durable
	// transaction asks for a turn: whether the durable turn arrives before
	// or after the batch commits, it must commit at FULL.
	for i := range 20 {
		turn, batch, err := s.group.acquire(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := batch.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != normal {
			t.Fatalf("round %d: an ephemeral batch runs at synchronous = %d, want NORMAL", i, got)
		}
		levels := make(chan int, 1)
		go func() {
			txCtx, err := s.BeginTx(ctx)
			if err != nil {
				t.Error(err)
				levels <- -1
				return
			}
			defer s.Rollback(txCtx)
			level := turnSynchronous(t, s, txCtx)
			if err := s.CreateTokenSession(txCtx, groupSession(100+i)); err != nil {
				t.Error(err)
			}
			if err := s.Commit(txCtx); err != nil {
				t.Error(err)
			}
			levels <- level
		}()
		if i%2 == 0 {
			// Every other round, the durable writer is queued before the
			// batch's turn ends, so it would join the batch if allowed.
			waitQueuedWriter(t)
		}
		if err := <-s.group.release(turn, turnOutcome{committed: true}); err != nil {
			t.Fatal(err)
		}
		if got := <-levels; got != full {
			t.Fatalf("round %d: a durable transaction after an ephemeral batch ran at synchronous = %d, want FULL", i, got)
		}
	}
}

// waitQueuedWriter returns once a goroutine is blocked handing its turn to
// the committer (in group.acquire's select on the unbuffered turns channel).
func waitQueuedWriter(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "[select") && strings.Contains(g, "(*group).acquire") {
				return
			}
		}
		runtime.Gosched()
	}
	t.Fatal("no writer queued for a turn within a minute")
}

// TestGroupCommitEphemeralWhenNormal: with synchronous=NORMAL configured,
// nothing ever switches.
func TestGroupCommitEphemeralWhenNormal(t *testing.T) {
	s := openTest(t, Options{Synchronous: "NORMAL"})
	ctx := t.Context()
	for i := range 3 {
		if err := s.CreateScanTicket(ctx, ephemeralTicket(fmt.Sprintf("T%d", i))); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateTokenSession(ctx, groupSession(i)); err != nil {
			t.Fatal(err)
		}
		if got := connSynchronous(t, s); got != 1 {
			t.Fatalf("synchronous = %d, want NORMAL", got)
		}
	}
}
