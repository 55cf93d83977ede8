package storagetest

import (
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// clientSignIns stores, for each client, consents of two accounts and a
// login session of account-1 linked to both clients.
func clientSignIns(t *testing.T, s storage.Storage, clients ...string) (session storage.LoginSession) {
	t.Helper()
	ctx := t.Context()
	session = newLoginSession("shared", "account-1", baseTime)
	mustNoErr(t, "create login session", s.CreateLoginSession(ctx, session))
	for _, c := range clients {
		for _, a := range []string{"account-1", "account-2"} {
			mustNoErr(t, "put consent", s.PutConsent(ctx, newConsent(a, c)))
		}
		mustNoErr(t, "link "+c, s.AddLoginSessionClient(ctx, session.ID, c))
	}
	return session
}

// checkClientConsents asserts whether the consents of clientID are stored.
func checkClientConsents(t *testing.T, s storage.Storage, what, clientID string, stored bool) {
	t.Helper()
	for _, a := range []string{"account-1", "account-2"} {
		got, err := s.GetConsent(t.Context(), a, clientID)
		if !stored {
			mustErrIs(t, what+": consent of "+a, err, storage.ErrNotFound)
			continue
		}
		mustNoErr(t, what+": consent of "+a, err)
		checkRecord(t, what+": consent of "+a, got, newConsent(a, clientID))
	}
}

// Deleting a client deletes its consents and login-session links in the
// same transaction, leaves the sessions (and other clients') alone, and a
// re-created client ID finds none of them.
func testDeleteClientRemovesSignIns(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	for _, id := range []string{"client-del", "client-keep"} {
		mustNoErr(t, "create "+id, s.CreateClient(ctx, newClient(id)))
	}
	session := clientSignIns(t, s, "client-del", "client-keep")

	// Rolled back, the delete leaves everything in place.
	txCtx, err := s.BeginTx(ctx)
	mustNoErr(t, "begin", err)
	mustNoErr(t, "delete client in tx", s.DeleteClient(txCtx, "client-del"))
	mustNoErr(t, "rollback", s.Rollback(txCtx))
	checkClientConsents(t, s, "after rollback", "client-del", true)
	checkSessionClients(t, s, "after rollback", session.ID, []string{"client-del", "client-keep"})

	mustNoErr(t, "delete client", s.DeleteClient(ctx, "client-del"))
	checkClientConsents(t, s, "after delete", "client-del", false)
	checkClientConsents(t, s, "other client after delete", "client-keep", true)
	checkSessionClients(t, s, "after delete", session.ID, []string{"client-keep"})
	got, err := s.GetLoginSession(ctx, session.ID)
	mustNoErr(t, "the session stays", err)
	checkRecord(t, "session after delete", got, session)

	mustNoErr(t, "re-create client", s.CreateClient(ctx, newClient("client-del")))
	checkClientConsents(t, s, "after re-create", "client-del", false)
	checkSessionClients(t, s, "after re-create", session.ID, []string{"client-keep"})
}

// The browser sign-in stores honour a transaction: rolled back, nothing of
// it stays; committed, all of it.
func testSignInTx(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	for _, commit := range []bool{false, true} {
		label := "rollback"
		if commit {
			label = "commit"
		}
		ls := newLoginSession("tx-"+label, "account-"+label, baseTime)
		consent := newConsent("account-"+label, "client-a")
		flow := newAuthFlow("flowtx"+label, flowNow.Add(time.Minute))

		txCtx, err := s.BeginTx(ctx)
		mustNoErr(t, label+": begin", err)
		mustNoErr(t, label+": create session", s.CreateLoginSession(txCtx, ls))
		mustNoErr(t, label+": link", s.AddLoginSessionClient(txCtx, ls.ID, "client-a"))
		mustNoErr(t, label+": touch", s.TouchLoginSession(txCtx, ls.ID, baseTime))
		checkSessionClients(t, s, label+": links seen outside the tx", ls.ID, nil)
		mustNoErr(t, label+": put consent", s.PutConsent(txCtx, consent))
		mustNoErr(t, label+": create flow", s.CreateAuthFlow(txCtx, flow))
		if commit {
			mustNoErr(t, label+": commit", s.Commit(txCtx))
		} else {
			mustNoErr(t, label+": rollback", s.Rollback(txCtx))
		}

		_, err = s.GetLoginSession(ctx, ls.ID)
		_, cerr := s.GetConsent(ctx, consent.AccountID, consent.ClientID)
		_, ferr := s.TakeAuthFlow(ctx, flow.ID, flowNow)
		if commit {
			mustNoErr(t, label+": session", err)
			mustNoErr(t, label+": consent", cerr)
			mustNoErr(t, label+": flow", ferr)
			checkSessionClients(t, s, label+": links", ls.ID, []string{"client-a"})
		} else {
			mustErrIs(t, label+": session", err, storage.ErrNotFound)
			mustErrIs(t, label+": consent", cerr, storage.ErrNotFound)
			mustErrIs(t, label+": flow", ferr, storage.ErrNotFound)
			checkSessionClients(t, s, label+": links", ls.ID, nil)
		}
	}
}
