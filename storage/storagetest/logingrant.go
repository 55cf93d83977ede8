package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// loginGrantState is what StoreLoginGrant may change besides the sessions:
// the identity and the account.
type loginGrantState struct {
	identity storage.WeChatIdentity
	account  storage.Account
}

// checkUnchanged fails when the identity or the account differs from before.
func checkUnchanged(t *testing.T, s storage.Storage, what string, before loginGrantState) {
	t.Helper()
	after := readLoginGrantState(t, s, before.identity.AppID, before.identity.OpenID, before.account.ID)
	checkRecord(t, "identity "+what, after.identity, before.identity)
	checkRecord(t, "account "+what, after.account, before.account)
}

func readLoginGrantState(t *testing.T, s storage.Storage, appID, openID, accountID string) loginGrantState {
	t.Helper()
	id, err := s.GetWeChatIdentity(t.Context(), appID, openID)
	mustNoErr(t, "get identity", err)
	acc, err := s.GetAccount(t.Context(), accountID)
	mustNoErr(t, "get account", err)
	return loginGrantState{identity: id, account: acc}
}

// testStoreLoginGrant pins that StoreLoginGrant stores what
// RecordWeChatLogin, SetAccountPhone and CreateTokenSessions would, and
// that a refusal stores none of it.
func testStoreLoginGrant(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	h := holderFixture(t, s, "client-grant", "openid-grant", "account-grant")
	phone := func(n int) *storage.AccountPhone {
		return &storage.AccountPhone{Encrypted: []byte{byte(n), 0xff}, Hash: fmt.Sprintf("phone-hash-%d", n),
			Source: "phone_code", VerifiedAt: baseTime.Add(time.Duration(n) * time.Hour)}
	}
	at := func(m int) time.Time { return baseTime.Add(time.Duration(m) * time.Minute) }

	// The same logins through RecordWeChatLogin on a twin identity give the
	// identity StoreLoginGrant must store.
	twin := holderFixture(t, s, "client-twin", "openid-twin", "account-twin")
	for i, tc := range []struct {
		name  string
		login storage.WeChatLogin
		phone *storage.AccountPhone
	}{
		{"new key, unionid learned", login("wx-app-1", "", "union-grant", "K2", "", at(1)), nil},
		{"same key, a phone", login("wx-app-1", "", "", "K2", "", at(2)), phone(1)},
		{"no key, another phone", login("wx-app-1", "", "", "", "", at(3)), phone(2)},
		{"new key again", login("wx-app-1", "", "", "K3", "", at(4)), nil},
	} {
		l := tc.login
		l.OpenID = "openid-twin"
		mustNoErr(t, tc.name+": record twin", s.RecordWeChatLogin(ctx, l, twin.Subject))
		before := readLoginGrantState(t, s, "wx-app-1", "openid-grant", h.Subject)
		l.OpenID = "openid-grant"
		sessions := issuance(h, fmt.Sprintf("grant-%d", i))
		if i == 3 {
			sessions = sessions[:1] // a grant without offline_access
		}
		mustNoErr(t, tc.name, s.StoreLoginGrant(ctx, storage.LoginGrant{Login: l, Phone: tc.phone, Holder: h, Sessions: sessions}))
		checkIssued(t, s, tc.name, sessions, true)
		got := readLoginGrantState(t, s, "wx-app-1", "openid-grant", h.Subject)
		want, err := s.GetWeChatIdentity(ctx, "wx-app-1", "openid-twin")
		mustNoErr(t, "get twin", err)
		want.OpenID, want.AccountID, want.CreatedAt = got.identity.OpenID, got.identity.AccountID, got.identity.CreatedAt
		checkRecord(t, tc.name+": identity", got.identity, want)
		wantAcc := before.account
		if tc.phone != nil {
			p := tc.phone
			wantAcc.PhoneEncrypted, wantAcc.PhoneHash, wantAcc.PhoneSource, wantAcc.PhoneVerifiedAt = p.Encrypted, p.Hash, p.Source, p.VerifiedAt
			wantAcc.UpdatedAt = p.VerifiedAt
		}
		checkRecord(t, tc.name+": account", got.account, wantAcc)
	}

	// Refusals, each with and without a phone: nothing is stored.
	mustNoErr(t, "create client", s.CreateClient(ctx, newClient("client-off")))
	disableClient(t, s, "client-off", true)
	mover := holderFixture(t, s, "client-mover", "openid-elsewhere", "account-elsewhere")
	refused := []struct {
		name   string
		holder storage.TokenHolder
		openID string
		setup  func()
		undo   func()
		want   error
	}{
		{name: "identity of another account", holder: mover, openID: "openid-grant", want: storage.ErrConflict},
		{name: "absent identity", holder: h, openID: "openid-absent", want: storage.ErrConflict},
		{name: "absent identity and client", holder: storage.TokenHolder{ClientID: "client-absent", Subject: h.Subject}, openID: "openid-absent", want: storage.ErrConflict},
		{name: "absent client", holder: storage.TokenHolder{ClientID: "client-absent", Subject: h.Subject}, openID: "openid-grant", want: storage.ErrClientInactive},
		{name: "disabled client", holder: storage.TokenHolder{ClientID: "client-off", Subject: h.Subject}, openID: "openid-grant", want: storage.ErrClientInactive},
		{
			name: "disabled account", holder: h, openID: "openid-grant", want: storage.ErrAccountInactive,
			setup: func() { disableAccount(t, s, h.Subject, true) }, undo: func() { disableAccount(t, s, h.Subject, false) },
		},
		{
			name: "disabled account and client", holder: storage.TokenHolder{ClientID: "client-off", Subject: h.Subject}, openID: "openid-grant", want: storage.ErrClientInactive,
			setup: func() { disableAccount(t, s, h.Subject, true) }, undo: func() { disableAccount(t, s, h.Subject, false) },
		},
	}
	for i, tc := range refused {
		for _, p := range []*storage.AccountPhone{nil, phone(10 + i)} {
			name := tc.name
			if p != nil {
				name += ", with a phone"
			}
			t.Run(name, func(t *testing.T) {
				if tc.setup != nil {
					tc.setup()
					defer tc.undo()
				}
				before := readLoginGrantState(t, s, "wx-app-1", "openid-grant", h.Subject)
				sessions := issuance(tc.holder, fmt.Sprintf("refused-%d-%v", i, p != nil))
				l := login("wx-app-1", tc.openID, "union-other", "K-refused", "", at(30))
				err := s.StoreLoginGrant(ctx, storage.LoginGrant{Login: l, Phone: p, Holder: tc.holder, Sessions: sessions})
				mustErrIs(t, "store", err, tc.want)
				checkIssued(t, s, "refused", sessions, false)
				checkUnchanged(t, s, "after a refusal", before)
			})
		}
	}

	// Invalid grants are errors and store nothing.
	l := login("wx-app-1", "openid-grant", "", "K-invalid", "", at(40))
	before := readLoginGrantState(t, s, "wx-app-1", "openid-grant", h.Subject)
	other := issuance(storage.TokenHolder{ClientID: h.ClientID, Subject: "account-other"}, "invalid-other")
	for name, g := range map[string]storage.LoginGrant{
		"no account":      {Login: l, Holder: storage.TokenHolder{ClientID: h.ClientID}, Sessions: issuance(storage.TokenHolder{ClientID: h.ClientID}, "invalid-none")},
		"no session":      {Login: l, Holder: h, Phone: phone(40)},
		"other's session": {Login: l, Holder: h, Phone: phone(41), Sessions: other},
	} {
		if err := s.StoreLoginGrant(ctx, g); err == nil {
			t.Errorf("StoreLoginGrant(%s) = nil, want an error", name)
		}
		checkIssued(t, s, name, g.Sessions, false)
	}
	checkUnchanged(t, s, "after invalid grants", before)

	// A duplicate signature fails the whole grant.
	dup := issuance(h, "dup")
	dup[1].Signature = issuance(h, "grant-0")[1].Signature
	mustErrIs(t, "duplicate signature", s.StoreLoginGrant(ctx, storage.LoginGrant{Login: l, Phone: phone(42), Holder: h, Sessions: dup}), storage.ErrAlreadyExists)
	checkIssued(t, s, "after the duplicate", dup[:1], false)
	checkUnchanged(t, s, "after the duplicate", before)

	// In a transaction that rolls back, nothing stays.
	rolled := issuance(h, "rolled-back")
	tx, err := s.BeginTx(ctx)
	mustNoErr(t, "begin", err)
	mustNoErr(t, "store in a transaction", s.StoreLoginGrant(tx, storage.LoginGrant{Login: l, Phone: phone(43), Holder: h, Sessions: rolled}))
	mustNoErr(t, "rollback", s.Rollback(tx))
	checkIssued(t, s, "rolled back", rolled, false)
	checkUnchanged(t, s, "after the rollback", before)
}

// testStoreLoginGrantHoldsAccount pins CreateTokenSessions' race for
// StoreLoginGrant, with and without a phone: a disable-then-revoke racing
// a grant stored in a transaction waits for it, and revokes its tokens.
func testStoreLoginGrantHoldsAccount(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	for i, p := range []*storage.AccountPhone{nil, {Encrypted: []byte{1}, Hash: "h", Source: "phone_code", VerifiedAt: baseTime}} {
		h := holderFixture(t, s, fmt.Sprintf("client-hold-%d", i), fmt.Sprintf("openid-hold-%d", i), fmt.Sprintf("account-hold-%d", i))
		tx, err := s.BeginTx(ctx)
		mustNoErr(t, "begin", err)
		defer func() { _ = s.Rollback(tx) }()
		sessions := issuance(h, fmt.Sprintf("held-%d", i))
		l := login("wx-app-1", fmt.Sprintf("openid-hold-%d", i), "", "K2", "", baseTime.Add(time.Minute))
		mustNoErr(t, "store in a transaction", s.StoreLoginGrant(tx, storage.LoginGrant{Login: l, Phone: p, Holder: h, Sessions: sessions}))
		disableWhileHeld(t, s, tx, h.Subject, sessions)
		l.Now = l.Now.Add(time.Minute)
		later := issuance(h, fmt.Sprintf("after-disable-%d", i))
		mustErrIs(t, "store after the disable", s.StoreLoginGrant(ctx, storage.LoginGrant{Login: l, Phone: p, Holder: h, Sessions: later}), storage.ErrAccountInactive)
		checkIssued(t, s, "after the disable", later, false)
	}
}
