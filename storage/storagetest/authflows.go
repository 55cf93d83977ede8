package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// flowNow is a time at the storage precision, so that "expires at now"
// is exactly at now.
var flowNow = baseTime.Truncate(time.Millisecond).Add(time.Hour)

func newAuthFlow(id string, expiresAt time.Time) storage.AuthFlow {
	return storage.AuthFlow{
		ID:          id,
		BrowserHash: []byte("browser-hash-" + id),
		ClientID:    "client-a",
		AppID:       "wx-website",
		Request:     "client_id=client-a&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb&scope=openid&state=" + id,
		CreatedAt:   baseTime,
		ExpiresAt:   expiresAt,
	}
}

func testAuthFlows(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	_, err := s.TakeAuthFlow(ctx, "absent", flowNow)
	mustErrIs(t, "take absent", err, storage.ErrNotFound)

	f := newAuthFlow("flow1", flowNow.Add(time.Millisecond))
	mustNoErr(t, "create", s.CreateAuthFlow(ctx, f))
	dup := newAuthFlow("flow1", flowNow.Add(time.Hour))
	dup.ClientID = "client-b"
	mustErrIs(t, "create duplicate", s.CreateAuthFlow(ctx, dup), storage.ErrAlreadyExists)

	got, err := s.TakeAuthFlow(ctx, f.ID, flowNow)
	mustNoErr(t, "take", err)
	checkRecord(t, "taken", got, f)
	_, err = s.TakeAuthFlow(ctx, f.ID, flowNow)
	mustErrIs(t, "take again", err, storage.ErrNotFound)

	// Empty bytes read back nil; a zero expiry never expires.
	bare := storage.AuthFlow{ID: "bare", BrowserHash: []byte{}}
	mustNoErr(t, "create bare", s.CreateAuthFlow(ctx, bare))
	got, err = s.TakeAuthFlow(ctx, bare.ID, flowNow.AddDate(100, 0, 0))
	mustNoErr(t, "take bare", err)
	bare.BrowserHash = nil
	checkRecord(t, "bare", got, bare)

	// Expired at now (ExpiresAt not after now): deleted and not returned.
	for label, exp := range map[string]time.Time{"at-now": flowNow, "before": flowNow.Add(-time.Minute)} {
		mustNoErr(t, "create "+label, s.CreateAuthFlow(ctx, newAuthFlow(label, exp)))
		_, err := s.TakeAuthFlow(ctx, label, flowNow)
		mustErrIs(t, "take expired "+label, err, storage.ErrNotFound)
		// Gone: not even a take from before its expiry finds it.
		_, err = s.TakeAuthFlow(ctx, label, exp.Add(-time.Hour))
		mustErrIs(t, "take expired "+label+" again", err, storage.ErrNotFound)
	}
}

// TakeAuthFlow honours a transaction: rolled back, the flow is there again.
func testTakeAuthFlowTx(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	f := newAuthFlow("flow-tx", flowNow.Add(time.Minute))
	mustNoErr(t, "create", s.CreateAuthFlow(ctx, f))
	txCtx, err := s.BeginTx(ctx)
	mustNoErr(t, "begin", err)
	got, err := s.TakeAuthFlow(txCtx, f.ID, flowNow)
	mustNoErr(t, "take in tx", err)
	checkRecord(t, "taken in tx", got, f)
	_, err = s.TakeAuthFlow(txCtx, f.ID, flowNow)
	mustErrIs(t, "take again in tx", err, storage.ErrNotFound)
	mustNoErr(t, "rollback", s.Rollback(txCtx))
	got, err = s.TakeAuthFlow(ctx, f.ID, flowNow)
	mustNoErr(t, "take after rollback", err)
	checkRecord(t, "taken after rollback", got, f)
}

func testDeleteExpiredAuthFlows(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	expiring := map[string]time.Time{
		"exp-2": flowNow.Add(-2 * time.Minute),
		"exp-1": flowNow.Add(-time.Minute),
		"at":    flowNow, // expired at now
		"live":  flowNow.Add(time.Minute),
		"never": {},
	}
	for id, exp := range expiring {
		mustNoErr(t, "create "+id, s.CreateAuthFlow(ctx, newAuthFlow(id, exp)))
	}
	del := func() (int64, error) { return s.DeleteExpiredAuthFlows(ctx, flowNow, 2) }
	checkDeleteBatches(t, del, 1, 2)
	// Oldest first: "at" survived the first batch. A take from long before
	// any expiry finds exactly the flows still stored (and removes them).
	past := flowNow.Add(-time.Hour)
	got, err := s.TakeAuthFlow(ctx, "at", past)
	mustNoErr(t, "take at after first batch", err)
	checkRecord(t, "at", got, newAuthFlow("at", expiring["at"]))
	mustNoErr(t, "re-create at", s.CreateAuthFlow(ctx, newAuthFlow("at", expiring["at"])))
	checkDeleteBatches(t, del, 2, 1, 0)
	for id := range expiring {
		_, err := s.TakeAuthFlow(ctx, id, past)
		if id == "live" || id == "never" {
			mustNoErr(t, "take kept "+id, err)
		} else {
			mustErrIs(t, "take deleted "+id, err, storage.ErrNotFound)
		}
	}
}

// testConcurrentTakeAuthFlow races callbacks presenting one state: exactly
// one gets the flow, every other one ErrNotFound.
func testConcurrentTakeAuthFlow(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	for round := range 4 {
		f := newAuthFlow(fmt.Sprintf("contested%d", round), flowNow.Add(time.Minute))
		mustNoErr(t, "create", s.CreateAuthFlow(ctx, f))
		got := make([]storage.AuthFlow, concurrency)
		errs := race(concurrency, func(i int) error {
			// Half in a transaction of their own, as a handler would.
			if i%2 == 0 {
				var err error
				got[i], err = s.TakeAuthFlow(ctx, f.ID, flowNow)
				return err
			}
			return inTx(ctx, s, func(ctx context.Context) error {
				var err error
				got[i], err = s.TakeAuthFlow(ctx, f.ID, flowNow)
				return err
			})
		})
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
				checkRecord(t, fmt.Sprintf("round %d: winner %d", round, i), got[i], f)
			case errors.Is(err, storage.ErrNotFound):
			default:
				t.Errorf("round %d: take %d: unexpected error %v (want nil or ErrNotFound)", round, i, err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d takes won, want exactly 1", round, winners)
		}
		_, err := s.TakeAuthFlow(ctx, f.ID, flowNow)
		mustErrIs(t, "take after the race", err, storage.ErrNotFound)
	}
}
