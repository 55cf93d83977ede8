package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

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
