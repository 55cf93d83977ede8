package provider

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/keys"
)

// In a transaction begun through the fosite adapter (refresh, code
// exchange), an access token waits for its refresh token and the two rows
// go in one statement; one left alone is written at Commit, dropped at
// Rollback, and a refused write at Commit undoes the whole transaction.
func TestPendingAccessToken(t *testing.T) {
	e := newBenchEnv(t, "NORMAL", keys.ES256)
	fs := e.p.store
	ctx := context.Background()
	request := func(clientID string) fosite.Requester {
		sess := newSession()
		sess.setSubject(clientID) // a client's own token: the holder is the client alone
		sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
		sess.SetExpiresAt(fosite.RefreshToken, time.Now().Add(time.Hour))
		r := fosite.NewRequest()
		r.ID = "request-" + clientID
		r.Client = &fosite.DefaultClient{ID: clientID}
		r.Session = sess
		return r
	}
	exists := func(t *testing.T, kind, sig string) bool {
		t.Helper()
		var err error
		if kind == "access" {
			_, err = fs.GetAccessTokenSession(ctx, sig, newSession())
		} else {
			_, err = fs.GetRefreshTokenSession(ctx, sig, newSession())
		}
		switch {
		case err == nil:
			return true
		case errors.Is(err, fosite.ErrNotFound):
			return false
		}
		t.Fatalf("get %s token %q: %v", kind, sig, err)
		return false
	}
	begin := func(t *testing.T) context.Context {
		t.Helper()
		tx, err := fs.BeginTX(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	r := request(benchBackend)

	t.Run("access and refresh in one statement", func(t *testing.T) {
		tx := begin(t)
		before := e.store.Statements()
		must(t, fs.CreateAccessTokenSession(tx, "at-1", r))
		if n := e.store.Statements() - before; n != 0 {
			t.Errorf("the access token was written at once (%d statements)", n)
		}
		must(t, fs.CreateRefreshTokenSession(tx, "rt-1", "at-1", r))
		if n := e.store.Statements() - before; n != 1 {
			t.Errorf("access and refresh token: %d statements, want 1", n)
		}
		must(t, fs.Commit(tx))
		if !exists(t, "access", "at-1") || !exists(t, "refresh", "rt-1") {
			t.Error("a token of the pair is missing after Commit")
		}
	})

	t.Run("an access token alone is written at Commit", func(t *testing.T) {
		tx := begin(t)
		must(t, fs.CreateAccessTokenSession(tx, "at-2", r))
		must(t, fs.Commit(tx))
		if !exists(t, "access", "at-2") {
			t.Error("the access token is missing after Commit")
		}
	})

	t.Run("a refresh token of another access token", func(t *testing.T) {
		tx := begin(t)
		must(t, fs.CreateAccessTokenSession(tx, "at-3", r))
		must(t, fs.CreateRefreshTokenSession(tx, "rt-3", "at-other", r))
		must(t, fs.Commit(tx))
		if !exists(t, "access", "at-3") || !exists(t, "refresh", "rt-3") {
			t.Error("a token is missing after Commit")
		}
	})

	t.Run("rollback drops the pending token", func(t *testing.T) {
		tx := begin(t)
		must(t, fs.CreateAccessTokenSession(tx, "at-4", r))
		must(t, fs.Rollback(tx))
		if exists(t, "access", "at-4") {
			t.Error("a rolled-back access token was stored")
		}
	})

	t.Run("a holder refused at Commit undoes the transaction", func(t *testing.T) {
		tx := begin(t)
		must(t, fs.CreateRefreshTokenSession(tx, "rt-5", "at-earlier", r)) // written at once
		must(t, fs.CreateAccessTokenSession(tx, "at-5", request("no-such-client")))
		err := fs.Commit(tx)
		if !errors.Is(err, errClientGone) {
			t.Fatalf("Commit = %v, want the client refused", err)
		}
		// The failed Commit rolled back: committing again stores nothing,
		// and the Rollback fosite's handlers send after it is harmless.
		if err := fs.Commit(tx); err == nil {
			t.Error("a second Commit of the refused transaction succeeded")
		}
		_ = fs.Rollback(tx)
		if exists(t, "refresh", "rt-5") || exists(t, "access", "at-5") {
			t.Error("a token of the refused transaction was stored")
		}
	})
}
