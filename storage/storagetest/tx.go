package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// txFixture is the pre-existing state the transaction tests modify.
type txFixture struct {
	token   storage.TokenSession
	refresh storage.TokenSession
	client  storage.Client
	account storage.Account
	key     storage.SigningKey
}

func setupTxFixture(t *testing.T, s storage.Storage) txFixture {
	t.Helper()
	ctx := t.Context()
	f := txFixture{
		token:   newSession(storage.KindAccessToken, "existing", "req-existing"),
		refresh: newSession(storage.KindRefreshToken, "existing", "req-existing"),
		client:  newClient("client-existing"),
		key:     newKey("kid-existing", "RS256", storage.KeyCurrent, baseTime),
	}
	mustNoErr(t, "create token", s.CreateTokenSession(ctx, f.token))
	mustNoErr(t, "create refresh token", s.CreateTokenSession(ctx, f.refresh))
	mustNoErr(t, "create client", s.CreateClient(ctx, f.client))
	_, acct, err := s.ResolveWeChatLogin(ctx, login("wx-app", "openid-existing", "", "key", "account-existing", baseTime))
	mustNoErr(t, "create account", err)
	f.account = acct
	_, err = s.UpdateSigningKeys(ctx, func([]storage.SigningKey) ([]storage.SigningKey, error) {
		return []storage.SigningKey{f.key}, nil
	})
	mustNoErr(t, "create key", err)
	return f
}

// txWrites is one write of every family, made with ctx.
type txWrites struct {
	token storage.TokenSession
}

func doTxWrites(t *testing.T, s storage.Storage, ctx context.Context, f txFixture, label string) txWrites {
	t.Helper()
	w := txWrites{token: newSession(storage.KindAccessToken, "tx-"+label, "req-tx-"+label)}
	mustNoErr(t, "create token", s.CreateTokenSession(ctx, w.token))
	mustNoErr(t, "delete existing token", s.DeleteTokenSession(ctx, f.token.Kind, f.token.Signature))
	mustNoErr(t, "rotate existing refresh token",
		s.RotateRefreshToken(ctx, f.refresh.RequestID, f.refresh.Signature, baseTime.Add(time.Minute), 0))
	mustNoErr(t, "create client", s.CreateClient(ctx, newClient("client-tx-"+label)))
	_, err := s.UpdateClient(ctx, f.client.ID, func(c storage.Client) (storage.Client, error) {
		c.Name = "changed in tx " + label
		return c, nil
	})
	mustNoErr(t, "update client", err)
	_, _, err = s.ResolveWeChatLogin(ctx, login("wx-app", "openid-tx-"+label, "", "key", "account-tx-"+label, baseTime))
	mustNoErr(t, "create account", err)
	_, err = s.UpdateAccount(ctx, f.account.ID, func(a storage.Account) (storage.Account, error) {
		a.Disabled = true
		return a, nil
	})
	mustNoErr(t, "update account", err)
	_, err = s.UpdateSigningKeys(ctx, func(keys []storage.SigningKey) ([]storage.SigningKey, error) {
		return append(keys, newKey("kid-tx-"+label, "ES256", storage.KeyNext, baseTime.Add(time.Hour))), nil
	})
	mustNoErr(t, "add key", err)
	mustNoErr(t, "append audit", s.AppendAudit(ctx, storage.AuditEvent{
		At: baseTime, Actor: "cli", Action: "tx.test", Target: label,
	}))
	mustNoErr(t, "set jti", s.SetClientAssertionJTI(ctx, "jti-tx-"+label, baseTime.Add(time.Hour), baseTime))
	return w
}

// checkTxWrites checks, with a context outside any transaction, whether the
// writes of doTxWrites are visible (committed) or absent (rolled back).
func checkTxWrites(t *testing.T, s storage.Storage, f txFixture, w txWrites, label string, committed bool) {
	t.Helper()
	ctx := t.Context()
	state := map[bool]string{true: "committed", false: "rolled back"}[committed]
	expectFound := func(what string, err error, found bool) {
		t.Helper()
		if found != committed {
			t.Errorf("%s write %s: visible = %v (err %v)", state, what, found, err)
		}
	}

	_, err := s.GetTokenSession(ctx, w.token.Kind, w.token.Signature)
	expectFound("create token", err, err == nil)
	_, err = s.GetTokenSession(ctx, f.token.Kind, f.token.Signature)
	expectFound("delete token", err, err != nil)
	rt, err := s.GetTokenSession(ctx, f.refresh.Kind, f.refresh.Signature)
	expectFound("rotate refresh token", err, !rt.Active)
	_, err = s.GetClient(ctx, "client-tx-"+label)
	expectFound("create client", err, err == nil)
	c, err := s.GetClient(ctx, f.client.ID)
	mustNoErr(t, "get existing client", err)
	expectFound("update client", nil, c.Name == "changed in tx "+label)
	_, err = s.GetAccount(ctx, "account-tx-"+label)
	expectFound("create account", err, err == nil)
	_, err = s.GetWeChatIdentity(ctx, "wx-app", "openid-tx-"+label)
	expectFound("create identity", err, err == nil)
	a, err := s.GetAccount(ctx, f.account.ID)
	mustNoErr(t, "get existing account", err)
	expectFound("update account", nil, a.Disabled)
	keys, err := s.ListSigningKeys(ctx)
	mustNoErr(t, "list keys", err)
	expectFound("add key", nil, len(keys) == 2)
	events, err := s.ListAudit(ctx, 0, 10)
	mustNoErr(t, "list audit", err)
	expectFound("append audit", nil, len(events) == 1)
	used, err := s.ClientAssertionJTIUsed(ctx, "jti-tx-"+label, baseTime)
	mustNoErr(t, "jti used", err)
	expectFound("set jti", nil, used)
}

func testTxCommit(t *testing.T, s storage.Storage) {
	f := setupTxFixture(t, s)
	txCtx, err := s.BeginTx(t.Context())
	mustNoErr(t, "begin", err)
	w := doTxWrites(t, s, txCtx, f, "commit")

	// Reads with the transaction's context see its writes.
	_, err = s.GetTokenSession(txCtx, w.token.Kind, w.token.Signature)
	mustNoErr(t, "read own write in tx", err)
	_, err = s.GetTokenSession(txCtx, f.token.Kind, f.token.Signature)
	mustErrIs(t, "read own delete in tx", err, storage.ErrNotFound)
	keys, err := s.ListSigningKeys(txCtx)
	mustNoErr(t, "list keys in tx", err)
	if len(keys) != 2 {
		t.Errorf("tx sees %d keys, want 2", len(keys))
	}

	mustNoErr(t, "commit", s.Commit(txCtx))
	checkTxWrites(t, s, f, w, "commit", true)
}

func testTxRollback(t *testing.T, s storage.Storage) {
	f := setupTxFixture(t, s)
	txCtx, err := s.BeginTx(t.Context())
	mustNoErr(t, "begin", err)
	w := doTxWrites(t, s, txCtx, f, "rollback")
	mustNoErr(t, "rollback", s.Rollback(txCtx))
	checkTxWrites(t, s, f, w, "rollback", false)

	// The storage is usable afterwards, and writes outside any transaction
	// are visible at once.
	ts := newSession(storage.KindAccessToken, "after", "req-after")
	mustNoErr(t, "create outside tx", s.CreateTokenSession(t.Context(), ts))
	got, err := s.GetTokenSession(t.Context(), ts.Kind, ts.Signature)
	mustNoErr(t, "get outside tx", err)
	checkRecord(t, "write outside tx", got, ts)
}

func testTxNested(t *testing.T, s storage.Storage) {
	// Inner Commit does not commit; the outer Rollback discards everything.
	t.Run("OuterRollback", func(t *testing.T) {
		f := setupTxFixture(t, s)
		outer, err := s.BeginTx(t.Context())
		mustNoErr(t, "begin outer", err)
		inner, err := s.BeginTx(outer)
		mustNoErr(t, "begin inner", err)
		w := doTxWrites(t, s, inner, f, "nested")
		mustNoErr(t, "commit inner", s.Commit(inner))
		// The outer transaction is still open and sees the inner writes.
		_, err = s.GetTokenSession(outer, w.token.Kind, w.token.Signature)
		mustNoErr(t, "outer reads inner write", err)
		mustNoErr(t, "rollback outer", s.Rollback(outer))
		checkTxWrites(t, s, f, w, "nested", false)
	})
	// Inner Rollback does not roll back; the outer Commit commits everything.
	t.Run("OuterCommit", func(t *testing.T) {
		ctx := t.Context()
		outer, err := s.BeginTx(ctx)
		mustNoErr(t, "begin outer", err)
		inner, err := s.BeginTx(outer)
		mustNoErr(t, "begin inner", err)
		a := newSession(storage.KindAccessToken, "nested-a", "req-nested")
		mustNoErr(t, "create in inner", s.CreateTokenSession(inner, a))
		mustNoErr(t, "rollback inner", s.Rollback(inner))
		b := newSession(storage.KindRefreshToken, "nested-b", "req-nested")
		mustNoErr(t, "create in outer after inner rollback", s.CreateTokenSession(outer, b))
		mustNoErr(t, "commit outer", s.Commit(outer))
		for _, ts := range []storage.TokenSession{a, b} {
			checkStoredSession(ctx, t, s, "committed "+string(ts.Kind), ts.Kind, ts.Signature, ts)
		}
	})
}

func testTxIsolation(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	txCtx, err := s.BeginTx(ctx)
	mustNoErr(t, "begin", err)
	ts := newSession(storage.KindAccessToken, "isolated", "req-isolated")
	mustNoErr(t, "create in tx", s.CreateTokenSession(txCtx, ts))
	mustNoErr(t, "create client in tx", s.CreateClient(txCtx, newClient("client-isolated")))

	_, err = s.GetTokenSession(ctx, ts.Kind, ts.Signature)
	mustErrIs(t, "uncommitted token read outside the tx", err, storage.ErrNotFound)
	_, err = s.GetClient(ctx, "client-isolated")
	mustErrIs(t, "uncommitted client read outside the tx", err, storage.ErrNotFound)
	_, err = s.GetTokenSession(txCtx, ts.Kind, ts.Signature)
	mustNoErr(t, "token read inside the tx", err)

	mustNoErr(t, "commit", s.Commit(txCtx))
	checkStoredSession(ctx, t, s, "committed", ts.Kind, ts.Signature, ts)
}

// testTxMisuse: ending a transaction that was never begun is an error; a
// deferred Rollback after Commit is harmless.
func testTxMisuse(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	if err := s.Commit(ctx); err == nil {
		t.Error("Commit without a transaction succeeded")
	}
	if err := s.Rollback(ctx); err == nil {
		t.Error("Rollback without a transaction succeeded")
	}
	txCtx, err := s.BeginTx(ctx)
	mustNoErr(t, "begin", err)
	ts := newSession(storage.KindAccessToken, "misuse", "req-misuse")
	mustNoErr(t, "create in tx", s.CreateTokenSession(txCtx, ts))
	mustNoErr(t, "commit", s.Commit(txCtx))
	mustNoErr(t, "Rollback after Commit", s.Rollback(txCtx))
	_, err = s.GetTokenSession(ctx, ts.Kind, ts.Signature)
	mustNoErr(t, "write committed before a late Rollback", err)
}
