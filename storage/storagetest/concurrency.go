package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// concurrency is how many goroutines race in the concurrency tests.
const concurrency = 16

// race runs fn(i) for i in [0, n) in n goroutines released at once and
// returns their errors by index.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// testConcurrentRefreshRotation replays fosite's refresh flow from many
// clients presenting the same refresh token at once: exactly one wins.
func testConcurrentRefreshRotation(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	rt := newSession(storage.KindRefreshToken, "contested", "req-chain")
	oldAT := newSession(storage.KindAccessToken, "contested-at", "req-chain")
	rt.AccessTokenSignature = oldAT.Signature
	mustNoErr(t, "create refresh token", s.CreateTokenSession(ctx, rt))
	mustNoErr(t, "create access token", s.CreateTokenSession(ctx, oldAT))

	now := baseTime.Add(time.Minute)
	newAT := func(i int) storage.TokenSession {
		return newSession(storage.KindAccessToken, fmt.Sprintf("new-at-%d", i), "req-chain")
	}
	newRT := func(i int) storage.TokenSession {
		ts := newSession(storage.KindRefreshToken, fmt.Sprintf("new-rt-%d", i), "req-chain")
		ts.AccessTokenSignature = newAT(i).Signature
		return ts
	}
	errs := race(concurrency, func(i int) error {
		return inTx(ctx, s, func(ctx context.Context) error {
			if err := s.RotateRefreshToken(ctx, "req-chain", rt.Signature, now, 0); err != nil {
				return err
			}
			if err := s.CreateTokenSession(ctx, newAT(i)); err != nil {
				return err
			}
			return s.CreateTokenSession(ctx, newRT(i))
		})
	})

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("rotations %d and %d both won", winner, i)
			}
			winner = i
		case errors.Is(err, storage.ErrInactive), errors.Is(err, storage.ErrConflict):
		default:
			t.Errorf("rotation %d: unexpected error %v (want nil, ErrInactive or ErrConflict)", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no rotation won")
	}

	// Exactly the winner's pair was written: no partial write of a loser.
	for i := range concurrency {
		for _, ts := range []storage.TokenSession{newAT(i), newRT(i)} {
			got, err := s.GetTokenSession(ctx, ts.Kind, ts.Signature)
			if i == winner {
				mustNoErr(t, fmt.Sprintf("winner's %s", ts.Kind), err)
				checkRecord(t, "winner's "+string(ts.Kind), got, ts)
			} else if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("loser %d's %s: err = %v, want ErrNotFound", i, ts.Kind, err)
			}
		}
	}
	got, err := s.GetTokenSession(ctx, storage.KindRefreshToken, rt.Signature)
	mustErrIs(t, "rotated token", err, storage.ErrInactive)
	if !checkTime(got.FirstUsedAt, now) {
		t.Errorf("rotated token FirstUsedAt = %v, want %v", got.FirstUsedAt, now.UTC())
	}
	_, err = s.GetTokenSession(ctx, storage.KindAccessToken, oldAT.Signature)
	mustErrIs(t, "old access token", err, storage.ErrNotFound)
}

func testConcurrentResolveWeChatLogin(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	accountIDs := make([]string, concurrency)
	errs := race(concurrency, func(i int) error {
		_, acct, err := s.ResolveWeChatLogin(ctx, login("wx-app", "openid-new", "union-new",
			fmt.Sprintf("key-%d", i), fmt.Sprintf("account-%d", i), baseTime.Add(time.Duration(i)*time.Millisecond)))
		accountIDs[i] = acct.ID
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("login %d: %v", i, err)
		}
	}
	if t.Failed() {
		return
	}
	for i, id := range accountIDs {
		if id != accountIDs[0] {
			t.Errorf("login %d resolved to %q, login 0 to %q", i, id, accountIDs[0])
		}
	}
	checkOneAccountCreated(t, s)
	ids, err := s.ListWeChatIdentities(ctx, accountIDs[0])
	mustNoErr(t, "list identities", err)
	if len(ids) != 1 {
		t.Errorf("account has %d identities, want 1", len(ids))
	}
}

// testConcurrentResolveSameUnionID races first logins of one person through
// different apps (different openids, one unionid): they all land on one
// account.
func testConcurrentResolveSameUnionID(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	accountIDs := make([]string, concurrency)
	errs := race(concurrency, func(i int) error {
		_, acct, err := s.ResolveWeChatLogin(ctx, login(fmt.Sprintf("wx-app-%d", i), fmt.Sprintf("openid-%d", i), "union-1",
			"k", fmt.Sprintf("account-%d", i), baseTime))
		accountIDs[i] = acct.ID
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		if accountIDs[i] != accountIDs[0] {
			t.Errorf("login %d joined %q, login 0 %q", i, accountIDs[i], accountIDs[0])
		}
	}
	ids, err := s.ListWeChatIdentities(ctx, accountIDs[0])
	mustNoErr(t, "list identities", err)
	if len(ids) != concurrency {
		t.Errorf("account has %d identities, want %d", len(ids), concurrency)
	}
	checkOneAccountCreated(t, s)
}

// checkOneAccountCreated checks that of the racing logins' NewAccountIDs
// account-0 … account-(concurrency-1) exactly one became an account.
func checkOneAccountCreated(t *testing.T, s storage.Storage) {
	t.Helper()
	created := 0
	for i := range concurrency {
		_, err := s.GetAccount(t.Context(), fmt.Sprintf("account-%d", i))
		switch {
		case err == nil:
			created++
		case !errors.Is(err, storage.ErrNotFound):
			t.Errorf("get account-%d: %v", i, err)
		}
	}
	if created != 1 {
		t.Errorf("%d accounts created, want 1", created)
	}
}

func testConcurrentUpdateSigningKeys(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	errs := race(concurrency, func(i int) error {
		_, err := s.UpdateSigningKeys(ctx, func(keys []storage.SigningKey) ([]storage.SigningKey, error) {
			return append(keys, newKey(fmt.Sprintf("kid-%02d", i), "RS256", storage.KeyNext, baseTime)), nil
		})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("update %d: %v", i, err)
		}
	}
	keys, err := s.ListSigningKeys(ctx)
	mustNoErr(t, "list", err)
	if len(keys) != concurrency {
		t.Fatalf("%d keys after %d concurrent appends: updates did not serialize", len(keys), concurrency)
	}
	for i, k := range keys {
		if want := fmt.Sprintf("kid-%02d", i); k.KID != want {
			t.Errorf("key %d: KID %q, want %q", i, k.KID, want)
		}
	}
}

// testConcurrentDeactivate: of several callers deactivating one active
// session at once (a code presented by two token requests), exactly one
// succeeds and the others get ErrInactive, in a transaction or not.
func testConcurrentDeactivate(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	for round := range 4 {
		ts := newSession(storage.KindAuthorizeCode, fmt.Sprintf("contested-code-%d", round), fmt.Sprintf("req-contested-%d", round))
		mustNoErr(t, "create", s.CreateTokenSession(ctx, ts))
		errs := race(concurrency, func(i int) error {
			if i%2 == 0 {
				return s.DeactivateTokenSession(ctx, ts.Kind, ts.Signature)
			}
			return inTx(ctx, s, func(ctx context.Context) error {
				return s.DeactivateTokenSession(ctx, ts.Kind, ts.Signature)
			})
		})
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
			case errors.Is(err, storage.ErrInactive):
			default:
				t.Errorf("round %d: deactivate %d: unexpected error %v (want nil or ErrInactive)", round, i, err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d deactivations won, want exactly 1", round, winners)
		}
	}
}
