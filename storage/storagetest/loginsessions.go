package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

func newLoginSession(id, accountID string, createdAt time.Time) storage.LoginSession {
	return storage.LoginSession{
		ID:         hashSig("cookie-" + id),
		AccountID:  accountID,
		AuthTime:   createdAt.Add(-time.Second),
		AMR:        []string{"wechat", "qr"},
		AppID:      "wx-website",
		CreatedAt:  createdAt,
		LastSeenAt: createdAt,
		ExpiresAt:  createdAt.Add(24 * time.Hour),
	}
}

// checkSessionClients compares a session's linked clients with want (nil
// for none).
func checkSessionClients(t *testing.T, s storage.Storage, what, id string, want []string) {
	t.Helper()
	got, err := s.ListLoginSessionClients(t.Context(), id)
	mustNoErr(t, what, err)
	if !slices.Equal(got, want) || (want == nil && got != nil) {
		t.Errorf("%s: clients %#v, want %#v", what, got, want)
	}
}

func testLoginSessionCRUD(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	absent := hashSig("cookie-absent")
	_, err := s.GetLoginSession(ctx, absent)
	mustErrIs(t, "get absent", err, storage.ErrNotFound)
	mustErrIs(t, "touch absent", s.TouchLoginSession(ctx, absent, baseTime), storage.ErrNotFound)
	mustErrIs(t, "delete absent", s.DeleteLoginSession(ctx, absent), storage.ErrNotFound)
	mustErrIs(t, "add client to absent", s.AddLoginSessionClient(ctx, absent, "client-a"), storage.ErrNotFound)
	checkSessionClients(t, s, "clients of absent", absent, nil)

	ls := newLoginSession("1", "account-1", baseTime)
	mustNoErr(t, "create", s.CreateLoginSession(ctx, ls))
	got, err := s.GetLoginSession(ctx, ls.ID)
	mustNoErr(t, "get", err)
	checkRecord(t, "get", got, ls)

	dup := newLoginSession("1", "account-2", baseTime.Add(time.Hour))
	mustErrIs(t, "create duplicate", s.CreateLoginSession(ctx, dup), storage.ErrAlreadyExists)
	got, err = s.GetLoginSession(ctx, ls.ID)
	mustNoErr(t, "get after duplicate", err)
	checkRecord(t, "after duplicate", got, ls)

	// Empty lists and zero times read back nil and zero.
	bare := storage.LoginSession{ID: hashSig("cookie-bare"), AccountID: "account-1", AMR: []string{}}
	mustNoErr(t, "create bare", s.CreateLoginSession(ctx, bare))
	got, err = s.GetLoginSession(ctx, bare.ID)
	mustNoErr(t, "get bare", err)
	bare.AMR = nil
	checkRecord(t, "bare", got, bare)

	seen := baseTime.Add(30 * time.Minute)
	mustNoErr(t, "touch", s.TouchLoginSession(ctx, ls.ID, seen))
	mustNoErr(t, "touch again at the same instant", s.TouchLoginSession(ctx, ls.ID, seen))
	touched := ls
	touched.LastSeenAt = seen
	got, err = s.GetLoginSession(ctx, ls.ID)
	mustNoErr(t, "get touched", err)
	checkRecord(t, "touched", got, touched)
	got, err = s.GetLoginSession(ctx, bare.ID)
	mustNoErr(t, "get bare after touch", err)
	checkRecord(t, "bare after touching another", got, bare)

	checkSessionClients(t, s, "no clients yet", ls.ID, nil)
	for _, c := range []string{"client-b", "client-a", "client-b"} {
		mustNoErr(t, "add "+c, s.AddLoginSessionClient(ctx, ls.ID, c))
	}
	checkSessionClients(t, s, "clients (ordered, once each)", ls.ID, []string{"client-a", "client-b"})
	mustNoErr(t, "add to bare", s.AddLoginSessionClient(ctx, bare.ID, "client-c"))
	checkSessionClients(t, s, "clients of bare", bare.ID, []string{"client-c"})

	mustNoErr(t, "delete", s.DeleteLoginSession(ctx, ls.ID))
	_, err = s.GetLoginSession(ctx, ls.ID)
	mustErrIs(t, "get deleted", err, storage.ErrNotFound)
	mustErrIs(t, "delete again", s.DeleteLoginSession(ctx, ls.ID), storage.ErrNotFound)
	checkSessionClients(t, s, "clients of deleted", ls.ID, nil)
	checkSessionClients(t, s, "clients of bare after deleting another", bare.ID, []string{"client-c"})

	// A session re-created under the same ID inherits no link.
	mustNoErr(t, "re-create", s.CreateLoginSession(ctx, ls))
	checkSessionClients(t, s, "clients of re-created", ls.ID, nil)
}

func testAccountLoginSessions(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	list, err := s.ListAccountLoginSessions(ctx, "account-1")
	mustNoErr(t, "list none", err)
	if list != nil {
		t.Errorf("list none: %#v, want nil", list)
	}

	// Created out of order; two share a creation time (then ordered by ID).
	old := newLoginSession("old", "account-1", baseTime)
	mid := newLoginSession("mid", "account-1", baseTime.Add(time.Hour))
	twinA := newLoginSession("twin-a", "account-1", baseTime.Add(2*time.Hour))
	twinB := newLoginSession("twin-b", "account-1", baseTime.Add(2*time.Hour))
	twinA.ID, twinB.ID = "session-twin-a", "session-twin-b"
	other := newLoginSession("other", "account-2", baseTime.Add(3*time.Hour))
	for _, ls := range []storage.LoginSession{mid, twinB, other, old, twinA} {
		mustNoErr(t, "create", s.CreateLoginSession(ctx, ls))
		mustNoErr(t, "link", s.AddLoginSessionClient(ctx, ls.ID, "client-a"))
	}
	list, err = s.ListAccountLoginSessions(ctx, "account-1")
	mustNoErr(t, "list", err)
	checkRecords(t, "list (newest first)", list, []storage.LoginSession{twinA, twinB, mid, old})

	n, err := s.DeleteAccountLoginSessions(ctx, "account-1")
	mustNoErr(t, "delete account sessions", err)
	if n != 4 {
		t.Errorf("delete account sessions removed %d, want 4", n)
	}
	list, err = s.ListAccountLoginSessions(ctx, "account-1")
	mustNoErr(t, "list after delete", err)
	if list != nil {
		t.Errorf("list after delete: %d sessions", len(list))
	}
	for _, ls := range []storage.LoginSession{old, mid, twinA, twinB} {
		_, err := s.GetLoginSession(ctx, ls.ID)
		mustErrIs(t, "get deleted", err, storage.ErrNotFound)
		checkSessionClients(t, s, "links of a deleted session", ls.ID, nil)
	}
	got, err := s.GetLoginSession(ctx, other.ID)
	mustNoErr(t, "other account's session stays", err)
	checkRecord(t, "other account's session", got, other)
	checkSessionClients(t, s, "other account's links", other.ID, []string{"client-a"})

	n, err = s.DeleteAccountLoginSessions(ctx, "account-1")
	if err != nil || n != 0 {
		t.Errorf("delete again: %d, %v; want 0, nil", n, err)
	}
}

func testDeleteExpiredLoginSessions(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := baseTime.Truncate(time.Millisecond).Add(time.Hour)
	expiring := map[string]time.Time{
		"exp-3": now.Add(-3 * time.Minute),
		"exp-2": now.Add(-2 * time.Minute),
		"exp-1": now.Add(-time.Minute),
		"at":    now, // not before now: stays
		"live":  now.Add(time.Minute),
		"never": {},
	}
	for label, exp := range expiring {
		ls := newLoginSession(label, "account-1", baseTime)
		ls.ID = "session-" + label
		ls.ExpiresAt = exp
		mustNoErr(t, "create "+label, s.CreateLoginSession(ctx, ls))
		mustNoErr(t, "link "+label, s.AddLoginSessionClient(ctx, ls.ID, "client-a"))
	}
	for i, want := range []int64{2, 1, 0} {
		n, err := s.DeleteExpiredLoginSessions(ctx, now, 2)
		mustNoErr(t, fmt.Sprintf("delete expired #%d", i+1), err)
		if n != want {
			t.Fatalf("delete expired #%d: deleted %d, want %d", i+1, n, want)
		}
		if i == 0 {
			// Oldest first: exp-1 survives the first batch.
			for label, gone := range map[string]bool{"exp-3": true, "exp-2": true, "exp-1": false} {
				_, err := s.GetLoginSession(ctx, "session-"+label)
				if gone {
					mustErrIs(t, "after first batch: "+label, err, storage.ErrNotFound)
				} else {
					mustNoErr(t, "after first batch: "+label, err)
				}
			}
		}
	}
	for label := range expiring {
		id := "session-" + label
		_, err := s.GetLoginSession(ctx, id)
		if label == "at" || label == "live" || label == "never" {
			mustNoErr(t, "kept "+label, err)
			checkSessionClients(t, s, "links of kept "+label, id, []string{"client-a"})
			continue
		}
		mustErrIs(t, "deleted "+label, err, storage.ErrNotFound)
		checkSessionClients(t, s, "links of deleted "+label, id, nil)
	}
}

// testGetLoginSessionAccount pins the one-read look-up of a login session
// with its account.
func testGetLoginSessionAccount(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	_, _, err := s.GetLoginSessionAccount(ctx, "session-absent")
	mustErrIs(t, "absent session", err, storage.ErrNotFound)
	_, acc, err := s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-ls", "", "k", "account-ls", baseTime))
	mustNoErr(t, "resolve", err)
	ls := newLoginSession("session-ls", acc.ID, baseTime)
	mustNoErr(t, "create login session", s.CreateLoginSession(ctx, ls))
	disableAccount(t, s, acc.ID, true) // a disabled account is returned, for the caller to refuse
	wantSession, err := s.GetLoginSession(ctx, ls.ID)
	mustNoErr(t, "get login session", err)
	wantAccount, err := s.GetAccount(ctx, acc.ID)
	mustNoErr(t, "get account", err)
	gotSession, gotAccount, err := s.GetLoginSessionAccount(ctx, ls.ID)
	mustNoErr(t, "get login session account", err)
	checkRecord(t, "login session", gotSession, wantSession)
	checkRecord(t, "account", gotAccount, wantAccount)
	if !gotAccount.Disabled {
		t.Error("the account's Disabled flag did not come back")
	}
}
