package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// holderFixture is a client and an account that tokens may be issued to.
func holderFixture(t *testing.T, s storage.Storage, clientID, openID, accountID string) storage.TokenHolder {
	t.Helper()
	ctx := t.Context()
	mustNoErr(t, "create client", s.CreateClient(ctx, newClient(clientID)))
	_, _, err := s.ResolveWeChatLogin(ctx, login("wx-app-1", openID, "", "k", accountID, baseTime))
	mustNoErr(t, "resolve", err)
	return storage.TokenHolder{ClientID: clientID, Subject: accountID}
}

// issuance returns an access token and the refresh token issued with it to h.
func issuance(h storage.TokenHolder, label string) []storage.TokenSession {
	at := newSession(storage.KindAccessToken, label, "req-"+label)
	rt := newSession(storage.KindRefreshToken, label, "req-"+label)
	rt.AccessTokenSignature = at.Signature
	for _, ts := range []*storage.TokenSession{&at, &rt} {
		ts.ClientID, ts.Subject = h.ClientID, h.Subject
	}
	return []storage.TokenSession{at, rt}
}

// checkIssued checks that every session is stored as given, or none is.
func checkIssued(t *testing.T, s storage.Storage, what string, sessions []storage.TokenSession, stored bool) {
	t.Helper()
	for _, ts := range sessions {
		if stored {
			checkStoredSession(t.Context(), t, s, what, ts.Kind, ts.Signature, ts)
			continue
		}
		_, err := s.GetTokenSession(t.Context(), ts.Kind, ts.Signature)
		mustErrIs(t, what+": "+string(ts.Kind), err, storage.ErrNotFound)
	}
}

func disableAccount(t *testing.T, s storage.Storage, id string, disabled bool) {
	t.Helper()
	_, err := s.UpdateAccount(t.Context(), id, func(a storage.Account) (storage.Account, error) {
		a.Disabled = disabled
		return a, nil
	})
	mustNoErr(t, "update account", err)
}

func disableClient(t *testing.T, s storage.Storage, id string, disabled bool) {
	t.Helper()
	_, err := s.UpdateClient(t.Context(), id, func(c storage.Client) (storage.Client, error) {
		c.Disabled = disabled
		return c, nil
	})
	mustNoErr(t, "update client", err)
}

// disableWhileHeld disables an account and then revokes its tokens, as
// admin.Service.SetAccountDisabled does, while tx (which stored sessions for
// the account) holds it: the disable must wait for tx's commit, and then
// revoke the sessions (an access token is deleted, a refresh token kept
// inactive).
func disableWhileHeld(t *testing.T, s storage.Storage, tx context.Context, accountID string, sessions []storage.TokenSession) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		ctx := context.WithoutCancel(t.Context()) // not tx: the disable is another writer's
		_, err := s.UpdateAccount(ctx, accountID, func(a storage.Account) (storage.Account, error) {
			a.Disabled = true
			return a, nil
		})
		if err == nil {
			_, err = s.RevokeSubjectTokens(ctx, accountID)
		}
		done <- err
	}()
	mustWait(t, done, "the disable", "account")
	mustNoErr(t, "commit", s.Commit(tx))
	mustNoErr(t, "disable and revoke", <-done)
	for _, ts := range sessions {
		want := storage.ErrNotFound
		if ts.Kind == storage.KindRefreshToken {
			want = storage.ErrInactive
		}
		_, err := s.GetTokenSession(t.Context(), ts.Kind, ts.Signature)
		mustErrIs(t, string(ts.Kind)+" stored under the hold, after the revocation", err, want)
	}
}

// mustWait fails if done delivers while a transaction holds the row: the
// concurrent write (what) must wait for it. Correctness does not rest on
// this pause: it only gives a backend that does not hold the row the time to
// finish early, which the caller's checks after the commit catch.
func mustWait(t *testing.T, done <-chan error, what, row string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s (err %v) completed while a transaction held the %s", what, err, row)
	case <-time.After(200 * time.Millisecond):
	}
}

// testCreateTokenSessions pins what CreateTokenSessions stores and refuses:
// all of an issuance or nothing.
func testCreateTokenSessions(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	h := holderFixture(t, s, "client-issue", "openid-issue", "account-issue")

	both := issuance(h, "both")
	mustNoErr(t, "create access and refresh token", s.CreateTokenSessions(ctx, h, both...))
	checkIssued(t, s, "issued", both, true)
	one := issuance(h, "one")[:1]
	mustNoErr(t, "create one token", s.CreateTokenSessions(ctx, h, one...))
	checkIssued(t, s, "issued alone", one, true)

	// client_credentials: no account.
	app := storage.TokenHolder{ClientID: h.ClientID}
	cc := issuance(app, "cc")[:1]
	mustNoErr(t, "create a client's own token", s.CreateTokenSessions(ctx, app, cc...))
	checkIssued(t, s, "client's own token", cc, true)

	refused := []struct {
		name   string
		holder storage.TokenHolder
		setup  func()
		undo   func()
		want   error
	}{
		{name: "absent client", holder: storage.TokenHolder{ClientID: "client-absent", Subject: h.Subject}, want: storage.ErrClientInactive},
		{name: "absent client, no account", holder: storage.TokenHolder{ClientID: "client-absent"}, want: storage.ErrClientInactive},
		{name: "absent account", holder: storage.TokenHolder{ClientID: h.ClientID, Subject: "account-absent"}, want: storage.ErrAccountInactive},
		{
			name: "disabled client", holder: h, want: storage.ErrClientInactive,
			setup: func() { disableClient(t, s, h.ClientID, true) }, undo: func() { disableClient(t, s, h.ClientID, false) },
		},
		{
			name: "disabled account", holder: h, want: storage.ErrAccountInactive,
			setup: func() { disableAccount(t, s, h.Subject, true) }, undo: func() { disableAccount(t, s, h.Subject, false) },
		},
	}
	for i, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
				defer tc.undo()
			}
			sessions := issuance(tc.holder, fmt.Sprintf("refused-%d", i))
			mustErrIs(t, "create", s.CreateTokenSessions(ctx, tc.holder, sessions...), tc.want)
			checkIssued(t, s, "refused", sessions, false)
		})
	}

	// A duplicate signature fails the whole issuance.
	dup := issuance(h, "dup")
	dup[1].Signature = both[1].Signature
	mustErrIs(t, "duplicate refresh signature", s.CreateTokenSessions(ctx, h, dup...), storage.ErrAlreadyExists)
	checkIssued(t, s, "after the duplicate", dup[:1], false)

	// Sessions that are not the holder's, an unknown kind, an empty
	// signature or no session at all are errors, and store nothing.
	other := issuance(storage.TokenHolder{ClientID: h.ClientID, Subject: "account-other"}, "other")
	badKind := issuance(h, "bad-kind")
	badKind[1].Kind = "bogus"
	noSig := issuance(h, "no-sig")
	noSig[1].Signature = ""
	for name, sessions := range map[string][]storage.TokenSession{"other subject": other, "bad kind": badKind, "no signature": noSig, "none": nil} {
		if err := s.CreateTokenSessions(ctx, h, sessions...); err == nil {
			t.Errorf("CreateTokenSessions(%s) = nil, want an error", name)
		}
		checkIssued(t, s, name, sessions[:min(len(sessions), 1)], false)
	}

	// In a transaction that rolls back, nothing stays.
	rolled := issuance(h, "rolled-back")
	tx, err := s.BeginTx(ctx)
	mustNoErr(t, "begin", err)
	mustNoErr(t, "create in a transaction", s.CreateTokenSessions(tx, h, rolled...))
	mustNoErr(t, "rollback", s.Rollback(tx))
	checkIssued(t, s, "rolled back", rolled, false)
}

// testCreateTokenSessionsHoldsAccount pins the race CreateTokenSessions
// closes: an account disable-then-revoke (admin.Service.SetAccountDisabled)
// racing a transaction that issued tokens to the account either is seen by
// the check or revokes those tokens. It never leaves a live token behind for
// a disabled account.
func testCreateTokenSessionsHoldsAccount(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	h := holderFixture(t, s, "client-hold", "openid-hold", "account-hold")
	tx, err := s.BeginTx(ctx)
	mustNoErr(t, "begin", err)
	defer func() { _ = s.Rollback(tx) }()
	sessions := issuance(h, "held")
	mustNoErr(t, "create in a transaction", s.CreateTokenSessions(tx, h, sessions...))

	disableWhileHeld(t, s, tx, h.Subject, sessions)
	later := issuance(h, "after-disable")
	mustErrIs(t, "create after the disable", s.CreateTokenSessions(ctx, h, later...), storage.ErrAccountInactive)
}

// testCreateTokenSessionsHoldsClient pins the same for a DeleteClient.
func testCreateTokenSessionsHoldsClient(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustNoErr(t, "create client", s.CreateClient(ctx, newClient("client-hold")))
	h := storage.TokenHolder{ClientID: "client-hold"}
	tx, err := s.BeginTx(ctx)
	mustNoErr(t, "begin", err)
	defer func() { _ = s.Rollback(tx) }()
	sessions := issuance(h, "held-client")[:1]
	mustNoErr(t, "create in a transaction", s.CreateTokenSessions(tx, h, sessions...))

	done := make(chan error, 1)
	go func() { done <- s.DeleteClient(context.WithoutCancel(ctx), h.ClientID) }()
	mustWait(t, done, "the deletion", "client")
	mustNoErr(t, "commit", s.Commit(tx))
	mustNoErr(t, "delete client", <-done)

	_, err = s.GetTokenSession(ctx, storage.KindAccessToken, sessions[0].Signature)
	mustErrIs(t, "token stored under the hold, after the deletion", err, storage.ErrNotFound)
	mustErrIs(t, "create after the deletion", s.CreateTokenSessions(ctx, h, issuance(h, "after-delete")[:1]...), storage.ErrClientInactive)
}

// testGetWeChatLogin pins the one-read look-up of an identity and its account.
func testGetWeChatLogin(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	_, _, err := s.GetWeChatLogin(ctx, "wx-app-1", "openid-get")
	mustErrIs(t, "absent identity", err, storage.ErrNotFound)
	id, acc, err := s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-get", "union-get", "k", "account-get", baseTime))
	mustNoErr(t, "resolve", err)
	disableAccount(t, s, acc.ID, true)
	acc, err = s.GetAccount(ctx, acc.ID)
	mustNoErr(t, "get account", err)
	gotID, gotAcc, err := s.GetWeChatLogin(ctx, "wx-app-1", "openid-get")
	mustNoErr(t, "get login", err)
	checkRecord(t, "identity", gotID, id)
	checkRecord(t, "account", gotAcc, acc)
	_, _, err = s.GetWeChatLogin(ctx, "wx-app-2", "openid-get")
	mustErrIs(t, "same openid, other app", err, storage.ErrNotFound)
}

// testRecordWeChatLogin replays login sequences through ResolveWeChatLogin
// on one identity and RecordWeChatLogin on another: both must store the
// same unionid, session keys and times.
func testRecordWeChatLogin(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	at := func(m int) time.Time { return baseTime.Add(time.Duration(m) * time.Minute) }
	hashed := func(l storage.WeChatLogin, hash string) storage.WeChatLogin {
		l.SessionKeyHash = []byte(hash)
		return l
	}
	sequences := map[string][]storage.WeChatLogin{
		"new key each time":       {login("", "", "", "K1", "", at(0)), login("", "", "", "K2", "", at(1)), login("", "", "", "K3", "", at(2))},
		"same sealed bytes":       {login("", "", "", "K1", "", at(0)), login("", "", "", "K2", "", at(1)), login("", "", "", "K2", "", at(2))},
		"same hash, fresh seal":   {hashed(login("", "", "", "K1#1", "", at(0)), "h1"), hashed(login("", "", "", "K2#1", "", at(1)), "h2"), hashed(login("", "", "", "K2#2", "", at(2)), "h2")},
		"login without a key":     {login("", "", "", "K1", "", at(0)), login("", "", "", "", "", at(1)), login("", "", "", "K2", "", at(2))},
		"unionid learned later":   {login("", "", "", "K1", "", at(0)), login("", "", "U1", "K1", "", at(1)), login("", "", "U2", "K2", "", at(2))},
		"first login had no key":  {login("", "", "", "", "", at(0)), login("", "", "", "K1", "", at(1))},
		"hash appears on the way": {login("", "", "", "K1", "", at(0)), hashed(login("", "", "", "K2", "", at(1)), "h2"), login("", "", "", "K3", "", at(2))},
		"ends without a key":      {login("", "", "", "K1", "", at(0)), login("", "", "", "K2", "", at(1)), login("", "", "", "", "", at(2))},
		"never a key":             {login("", "", "", "", "", at(0)), login("", "", "", "", "", at(1))},
	}
	n := 0
	for name, logins := range sequences {
		n++
		resolved := fmt.Sprintf("openid-resolve-%d", n)
		recorded := fmt.Sprintf("openid-record-%d", n)
		var (
			accountID string
			keyAt     time.Time // the last login that brought a key
		)
		for i, l := range logins {
			if len(l.SessionKeyEncrypted) > 0 {
				keyAt = l.Now
			}
			l.AppID, l.NewAccountID = "wx-app-1", fmt.Sprintf("account-resolve-%d", n)
			l.OpenID = resolved
			_, _, err := s.ResolveWeChatLogin(ctx, l)
			mustNoErr(t, name+": resolve", err)
			l.OpenID, l.NewAccountID = recorded, fmt.Sprintf("account-record-%d", n)
			if i == 0 {
				_, acc, err := s.ResolveWeChatLogin(ctx, l)
				mustNoErr(t, name+": first login", err)
				accountID = acc.ID
				continue
			}
			mustNoErr(t, name+": record", s.RecordWeChatLogin(ctx, l, accountID))
		}
		want, err := s.GetWeChatIdentity(ctx, "wx-app-1", resolved)
		mustNoErr(t, name+": get resolved", err)
		got, err := s.GetWeChatIdentity(ctx, "wx-app-1", recorded)
		mustNoErr(t, name+": get recorded", err)
		// SessionKeyAt is when the current key was stored: a login without
		// a key (a mobile app's) leaves it.
		if !checkTime(want.SessionKeyAt, keyAt) {
			t.Errorf("%s: SessionKeyAt after ResolveWeChatLogin = %v, want %v", name, want.SessionKeyAt, keyAt)
		}
		want.OpenID, want.AccountID = got.OpenID, accountID
		checkRecord(t, name, got, want)
	}

	// The identity must still be the account's, and must exist.
	l := login("wx-app-1", "openid-record-1", "", "K9", "", at(9))
	mustErrIs(t, "another account", s.RecordWeChatLogin(ctx, l, "account-other"), storage.ErrConflict)
	l.OpenID = "openid-absent"
	mustErrIs(t, "absent identity", s.RecordWeChatLogin(ctx, l, "account-record-1"), storage.ErrConflict)
	_, err := s.GetWeChatIdentity(ctx, "wx-app-1", "openid-absent")
	mustErrIs(t, "absent identity stays absent", err, storage.ErrNotFound)
}

// testSetAccountPhone pins the one-write phone update.
func testSetAccountPhone(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	_, acc, err := s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-phone", "", "k", "account-phone", baseTime))
	mustNoErr(t, "resolve", err)
	p := storage.AccountPhone{Encrypted: []byte{0, 1, 0xff}, Hash: "phone-hash", Source: "phone_code", VerifiedAt: baseTime.Add(time.Hour)}
	mustNoErr(t, "set phone", s.SetAccountPhone(ctx, acc.ID, p))
	want := acc
	want.PhoneEncrypted, want.PhoneHash, want.PhoneSource, want.PhoneVerifiedAt = p.Encrypted, p.Hash, p.Source, p.VerifiedAt
	want.UpdatedAt = p.VerifiedAt
	got, err := s.GetAccount(ctx, acc.ID)
	mustNoErr(t, "get account", err)
	checkRecord(t, "account with a phone", got, want)
	byPhone, err := s.GetAccountByPhoneHash(ctx, "phone-hash")
	mustNoErr(t, "by phone", err)
	checkRecords(t, "accounts by phone", byPhone, []storage.Account{want})
	mustErrIs(t, "absent account", s.SetAccountPhone(ctx, "account-absent", p), storage.ErrNotFound)
}

// testGetAccountIdentity pins the one-read look-up of an account with its
// identity in one app.
func testGetAccountIdentity(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	_, _, err := s.GetAccountIdentity(ctx, "account-absent", "wx-app-1")
	mustErrIs(t, "absent account", err, storage.ErrNotFound)
	id1, acc, err := s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-b", "union-ai", "k1", "account-ai", baseTime))
	mustNoErr(t, "resolve app 1", err)
	id2, _, err := s.ResolveWeChatLogin(ctx, login("wx-app-2", "openid-c", "union-ai", "k2", "account-other", baseTime.Add(time.Minute)))
	mustNoErr(t, "resolve app 2", err)
	if id2.AccountID != acc.ID {
		t.Fatalf("the unionid did not join the account: %s, want %s", id2.AccountID, acc.ID)
	}
	for _, tc := range []struct {
		appID string
		want  storage.WeChatIdentity
	}{
		{"wx-app-1", id1},
		{"wx-app-2", id2},
		{"wx-app-3", storage.WeChatIdentity{}},
		{"", storage.WeChatIdentity{}},
	} {
		gotAcc, gotID, err := s.GetAccountIdentity(ctx, acc.ID, tc.appID)
		mustNoErr(t, "get account identity in "+tc.appID, err)
		checkRecord(t, "account", gotAcc, acc)
		checkRecord(t, "identity in "+tc.appID, gotID, tc.want)
	}
	// Two identities in one app (an openid learned again under the same
	// unionid): the first by openid, as ListWeChatIdentities orders them.
	id0, _, err := s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-a", "union-ai", "k3", "account-other", baseTime.Add(2*time.Minute)))
	mustNoErr(t, "resolve a second openid in app 1", err)
	_, gotID, err := s.GetAccountIdentity(ctx, acc.ID, "wx-app-1")
	mustNoErr(t, "get account identity with two in the app", err)
	checkRecord(t, "first identity by openid", gotID, id0)
}
