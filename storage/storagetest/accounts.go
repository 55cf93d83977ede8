package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

func login(appID, openID, unionID, key, newAccountID string, now time.Time) storage.WeChatLogin {
	return storage.WeChatLogin{
		AppID:               appID,
		OpenID:              openID,
		UnionID:             unionID,
		SessionKeyEncrypted: []byte(key),
		NewAccountID:        newAccountID,
		Now:                 now,
	}
}

func testResolveNewAccount(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := baseTime
	_, err := s.GetWeChatIdentity(ctx, "wx-app-1", "openid-1")
	mustErrIs(t, "get absent identity", err, storage.ErrNotFound)
	_, err = s.GetAccount(ctx, "account-1")
	mustErrIs(t, "get absent account", err, storage.ErrNotFound)

	id, acct, err := s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-1", "", "key-1", "account-1", now))
	mustNoErr(t, "resolve", err)
	wantID := storage.WeChatIdentity{
		AppID:               "wx-app-1",
		OpenID:              "openid-1",
		AccountID:           "account-1",
		SessionKeyEncrypted: []byte("key-1"),
		SessionKeyAt:        now,
		CreatedAt:           now,
		UpdatedAt:           now,
	}
	wantAcct := storage.Account{ID: "account-1", CreatedAt: now, UpdatedAt: now}
	checkRecord(t, "identity", id, wantID)
	checkRecord(t, "account", acct, wantAcct)

	gotID, err := s.GetWeChatIdentity(ctx, "wx-app-1", "openid-1")
	mustNoErr(t, "get identity", err)
	checkRecord(t, "stored identity", gotID, wantID)
	gotAcct, err := s.GetAccount(ctx, "account-1")
	mustNoErr(t, "get account", err)
	checkRecord(t, "stored account", gotAcct, wantAcct)

	// An unknown unionid does not match anything: a second person gets a
	// second account.
	id2, acct2, err := s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-2", "union-2", "key-2", "account-2", now))
	mustNoErr(t, "resolve second", err)
	if id2.AccountID != "account-2" || acct2.ID != "account-2" || id2.UnionID != "union-2" {
		t.Errorf("second login: identity %+v, account %+v; want a new account-2 with union-2", id2, acct2)
	}

	// Creating an account needs an ID.
	if _, _, err := s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-3", "", "key-3", "", now)); err == nil {
		t.Error("resolve without NewAccountID created an account")
	}
	_, err = s.GetWeChatIdentity(ctx, "wx-app-1", "openid-3")
	mustErrIs(t, "identity of the refused login", err, storage.ErrNotFound)
}

func testResolveExistingIdentity(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	t0 := baseTime
	_, _, err := s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-1", "", "key-1", "account-1", t0))
	mustNoErr(t, "first login", err)

	// A new session key rotates current → previous, and a newly learned
	// unionid is recorded. NewAccountID is ignored: the identity keeps its account.
	t1 := t0.Add(time.Hour)
	id, acct, err := s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-1", "union-1", "key-2", "account-ignored", t1))
	mustNoErr(t, "second login", err)
	want := storage.WeChatIdentity{
		AppID:                       "wx-app-1",
		OpenID:                      "openid-1",
		AccountID:                   "account-1",
		UnionID:                     "union-1",
		SessionKeyEncrypted:         []byte("key-2"),
		PreviousSessionKeyEncrypted: []byte("key-1"),
		SessionKeyAt:                t1,
		CreatedAt:                   t0,
		UpdatedAt:                   t1,
	}
	checkRecord(t, "identity after key rotation", id, want)
	checkRecord(t, "account after second login", acct, storage.Account{ID: "account-1", CreatedAt: t0, UpdatedAt: t0})
	got, err := s.GetWeChatIdentity(ctx, "wx-app-1", "openid-1")
	mustNoErr(t, "get identity", err)
	checkRecord(t, "stored identity after key rotation", got, want)
	_, err = s.GetAccount(ctx, "account-ignored")
	mustErrIs(t, "account for an ignored NewAccountID", err, storage.ErrNotFound)

	// The same key again does not rotate (previous survives); SessionKeyAt
	// records the latest fetch. A login without unionid keeps the stored one.
	t2 := t1.Add(time.Hour)
	id, _, err = s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-1", "", "key-2", "account-ignored", t2))
	mustNoErr(t, "third login", err)
	want.SessionKeyAt = t2
	want.UpdatedAt = t2
	checkRecord(t, "identity after unchanged key", id, want)
	got, err = s.GetWeChatIdentity(ctx, "wx-app-1", "openid-1")
	mustNoErr(t, "get identity", err)
	checkRecord(t, "stored identity after unchanged key", got, want)

	// Another rotation drops the oldest key.
	t3 := t2.Add(time.Hour)
	id, _, err = s.ResolveWeChatLogin(ctx, login("wx-app-1", "openid-1", "union-1", "key-3", "account-ignored", t3))
	mustNoErr(t, "fourth login", err)
	want.SessionKeyEncrypted = []byte("key-3")
	want.PreviousSessionKeyEncrypted = []byte("key-2")
	want.SessionKeyAt = t3
	want.UpdatedAt = t3
	checkRecord(t, "identity after second rotation", id, want)
}

// sealedLogin is a login as the provider makes it: the session key sealed
// afresh (a random nonce, so never the same bytes twice) and its keyed hash.
func sealedLogin(appID, openID, key string, seal int, now time.Time) storage.WeChatLogin {
	l := login(appID, openID, "", fmt.Sprintf("sealed(%s)#%d", key, seal), "account-1", now)
	l.SessionKeyHash = []byte("hash(" + key + ")")
	return l
}

// The sequence K1, K2, K2 (a wx.login that keeps the key) must leave K1 as
// the previous key: the unchanged key is recognised by its hash, not by
// sealed bytes that differ on every seal (docs/contract.md §1.1).
func testResolveSameKeyFreshSeal(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	t0 := baseTime
	k1 := sealedLogin("wx-app-1", "openid-1", "K1", 1, t0)
	_, _, err := s.ResolveWeChatLogin(ctx, k1)
	mustNoErr(t, "K1", err)
	k2 := sealedLogin("wx-app-1", "openid-1", "K2", 2, t0.Add(time.Minute))
	_, _, err = s.ResolveWeChatLogin(ctx, k2)
	mustNoErr(t, "K2", err)
	want := storage.WeChatIdentity{
		AppID: "wx-app-1", OpenID: "openid-1", AccountID: "account-1",
		SessionKeyEncrypted:         k2.SessionKeyEncrypted,
		PreviousSessionKeyEncrypted: k1.SessionKeyEncrypted,
		SessionKeyHash:              k2.SessionKeyHash,
		SessionKeyAt:                t0.Add(time.Minute),
		CreatedAt:                   t0,
		UpdatedAt:                   t0.Add(time.Minute),
	}
	for i, at := range []time.Duration{2 * time.Minute, 3 * time.Minute} {
		again := sealedLogin("wx-app-1", "openid-1", "K2", 3+i, t0.Add(at))
		id, _, err := s.ResolveWeChatLogin(ctx, again)
		mustNoErr(t, "K2 again", err)
		want.SessionKeyAt, want.UpdatedAt = t0.Add(at), t0.Add(at)
		checkRecord(t, fmt.Sprintf("identity after K2 sealed afresh (%d)", i+1), id, want)
		got, err := s.GetWeChatIdentity(ctx, "wx-app-1", "openid-1")
		mustNoErr(t, "get identity", err)
		checkRecord(t, "stored identity after K2 sealed afresh", got, want)
	}

	// A new key still rotates, carrying its hash.
	k3 := sealedLogin("wx-app-1", "openid-1", "K3", 5, t0.Add(4*time.Minute))
	id, _, err := s.ResolveWeChatLogin(ctx, k3)
	mustNoErr(t, "K3", err)
	want.SessionKeyEncrypted, want.PreviousSessionKeyEncrypted, want.SessionKeyHash = k3.SessionKeyEncrypted, k2.SessionKeyEncrypted, k3.SessionKeyHash
	want.SessionKeyAt, want.UpdatedAt = t0.Add(4*time.Minute), t0.Add(4*time.Minute)
	checkRecord(t, "identity after K3", id, want)

	// A login of a new identity stores the hash of its first key.
	first, _, err := s.ResolveWeChatLogin(ctx, func() storage.WeChatLogin {
		l := sealedLogin("wx-app-1", "openid-2", "K9", 6, t0)
		l.NewAccountID = "account-2"
		return l
	}())
	mustNoErr(t, "new identity", err)
	if string(first.SessionKeyHash) != "hash(K9)" || first.PreviousSessionKeyEncrypted != nil {
		t.Errorf("new identity: hash %q, previous %q", first.SessionKeyHash, first.PreviousSessionKeyEncrypted)
	}
}

func testResolveKnownUnionID(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	t0 := baseTime
	_, _, err := s.ResolveWeChatLogin(ctx, login("wx-mini", "openid-mini", "union-1", "key-1", "account-1", t0))
	mustNoErr(t, "mini-program login", err)

	// The same person through another app of the open platform joins account-1.
	t1 := t0.Add(time.Minute)
	id, acct, err := s.ResolveWeChatLogin(ctx, login("wx-aaa-web", "openid-web", "union-1", "key-w", "account-2", t1))
	mustNoErr(t, "web login", err)
	wantWeb := storage.WeChatIdentity{
		AppID:               "wx-aaa-web",
		OpenID:              "openid-web",
		AccountID:           "account-1",
		UnionID:             "union-1",
		SessionKeyEncrypted: []byte("key-w"),
		SessionKeyAt:        t1,
		CreatedAt:           t1,
		UpdatedAt:           t1,
	}
	checkRecord(t, "joined identity", id, wantWeb)
	checkRecord(t, "joined account", acct, storage.Account{ID: "account-1", CreatedAt: t0, UpdatedAt: t0})
	_, err = s.GetAccount(ctx, "account-2")
	mustErrIs(t, "account for the unused NewAccountID", err, storage.ErrNotFound)

	// Learning a unionid later also lets later identities join.
	_, _, err = s.ResolveWeChatLogin(ctx, login("wx-mini", "openid-late", "", "key-l", "account-3", t1))
	mustNoErr(t, "login without unionid", err)
	_, _, err = s.ResolveWeChatLogin(ctx, login("wx-mini", "openid-late", "union-3", "key-l2", "account-ignored", t1))
	mustNoErr(t, "login learning unionid", err)
	id, _, err = s.ResolveWeChatLogin(ctx, login("wx-oa", "openid-oa", "union-3", "key-o", "account-4", t1))
	mustNoErr(t, "official-account login", err)
	if id.AccountID != "account-3" {
		t.Errorf("identity with a later-learned unionid joined %q, want account-3", id.AccountID)
	}

	ids, err := s.ListWeChatIdentities(ctx, "account-1")
	mustNoErr(t, "list identities", err)
	mini, err := s.GetWeChatIdentity(ctx, "wx-mini", "openid-mini")
	mustNoErr(t, "get mini identity", err)
	// Ordered by (appid, openid): "wx-aaa-web" < "wx-mini".
	checkRecords(t, "identities of account-1", ids, []storage.WeChatIdentity{wantWeb, mini})

	ids, err = s.ListWeChatIdentities(ctx, "account-unknown")
	mustNoErr(t, "list identities of unknown account", err)
	if len(ids) != 0 {
		t.Errorf("unknown account has %d identities", len(ids))
	}
}

func testAccountLookups(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	for _, id := range []string{"account-b", "account-a", "account-c"} {
		_, _, err := s.ResolveWeChatLogin(ctx, login("wx-app", "openid-"+id, "", "key", id, baseTime))
		mustNoErr(t, "login "+id, err)
	}
	setPhone := func(id, hash string) storage.Account {
		a, err := s.UpdateAccount(ctx, id, func(a storage.Account) (storage.Account, error) {
			a.PhoneEncrypted = []byte("enc:" + hash)
			a.PhoneHash = hash
			a.PhoneSource = "phone_code"
			a.PhoneVerifiedAt = baseTime.Add(time.Minute)
			a.UpdatedAt = baseTime.Add(time.Minute)
			return a, nil
		})
		mustNoErr(t, "set phone of "+id, err)
		return a
	}
	// Numbers are recycled: two accounts may hold the same phone hash.
	b := setPhone("account-b", "hash-shared")
	a := setPhone("account-a", "hash-shared")
	c := setPhone("account-c", "hash-other")

	got, err := s.GetAccountByPhoneHash(ctx, "hash-shared")
	mustNoErr(t, "by shared hash", err)
	slices.SortFunc(got, func(x, y storage.Account) int { return strings.Compare(x.ID, y.ID) })
	checkRecords(t, "accounts by shared hash", got, []storage.Account{a, b})

	got, err = s.GetAccountByPhoneHash(ctx, "hash-other")
	mustNoErr(t, "by other hash", err)
	checkRecords(t, "accounts by other hash", got, []storage.Account{c})

	got, err = s.GetAccountByPhoneHash(ctx, "hash-unknown")
	mustNoErr(t, "by unknown hash", err)
	if len(got) != 0 {
		t.Errorf("unknown hash matched %d accounts", len(got))
	}

	// Accounts without a phone never match the empty hash.
	_, _, err = s.ResolveWeChatLogin(ctx, login("wx-app", "openid-nophone", "", "key", "account-nophone", baseTime))
	mustNoErr(t, "login without phone", err)
	got, err = s.GetAccountByPhoneHash(ctx, "")
	mustNoErr(t, "by empty hash", err)
	if len(got) != 0 {
		t.Errorf("empty hash matched %d accounts", len(got))
	}
}

func testUpdateAccount(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	_, orig, err := s.ResolveWeChatLogin(ctx, login("wx-app", "openid-1", "", "key", "account-1", baseTime))
	mustNoErr(t, "login", err)

	var seen storage.Account
	later := baseTime.Add(time.Hour)
	updated, err := s.UpdateAccount(ctx, "account-1", func(a storage.Account) (storage.Account, error) {
		seen = a
		a.Disabled = true
		a.PhoneEncrypted = []byte{0, 1, 2, 3}
		a.PhoneHash = "hash-1"
		a.PhoneSource = "legacy"
		a.PhoneVerifiedAt = later
		a.UpdatedAt = later
		return a, nil
	})
	mustNoErr(t, "update", err)
	checkRecord(t, "updater input", seen, orig)
	want := orig
	want.Disabled = true
	want.PhoneEncrypted = []byte{0, 1, 2, 3}
	want.PhoneHash = "hash-1"
	want.PhoneSource = "legacy"
	want.PhoneVerifiedAt = later
	want.UpdatedAt = later
	checkRecord(t, "update result", updated, want)
	got, err := s.GetAccount(ctx, "account-1")
	mustNoErr(t, "get", err)
	checkRecord(t, "stored after update", got, want)

	fnErr := errors.New("updater refuses")
	_, err = s.UpdateAccount(ctx, "account-1", func(a storage.Account) (storage.Account, error) {
		a.Disabled = false
		return a, fnErr
	})
	mustErrIs(t, "failing updater", err, fnErr)
	got, err = s.GetAccount(ctx, "account-1")
	mustNoErr(t, "get", err)
	checkRecord(t, "after failing updater", got, want)

	_, err = s.UpdateAccount(ctx, "account-1", func(a storage.Account) (storage.Account, error) {
		a.ID = "account-2"
		return a, nil
	})
	if err == nil {
		t.Fatal("update changing the ID succeeded")
	}
	got, err = s.GetAccount(ctx, "account-1")
	mustNoErr(t, "get", err)
	checkRecord(t, "after ID change attempt", got, want)

	// Clearing the phone clears it everywhere, lookups included.
	cleared, err := s.UpdateAccount(ctx, "account-1", func(a storage.Account) (storage.Account, error) {
		a.PhoneEncrypted, a.PhoneHash, a.PhoneSource, a.PhoneVerifiedAt = nil, "", "", time.Time{}
		return a, nil
	})
	mustNoErr(t, "clear phone", err)
	want.PhoneEncrypted, want.PhoneHash, want.PhoneSource, want.PhoneVerifiedAt = nil, "", "", time.Time{}
	checkRecord(t, "cleared", cleared, want)
	accts, err := s.GetAccountByPhoneHash(ctx, "hash-1")
	mustNoErr(t, "by cleared hash", err)
	if len(accts) != 0 {
		t.Errorf("cleared hash still matches %d accounts", len(accts))
	}

	_, err = s.UpdateAccount(ctx, "absent", func(a storage.Account) (storage.Account, error) { return a, nil })
	mustErrIs(t, "update absent", err, storage.ErrNotFound)
}
