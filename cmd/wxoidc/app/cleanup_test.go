package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/sqlite"
)

// One pass deletes every expired row of every kind, batch after batch, and
// nothing that has not expired.
func TestDeleteExpiredAllKinds(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cleanup.db"), sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const batch, expired = 3, 7 // several batches, the last one short
	for i := range expired + 1 {
		exp := now.Add(-time.Duration(i+1) * time.Minute)
		label := fmt.Sprint(i)
		if i == expired {
			exp, label = now.Add(time.Minute), "live" // not expired
		}
		if err := s.CreateTokenSession(ctx, storage.TokenSession{Kind: storage.KindAccessToken, Signature: "sig-" + label,
			RequestedAt: now.Add(-time.Hour), Active: true, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateLoginSession(ctx, storage.LoginSession{ID: "session-" + label, AccountID: "account",
			CreatedAt: now.Add(-time.Hour), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAuthFlow(ctx, storage.AuthFlow{ID: "flow" + label, CreatedAt: now.Add(-time.Hour), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateScanTicket(ctx, storage.ScanTicket{ID: "ticket" + label, Status: storage.ScanPending,
			CreatedAt: now.Add(-time.Hour), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}

	deleteExpired(ctx, s, func() time.Time { return now }, batch, slog.New(slog.DiscardHandler))

	for i := range expired {
		label := fmt.Sprint(i)
		if _, err := s.GetTokenSession(ctx, storage.KindAccessToken, "sig-"+label); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("expired token session %s: %v, want ErrNotFound", label, err)
		}
		if _, err := s.GetLoginSession(ctx, "session-"+label); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("expired login session %s: %v, want ErrNotFound", label, err)
		}
		if _, err := s.TakeAuthFlow(ctx, "flow"+label, now.Add(-time.Hour)); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("expired auth flow %s: %v, want ErrNotFound", label, err)
		}
		if _, err := s.GetScanTicket(ctx, "ticket"+label); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("expired scan ticket %s: %v, want ErrNotFound", label, err)
		}
	}
	if _, err := s.GetTokenSession(ctx, storage.KindAccessToken, "sig-live"); err != nil {
		t.Errorf("live token session: %v", err)
	}
	if _, err := s.GetLoginSession(ctx, "session-live"); err != nil {
		t.Errorf("live login session: %v", err)
	}
	if _, err := s.TakeAuthFlow(ctx, "flowlive", now); err != nil {
		t.Errorf("live auth flow: %v", err)
	}
	if _, err := s.GetScanTicket(ctx, "ticketlive"); err != nil {
		t.Errorf("live scan ticket: %v", err)
	}
}

// failingDeleter fails token sessions and counts the calls of each kind.
type failingDeleter struct{ calls map[string]int }

func (d *failingDeleter) DeleteExpiredTokenSessions(context.Context, time.Time, int) (int64, error) {
	d.calls["token"]++
	return 0, errors.New("database on fire")
}

func (d *failingDeleter) DeleteExpiredLoginSessions(_ context.Context, _ time.Time, limit int) (int64, error) {
	d.calls["login"]++
	if d.calls["login"] < 3 {
		return int64(limit), nil
	}
	return 0, nil
}

func (d *failingDeleter) DeleteExpiredAuthFlows(_ context.Context, _ time.Time, limit int) (int64, error) {
	d.calls["flow"]++
	return int64(limit - 1), nil
}

func (d *failingDeleter) DeleteExpiredScanTickets(_ context.Context, _ time.Time, limit int) (int64, error) {
	d.calls["ticket"]++
	if d.calls["ticket"] < 2 {
		return int64(limit), nil
	}
	return int64(limit - 1), nil
}

// A failing kind does not stop the others; a full batch asks for another,
// a short one ends the kind.
func TestDeleteExpiredFailureAndBatches(t *testing.T) {
	d := &failingDeleter{calls: map[string]int{}}
	deleteExpired(t.Context(), d, time.Now, 10, slog.New(slog.DiscardHandler))
	want := map[string]int{"token": 1, "login": 3, "flow": 1, "ticket": 2}
	for k, n := range want {
		if d.calls[k] != n {
			t.Errorf("%s: %d calls, want %d", k, d.calls[k], n)
		}
	}

	// A cancelled context stops the pass before any call.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d = &failingDeleter{calls: map[string]int{}}
	deleteExpired(ctx, d, time.Now, 10, slog.New(slog.DiscardHandler))
	if len(d.calls) != 0 {
		t.Errorf("calls after cancel: %v", d.calls)
	}
}
