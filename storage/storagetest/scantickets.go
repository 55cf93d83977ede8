package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// scanNow is a time at the storage precision, so that "expires at now" is
// exactly at now.
var scanNow = baseTime.Truncate(time.Millisecond).Add(2 * time.Hour)

func newScanTicket(id string, expiresAt time.Time) storage.ScanTicket {
	return storage.ScanTicket{
		ID:          id,
		BrowserHash: []byte("browser-hash-" + id),
		ClientID:    "client-a",
		AppID:       "wx-miniprogram",
		Request:     "client_id=client-a&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb&scope=openid&state=" + id,
		Status:      storage.ScanPending,
		CreatedAt:   baseTime,
		UpdatedAt:   baseTime,
		ExpiresAt:   expiresAt,
	}
}

// checkStoredScanTicket reads the ticket, which must exist, and compares it
// with want.
func checkStoredScanTicket(t *testing.T, s storage.Storage, what string, want storage.ScanTicket) {
	t.Helper()
	got, err := s.GetScanTicket(t.Context(), want.ID)
	mustNoErr(t, "get "+what, err)
	checkRecord(t, what, got, want)
}

func testScanTicketCRUD(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	_, err := s.GetScanTicket(ctx, "absent")
	mustErrIs(t, "get absent", err, storage.ErrNotFound)

	// Every field round-trips, whatever the status and account.
	full := newScanTicket("full", scanNow.Add(time.Minute))
	full.Status, full.AccountID = storage.ScanScanned, "account-a"
	full.UpdatedAt = baseTime.Add(time.Second)
	mustNoErr(t, "create", s.CreateScanTicket(ctx, full))
	checkStoredScanTicket(t, s, "created", full)

	dup := newScanTicket("full", scanNow.Add(time.Hour))
	dup.ClientID = "client-b"
	mustErrIs(t, "create duplicate", s.CreateScanTicket(ctx, dup), storage.ErrAlreadyExists)
	checkStoredScanTicket(t, s, "after duplicate", full)

	// Empty bytes read back nil; zero times come back zero.
	bare := storage.ScanTicket{ID: "bare", BrowserHash: []byte{}, Status: storage.ScanPending}
	mustNoErr(t, "create bare", s.CreateScanTicket(ctx, bare))
	bare.BrowserHash = nil
	checkStoredScanTicket(t, s, "bare", bare)

	// UpdatedAt starts at CreatedAt when not given.
	fresh := newScanTicket("fresh", scanNow.Add(time.Minute))
	fresh.UpdatedAt = time.Time{}
	mustNoErr(t, "create without UpdatedAt", s.CreateScanTicket(ctx, fresh))
	fresh.UpdatedAt = fresh.CreatedAt
	checkStoredScanTicket(t, s, "without UpdatedAt", fresh)

	// The longest scene a mini-program code holds.
	long := newScanTicket(strings.Repeat("s", 32), time.Time{})
	mustNoErr(t, "create 32-byte ID", s.CreateScanTicket(ctx, long))
	checkStoredScanTicket(t, s, "32-byte ID", long)
}

// testScanTicketValidation: malformed input is refused, and nothing of it
// is stored.
func testScanTicketValidation(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustNoErr(t, "create", s.CreateScanTicket(ctx, newScanTicket("valid", scanNow.Add(time.Minute))))
	withID := func(id string) storage.ScanTicket { return newScanTicket(id, scanNow.Add(time.Minute)) }
	withStatus := func(id string, st storage.ScanStatus) storage.ScanTicket {
		tk := withID(id)
		tk.Status = st
		return tk
	}
	update := func(to storage.ScanStatus) func() error {
		return func() error {
			_, err := s.UpdateScanTicket(ctx, "valid", []storage.ScanStatus{storage.ScanPending}, to, "account-a", scanNow)
			return err
		}
	}
	tests := []struct {
		name string
		id   string // checked absent afterwards, unless empty
		call func() error
	}{
		{"empty ID", "", func() error { return s.CreateScanTicket(ctx, withID("")) }},
		{"ID of 33 bytes", strings.Repeat("x", 33), func() error { return s.CreateScanTicket(ctx, withID(strings.Repeat("x", 33))) }},
		{"ID of 33 bytes in 32 characters", strings.Repeat("y", 31) + "é", func() error {
			return s.CreateScanTicket(ctx, withID(strings.Repeat("y", 31)+"é"))
		}},
		{"empty status", "no-status", func() error { return s.CreateScanTicket(ctx, withStatus("no-status", "")) }},
		{"unknown status", "expired", func() error { return s.CreateScanTicket(ctx, withStatus("expired", "expired")) }},
		{"status in the wrong case", "caps", func() error { return s.CreateScanTicket(ctx, withStatus("caps", "Pending")) }},
		{"update to the empty status", "", update("")},
		{"update to an unknown status", "", update("confirmed")},
		{"list with zero limit", "", func() error { _, err := s.ListScanTicketsUpdatedSince(ctx, time.Time{}, 0); return err }},
		{"list with negative limit", "", func() error { _, err := s.ListScanTicketsUpdatedSince(ctx, time.Time{}, -1); return err }},
		{"delete expired with zero limit", "", func() error { _, err := s.DeleteExpiredScanTickets(ctx, scanNow, 0); return err }},
		{"delete expired with negative limit", "", func() error { _, err := s.DeleteExpiredScanTickets(ctx, scanNow, -1); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("accepted")
			}
			if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
				t.Errorf("refused as %v, want a validation error", err)
			}
			if tc.id != "" {
				_, err := s.GetScanTicket(ctx, tc.id)
				mustErrIs(t, "get refused ticket", err, storage.ErrNotFound)
			}
		})
	}
	// The refused updates left the ticket alone.
	checkStoredScanTicket(t, s, "after refused updates", newScanTicket("valid", scanNow.Add(time.Minute)))
	got, err := s.ListScanTicketsUpdatedSince(ctx, time.Time{}, 10)
	mustNoErr(t, "list", err)
	if len(got) != 1 {
		t.Errorf("%d tickets stored, want only the valid one", len(got))
	}
}

// testUpdateScanTicket walks every transition of docs/contract.md §1.6 and
// the refusals: each case starts from a ticket of its own.
func testUpdateScanTicket(t *testing.T, s storage.Storage) {
	var (
		pending  = storage.ScanPending
		scanned  = storage.ScanScanned
		approved = storage.ScanApproved
		denied   = storage.ScanDenied
		used     = storage.ScanUsed
	)
	type state struct {
		status  storage.ScanStatus
		account string
	}
	tests := []struct {
		name    string
		start   state
		from    []storage.ScanStatus
		to      storage.ScanStatus
		account string
		want    state // the ticket afterwards
		wantErr error
	}{
		// Legal transitions.
		{"scan", state{pending, ""}, []storage.ScanStatus{pending}, scanned, "acct-a", state{scanned, "acct-a"}, nil},
		{"approve", state{scanned, "acct-a"}, []storage.ScanStatus{scanned}, approved, "acct-a", state{approved, "acct-a"}, nil},
		{"approve without scanning first", state{pending, ""}, []storage.ScanStatus{pending, scanned}, approved, "acct-a", state{approved, "acct-a"}, nil},
		{"approve a scanned ticket, either from", state{scanned, "acct-a"}, []storage.ScanStatus{pending, scanned}, approved, "acct-a", state{approved, "acct-a"}, nil},
		{"deny after scanning", state{scanned, "acct-a"}, []storage.ScanStatus{pending, scanned}, denied, "acct-a", state{denied, "acct-a"}, nil},
		{"deny without scanning", state{pending, ""}, []storage.ScanStatus{pending, scanned}, denied, "acct-b", state{denied, "acct-b"}, nil},
		{"use, account kept", state{approved, "acct-a"}, []storage.ScanStatus{approved}, used, "", state{used, "acct-a"}, nil},
		{"use naming the same account", state{approved, "acct-a"}, []storage.ScanStatus{approved}, used, "acct-a", state{used, "acct-a"}, nil},
		{"scan again, same status", state{scanned, "acct-a"}, []storage.ScanStatus{pending, scanned}, scanned, "acct-a", state{scanned, "acct-a"}, nil},
		{"status change without an account", state{pending, ""}, []storage.ScanStatus{pending}, scanned, "", state{scanned, ""}, nil},

		// Refusals: the ticket stays as it was.
		{"another account approves", state{scanned, "acct-a"}, []storage.ScanStatus{scanned}, approved, "acct-b", state{scanned, "acct-a"}, storage.ErrConflict},
		{"another account scans", state{scanned, "acct-a"}, []storage.ScanStatus{pending, scanned}, scanned, "acct-b", state{scanned, "acct-a"}, storage.ErrConflict},
		{"approve twice", state{approved, "acct-a"}, []storage.ScanStatus{pending, scanned}, approved, "acct-a", state{approved, "acct-a"}, storage.ErrConflict},
		{"use twice", state{used, "acct-a"}, []storage.ScanStatus{approved}, used, "", state{used, "acct-a"}, storage.ErrConflict},
		{"use a denied ticket", state{denied, "acct-a"}, []storage.ScanStatus{approved}, used, "", state{denied, "acct-a"}, storage.ErrConflict},
		{"approve a denied ticket", state{denied, "acct-a"}, []storage.ScanStatus{pending, scanned}, approved, "acct-a", state{denied, "acct-a"}, storage.ErrConflict},
		{"use before approval", state{scanned, "acct-a"}, []storage.ScanStatus{approved}, used, "", state{scanned, "acct-a"}, storage.ErrConflict},
		{"empty from", state{pending, ""}, nil, scanned, "acct-a", state{pending, ""}, storage.ErrConflict},
	}
	ctx := t.Context()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := newScanTicket(fmt.Sprintf("transition-%d", i), scanNow.Add(time.Minute))
			start.Status, start.AccountID = tc.start.status, tc.start.account
			mustNoErr(t, "create", s.CreateScanTicket(ctx, start))
			got, err := s.UpdateScanTicket(ctx, start.ID, tc.from, tc.to, tc.account, scanNow)
			want := start
			want.Status, want.AccountID = tc.want.status, tc.want.account
			if tc.wantErr != nil {
				mustErrIs(t, "update", err, tc.wantErr)
				checkStoredScanTicket(t, s, "refused", want)
				return
			}
			mustNoErr(t, "update", err)
			want.UpdatedAt = scanNow // moves with the status; CreatedAt does not
			checkRecord(t, "returned", got, want)
			checkStoredScanTicket(t, s, "stored", want)
		})
	}

	// A whole sign-in, UpdatedAt moving at each step.
	tk := newScanTicket("journey", scanNow.Add(time.Hour))
	mustNoErr(t, "create journey", s.CreateScanTicket(ctx, tk))
	steps := []struct {
		from    []storage.ScanStatus
		to      storage.ScanStatus
		account string
	}{
		{[]storage.ScanStatus{pending}, scanned, "acct-j"},
		{[]storage.ScanStatus{pending, scanned}, approved, "acct-j"},
		{[]storage.ScanStatus{approved}, used, ""},
	}
	for i, st := range steps {
		now := scanNow.Add(time.Duration(i) * time.Second)
		got, err := s.UpdateScanTicket(ctx, tk.ID, st.from, st.to, st.account, now)
		mustNoErr(t, fmt.Sprintf("journey step %d", i), err)
		tk.Status, tk.AccountID, tk.UpdatedAt = st.to, "acct-j", now
		checkRecord(t, fmt.Sprintf("journey step %d", i), got, tk)
	}
	checkStoredScanTicket(t, s, "journey's end", tk)

	_, err := s.UpdateScanTicket(ctx, "absent", []storage.ScanStatus{pending}, scanned, "acct-a", scanNow)
	mustErrIs(t, "update absent", err, storage.ErrNotFound)
}

// testScanTicketExpiry: an expired ticket cannot change, and is reported
// absent; it stays readable until cleanup.
func testScanTicketExpiry(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	pending := []storage.ScanStatus{storage.ScanPending}
	tests := []struct {
		name    string
		expires time.Time
		now     time.Time
		wantErr error
	}{
		{"expires at now", scanNow, scanNow, storage.ErrNotFound},
		{"expired before now", scanNow.Add(-time.Minute), scanNow, storage.ErrNotFound},
		{"expires a millisecond after now", scanNow.Add(time.Millisecond), scanNow, nil},
		{"never expires", time.Time{}, scanNow.AddDate(100, 0, 0), nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := newScanTicket(fmt.Sprintf("expiry-%d", i), tc.expires)
			mustNoErr(t, "create", s.CreateScanTicket(ctx, tk))
			got, err := s.UpdateScanTicket(ctx, tk.ID, pending, storage.ScanScanned, "acct-a", tc.now)
			if tc.wantErr != nil {
				mustErrIs(t, "update", err, tc.wantErr)
				checkStoredScanTicket(t, s, "expired, unchanged", tk)
				return
			}
			mustNoErr(t, "update", err)
			tk.Status, tk.AccountID, tk.UpdatedAt = storage.ScanScanned, "acct-a", tc.now
			checkRecord(t, "updated", got, tk)
		})
	}

	// Expiry wins over a status or account mismatch: the ticket is gone
	// for every caller alike.
	tk := newScanTicket("expired-approved", scanNow)
	tk.Status, tk.AccountID = storage.ScanApproved, "acct-a"
	mustNoErr(t, "create expired approved", s.CreateScanTicket(ctx, tk))
	_, err := s.UpdateScanTicket(ctx, tk.ID, pending, storage.ScanScanned, "acct-b", scanNow)
	mustErrIs(t, "update expired, wrong status and account", err, storage.ErrNotFound)
}

func testListScanTicketsUpdatedSince(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	t0 := scanNow
	got, err := s.ListScanTicketsUpdatedSince(ctx, time.Time{}, 10)
	mustNoErr(t, "list empty", err)
	if len(got) != 0 {
		t.Fatalf("empty store: %d tickets", len(got))
	}
	// Created out of order; "b" and "c" share an UpdatedAt, so ID breaks the tie.
	updated := map[string]time.Time{
		"d": t0.Add(3 * time.Millisecond),
		"c": t0.Add(2 * time.Millisecond),
		"a": t0.Add(time.Millisecond),
		"b": t0.Add(2 * time.Millisecond),
		"e": t0.Add(4 * time.Millisecond),
	}
	want := map[string]storage.ScanTicket{}
	for _, id := range []string{"d", "c", "a", "b", "e"} {
		tk := newScanTicket(id, scanNow.Add(time.Hour))
		tk.UpdatedAt = updated[id]
		want[id] = tk
		mustNoErr(t, "create "+id, s.CreateScanTicket(ctx, tk))
	}
	ordered := func(ids ...string) []storage.ScanTicket {
		var out []storage.ScanTicket
		for _, id := range ids {
			out = append(out, want[id])
		}
		return out
	}
	tests := []struct {
		name  string
		since time.Time
		limit int
		want  []storage.ScanTicket
	}{
		{"all since the zero time", time.Time{}, 10, ordered("a", "b", "c", "d", "e")},
		{"limit", time.Time{}, 3, ordered("a", "b", "c")},
		{"limit one", time.Time{}, 1, ordered("a")},
		{"strictly after since", t0.Add(time.Millisecond), 10, ordered("b", "c", "d", "e")},
		{"ties after since", t0.Add(2 * time.Millisecond), 10, ordered("d", "e")},
		{"just before a tie", t0.Add(2*time.Millisecond - time.Microsecond), 10, ordered("b", "c", "d", "e")},
		{"nothing after the last", t0.Add(4 * time.Millisecond), 10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListScanTicketsUpdatedSince(ctx, tc.since, tc.limit)
			mustNoErr(t, "list", err)
			checkRecords(t, "listed", got, tc.want)
		})
	}

	// An update moves the ticket to the end of the order.
	moved, err := s.UpdateScanTicket(ctx, "a", []storage.ScanStatus{storage.ScanPending}, storage.ScanScanned, "acct-a",
		t0.Add(5*time.Millisecond))
	mustNoErr(t, "update a", err)
	want["a"] = moved
	got, err = s.ListScanTicketsUpdatedSince(ctx, t0.Add(3*time.Millisecond), 10)
	mustNoErr(t, "list after update", err)
	checkRecords(t, "listed after update", got, ordered("e", "a"))
}

func testDeleteExpiredScanTickets(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	expiring := map[string]time.Time{
		"exp-2": scanNow.Add(-2 * time.Minute),
		"exp-1": scanNow.Add(-time.Minute),
		"at":    scanNow, // expired at now
		"live":  scanNow.Add(time.Minute),
		"never": {},
	}
	for id, exp := range expiring {
		tk := newScanTicket(id, exp)
		if id == "exp-1" {
			tk.Status, tk.AccountID = storage.ScanApproved, "acct-a" // whatever the status
		}
		mustNoErr(t, "create "+id, s.CreateScanTicket(ctx, tk))
	}
	del := func() (int64, error) { return s.DeleteExpiredScanTickets(ctx, scanNow, 2) }
	checkDeleteBatches(t, del, 1, 2)
	// Oldest first: "at" survived the first batch.
	checkStoredScanTicket(t, s, "at after the first batch", newScanTicket("at", expiring["at"]))
	for _, id := range []string{"exp-2", "exp-1"} {
		_, err := s.GetScanTicket(ctx, id)
		mustErrIs(t, "get "+id+" after the first batch", err, storage.ErrNotFound)
	}
	checkDeleteBatches(t, del, 2, 1, 0)
	for id, exp := range expiring {
		_, err := s.GetScanTicket(ctx, id)
		if id == "live" || id == "never" {
			checkStoredScanTicket(t, s, "kept "+id, newScanTicket(id, exp))
		} else {
			mustErrIs(t, "get deleted "+id, err, storage.ErrNotFound)
		}
	}
}

// UpdateScanTicket honours a transaction: rolled back, the ticket is as it
// was; inside, the change is seen.
func testUpdateScanTicketTx(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	tk := newScanTicket("ticket-tx", scanNow.Add(time.Minute))
	mustNoErr(t, "create", s.CreateScanTicket(ctx, tk))
	txCtx, err := s.BeginTx(ctx)
	mustNoErr(t, "begin", err)
	_, err = s.UpdateScanTicket(txCtx, tk.ID, []storage.ScanStatus{storage.ScanPending}, storage.ScanScanned, "acct-a", scanNow)
	mustNoErr(t, "update in tx", err)
	got, err := s.GetScanTicket(txCtx, tk.ID)
	mustNoErr(t, "get in tx", err)
	if got.Status != storage.ScanScanned || got.AccountID != "acct-a" {
		t.Errorf("in tx: status %q, account %q; want scanned by acct-a", got.Status, got.AccountID)
	}
	// The second step of the same transaction sees the first.
	_, err = s.UpdateScanTicket(txCtx, tk.ID, []storage.ScanStatus{storage.ScanScanned}, storage.ScanApproved, "acct-a", scanNow)
	mustNoErr(t, "approve in tx", err)
	_, err = s.UpdateScanTicket(txCtx, tk.ID, []storage.ScanStatus{storage.ScanScanned}, storage.ScanApproved, "acct-a", scanNow)
	mustErrIs(t, "approve again in tx", err, storage.ErrConflict)
	mustNoErr(t, "rollback", s.Rollback(txCtx))
	checkStoredScanTicket(t, s, "after rollback", tk)

	// Committed, the change stays.
	err = inTx(ctx, s, func(ctx context.Context) error {
		_, err := s.UpdateScanTicket(ctx, tk.ID, []storage.ScanStatus{storage.ScanPending}, storage.ScanScanned, "acct-a", scanNow)
		return err
	})
	mustNoErr(t, "update in committed tx", err)
	tk.Status, tk.AccountID, tk.UpdatedAt = storage.ScanScanned, "acct-a", scanNow
	checkStoredScanTicket(t, s, "after commit", tk)
}

// testConcurrentUpdateScanTicket races phones approving one ticket: exactly
// one wins, every other one gets ErrConflict, and the ticket records the
// winner.
func testConcurrentUpdateScanTicket(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	from := []storage.ScanStatus{storage.ScanPending, storage.ScanScanned}
	for round := range 4 {
		tk := newScanTicket(fmt.Sprintf("contested%d", round), scanNow.Add(time.Minute))
		sameAccount := round%2 == 1
		if sameAccount {
			// Scanned already: every racer is the person who scanned.
			tk.Status, tk.AccountID = storage.ScanScanned, "acct-scanner"
		}
		mustNoErr(t, "create", s.CreateScanTicket(ctx, tk))
		account := func(i int) string {
			if sameAccount {
				return "acct-scanner"
			}
			return fmt.Sprintf("acct-%d", i)
		}
		got := make([]storage.ScanTicket, concurrency)
		errs := race(concurrency, func(i int) error {
			now := scanNow.Add(time.Duration(i) * time.Millisecond)
			// Half in a transaction of their own, as a handler would.
			if i%2 == 0 {
				var err error
				got[i], err = s.UpdateScanTicket(ctx, tk.ID, from, storage.ScanApproved, account(i), now)
				return err
			}
			return inTx(ctx, s, func(ctx context.Context) error {
				var err error
				got[i], err = s.UpdateScanTicket(ctx, tk.ID, from, storage.ScanApproved, account(i), now)
				return err
			})
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("round %d: updates %d and %d both won", round, winner, i)
				}
				winner = i
			case errors.Is(err, storage.ErrConflict):
			default:
				t.Errorf("round %d: update %d: unexpected error %v (want nil or ErrConflict)", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no update won", round)
		}
		want := tk
		want.Status, want.AccountID = storage.ScanApproved, account(winner)
		want.UpdatedAt = scanNow.Add(time.Duration(winner) * time.Millisecond)
		checkRecord(t, fmt.Sprintf("round %d: winner %d", round, winner), got[winner], want)
		checkStoredScanTicket(t, s, fmt.Sprintf("round %d: after the race", round), want)
	}
}
