package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// testLockAccount pins LockAccount: it reads as GetAccount does, and a
// disable-then-revoke (admin.Service.SetAccountDisabled) racing a
// transaction that checked the account with it and stores a token for it
// either is seen by the check or revokes that token. It never leaves a live
// token behind for a disabled account.
func testLockAccount(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	_, err := s.LockAccount(ctx, "account-absent")
	mustErrIs(t, "lock absent account", err, storage.ErrNotFound)
	_, acc, err := s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-lock", "", "k", "account-lock", baseTime))
	mustNoErr(t, "resolve", err)
	got, err := s.LockAccount(ctx, acc.ID)
	mustNoErr(t, "lock outside a transaction", err)
	if got.ID != acc.ID || got.Disabled {
		t.Fatalf("LockAccount = %+v, want the enabled account %s", got, acc.ID)
	}

	tx, err := s.BeginTx(ctx)
	mustNoErr(t, "begin", err)
	defer func() { _ = s.Rollback(tx) }()
	got, err = s.LockAccount(tx, acc.ID)
	mustNoErr(t, "lock in a transaction", err)
	if got.Disabled {
		t.Fatal("account disabled before anyone disabled it")
	}

	// The admin's disable-with-revoke, concurrently.
	done := make(chan error, 1)
	go func() {
		_, err := s.UpdateAccount(context.WithoutCancel(ctx), acc.ID, func(a storage.Account) (storage.Account, error) {
			a.Disabled = true
			return a, nil
		})
		if err == nil {
			_, err = s.RevokeSubjectTokens(context.WithoutCancel(ctx), acc.ID)
		}
		done <- err
	}()
	// The disable must wait for the transaction. Correctness does not rest
	// on this pause: it only gives a backend that does not hold the account
	// the time to finish the disable early, which the checks below catch.
	select {
	case err := <-done:
		t.Fatalf("the disable (err %v) completed while a transaction held the account", err)
	case <-time.After(200 * time.Millisecond):
	}
	ts := newSession(storage.KindAccessToken, "lock-at", "req-lock")
	ts.Subject = acc.ID
	mustNoErr(t, "create token in the locking transaction", s.CreateTokenSession(tx, ts))
	mustNoErr(t, "commit", s.Commit(tx))
	mustNoErr(t, "disable and revoke", <-done)

	_, err = s.GetTokenSession(ctx, storage.KindAccessToken, ts.Signature)
	mustErrIs(t, "token stored under the lock, after the revocation", err, storage.ErrNotFound)
	got, err = s.LockAccount(ctx, acc.ID)
	mustNoErr(t, "lock after the disable", err)
	if !got.Disabled {
		t.Fatal("LockAccount does not see the committed disable")
	}
}

// testLockClient pins LockClient as testLockAccount pins LockAccount: a
// DeleteClient racing a transaction that checked the client with it and
// stores a token for it revokes that token.
func testLockClient(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	_, err := s.LockClient(ctx, "client-absent")
	mustErrIs(t, "lock absent client", err, storage.ErrNotFound)
	mustNoErr(t, "create client", s.CreateClient(ctx, newClient("client-lock")))
	got, err := s.LockClient(ctx, "client-lock")
	mustNoErr(t, "lock outside a transaction", err)
	checkRecord(t, "locked client", got, newClient("client-lock"))

	tx, err := s.BeginTx(ctx)
	mustNoErr(t, "begin", err)
	defer func() { _ = s.Rollback(tx) }()
	_, err = s.LockClient(tx, "client-lock")
	mustNoErr(t, "lock in a transaction", err)

	done := make(chan error, 1)
	go func() { done <- s.DeleteClient(context.WithoutCancel(ctx), "client-lock") }()
	// As in testLockAccount, the pause only lets a backend that does not
	// hold the client fail visibly.
	select {
	case err := <-done:
		t.Fatalf("the deletion (err %v) completed while a transaction held the client", err)
	case <-time.After(200 * time.Millisecond):
	}
	ts := newSession(storage.KindAccessToken, "lock-client-at", "req-lock-client")
	ts.ClientID = "client-lock"
	mustNoErr(t, "create token in the locking transaction", s.CreateTokenSession(tx, ts))
	mustNoErr(t, "commit", s.Commit(tx))
	mustNoErr(t, "delete client", <-done)

	_, err = s.GetTokenSession(ctx, storage.KindAccessToken, ts.Signature)
	mustErrIs(t, "token stored under the lock, after the deletion", err, storage.ErrNotFound)
	_, err = s.LockClient(ctx, "client-lock")
	mustErrIs(t, "lock after the deletion", err, storage.ErrNotFound)
}
