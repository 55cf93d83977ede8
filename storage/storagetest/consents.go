package storagetest

import (
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

func newConsent(accountID, clientID string) storage.Consent {
	return storage.Consent{
		AccountID: accountID,
		ClientID:  clientID,
		Scopes:    []string{"openid", "phone", "profile"},
		GrantedAt: baseTime,
	}
}

func testConsents(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	_, err := s.GetConsent(ctx, "account-1", "client-a")
	mustErrIs(t, "get absent", err, storage.ErrNotFound)
	mustErrIs(t, "delete absent", s.DeleteConsent(ctx, "account-1", "client-a"), storage.ErrNotFound)
	list, err := s.ListAccountConsents(ctx, "account-1")
	mustNoErr(t, "list none", err)
	if list != nil {
		t.Errorf("list none: %#v, want nil", list)
	}

	b := newConsent("account-1", "client-b")
	a := newConsent("account-1", "client-a")
	a.Scopes = []string{}
	other := newConsent("account-2", "client-a")
	for _, c := range []storage.Consent{b, a, other} {
		mustNoErr(t, "put "+c.AccountID+"/"+c.ClientID, s.PutConsent(ctx, c))
	}
	got, err := s.GetConsent(ctx, b.AccountID, b.ClientID)
	mustNoErr(t, "get", err)
	checkRecord(t, "get", got, b)
	a.Scopes = nil // empty reads back nil
	got, err = s.GetConsent(ctx, a.AccountID, a.ClientID)
	mustNoErr(t, "get without scopes", err)
	checkRecord(t, "get without scopes", got, a)

	// Put replaces (scopes and time), for that pair only.
	replaced := b
	replaced.Scopes = []string{"openid"}
	replaced.GrantedAt = baseTime.Add(time.Hour)
	mustNoErr(t, "replace", s.PutConsent(ctx, replaced))
	got, err = s.GetConsent(ctx, b.AccountID, b.ClientID)
	mustNoErr(t, "get replaced", err)
	checkRecord(t, "replaced", got, replaced)

	list, err = s.ListAccountConsents(ctx, "account-1")
	mustNoErr(t, "list", err)
	checkRecords(t, "list (ordered by client ID)", list, []storage.Consent{a, replaced})

	mustNoErr(t, "delete", s.DeleteConsent(ctx, a.AccountID, a.ClientID))
	_, err = s.GetConsent(ctx, a.AccountID, a.ClientID)
	mustErrIs(t, "get deleted", err, storage.ErrNotFound)
	mustErrIs(t, "delete again", s.DeleteConsent(ctx, a.AccountID, a.ClientID), storage.ErrNotFound)
	got, err = s.GetConsent(ctx, other.AccountID, other.ClientID)
	mustNoErr(t, "other account's consent stays", err)
	checkRecord(t, "other account's consent", got, other)
	list, err = s.ListAccountConsents(ctx, "account-1")
	mustNoErr(t, "list after delete", err)
	checkRecords(t, "list after delete", list, []storage.Consent{replaced})
}
