package provider

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/wxoidc/wxoidc/storage"
)

// betweenSteps is a Store that runs hook once, right before the write (a
// transaction, or a grant's one-call write) that follows the step it arms
// on: the interleaving of an admin action between a request's account check
// and the write storing its tokens, made deterministic.
type betweenSteps struct {
	Store
	armOnLogin, armOnGetAccount bool
	armed                       bool
	sub                         string
	hook                        func(ctx context.Context, sub string)
}

func (b *betweenSteps) ResolveWeChatLogin(ctx context.Context, l storage.WeChatLogin) (storage.WeChatIdentity, storage.Account, error) {
	id, acc, err := b.Store.ResolveWeChatLogin(ctx, l)
	if err == nil && b.armOnLogin {
		b.armed, b.sub = true, acc.ID
	}
	return id, acc, err
}

func (b *betweenSteps) GetWeChatLogin(ctx context.Context, appID, openID string) (storage.WeChatIdentity, storage.Account, error) {
	id, acc, err := b.Store.GetWeChatLogin(ctx, appID, openID)
	if err == nil && b.armOnLogin {
		b.armed, b.sub = true, acc.ID
	}
	return id, acc, err
}

func (b *betweenSteps) GetAccountIdentity(ctx context.Context, id, appID string) (storage.Account, storage.WeChatIdentity, error) {
	acc, ident, err := b.Store.GetAccountIdentity(ctx, id, appID)
	if err == nil && b.armOnGetAccount {
		b.armed, b.sub = true, acc.ID
	}
	return acc, ident, err
}

// A refresh reads the account with its token (GetTokenSessionWithLogin).
func (b *betweenSteps) GetTokenSessionWithLogin(ctx context.Context, kind storage.SessionKind, sig string) (storage.TokenSession, storage.SessionLogin, error) {
	ts, login, err := b.Store.GetTokenSessionWithLogin(ctx, kind, sig)
	if err == nil && b.armOnGetAccount && login.Account.ID != "" {
		b.armed, b.sub = true, login.Account.ID
	}
	return ts, login, err
}

// fire runs the hook if a step armed it.
func (b *betweenSteps) fire(ctx context.Context) {
	if b.armed {
		b.armed = false
		b.hook(ctx, b.sub)
	}
}

func (b *betweenSteps) BeginTx(ctx context.Context) (context.Context, error) {
	b.fire(ctx)
	return b.Store.BeginTx(ctx)
}

// A grant stores its tokens without a transaction of ours: one statement,
// or StoreLoginGrant for a returning person.
func (b *betweenSteps) CreateTokenSessions(ctx context.Context, h storage.TokenHolder, sessions ...storage.TokenSession) error {
	b.fire(ctx)
	return b.Store.CreateTokenSessions(ctx, h, sessions...)
}

func (b *betweenSteps) StoreLoginGrant(ctx context.Context, g storage.LoginGrant) error {
	b.fire(ctx)
	return b.Store.StoreLoginGrant(ctx, g)
}

// loginRacing runs a WeChat-grant login with hooked between its account
// check and its token storage, and wants it refused with code. form is the
// login of a new person (whose account is stored first, in a transaction of
// its own) or of a returning one (whose account is only read before the one
// transaction that writes the login and the tokens).
func loginRacing(t *testing.T, e *benchEnv, hooked *betweenSteps, form url.Values, what, code string) {
	t.Helper()
	e.p.store.db = hooked
	out, err := e.p.Token(context.Background(), tokenRequest(form, "", ""))
	if hooked.sub == "" {
		t.Fatal("the hook did not run")
	}
	if err == nil {
		t.Fatalf("login racing %s got tokens: %v", what, out)
	}
	if got := ErrorOf(err); got.Code != code {
		t.Fatalf("login racing %s: %+v, want %s", what, got, code)
	}
}

// An account disabled (and its tokens revoked) after the WeChat grant
// checked it but before its tokens are stored gets no tokens: the check is
// repeated in the write that stores them.
func TestLoginRacingDisableGetsNoToken(t *testing.T) {
	forEachLoginRace(t, func(t *testing.T, e *benchEnv, form url.Values) {
		ctx := context.Background()
		hooked := &betweenSteps{Store: e.store, armOnLogin: true}
		hooked.hook = func(ctx context.Context, sub string) {
			disableAccount(t, e, sub)
			if _, err := e.store.RevokeSubjectTokens(ctx, sub); err != nil {
				t.Fatal(err)
			}
		}
		loginRacing(t, e, hooked, form, "a disable", "invalid_grant")
		// Nothing was stored that a revocation would still have to catch.
		if n, err := e.store.RevokeSubjectTokens(ctx, hooked.sub); err != nil || n != 0 {
			t.Fatalf("%d live tokens of the disabled account stored (err %v)", n, err)
		}
	})
}

// forEachLoginRace runs race on each backend (each has its own grant write;
// PostgreSQL's is one statement) with the grant form of a new person and of
// a returning one.
func forEachLoginRace(t *testing.T, race func(t *testing.T, e *benchEnv, form url.Values)) {
	for _, b := range testBackends {
		for _, returning := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/returning=%v", b.name, returning), func(t *testing.T) {
				e := b.env(t)
				form := e.grantForm(false)
				if returning {
					e.token(t, tokenRequest(form, "", ""))
					form = again(form)
				}
				race(t, e, form)
			})
		}
	}
}

// The refresh grant checks the account before fosite's handler opens the
// transaction that rotates the token; a disable landing in between (here
// without the revocation that would also stop the rotation) must not let
// new tokens be stored.
func TestRefreshRacingDisableGetsNoToken(t *testing.T) {
	for _, b := range testBackends {
		t.Run(b.name, func(t *testing.T) {
			e := b.env(t)
			ctx := context.Background()
			first := e.token(t, tokenRequest(e.grantForm(false), "", ""))
			rt, _ := first["refresh_token"].(string)
			if rt == "" {
				t.Fatalf("no refresh token: %v", first)
			}
			hooked := &betweenSteps{Store: e.store, armOnGetAccount: true}
			hooked.hook = func(_ context.Context, sub string) { disableAccount(t, e, sub) }
			e.p.store.db = hooked

			form := url.Values{"grant_type": {GrantTypeRefreshToken}, "client_id": {benchMini}, "refresh_token": {rt}}
			out, err := e.p.Token(ctx, tokenRequest(form, "", ""))
			if hooked.sub == "" {
				t.Fatal("the hook did not run")
			}
			if err == nil {
				t.Fatalf("refresh racing a disable got tokens: %v", out)
			}
			if got := ErrorOf(err); got.Status != 400 {
				t.Fatalf("refresh racing a disable: %+v, want a 400", got)
			}
		})
	}
}

// A client deleted after the grant loaded it (from the client cache, which
// keeps it a few seconds) but before its tokens are stored gets no tokens:
// they would come back to life when the client ID is created again.
func TestLoginRacingClientDeletionGetsNoToken(t *testing.T) {
	forEachLoginRace(t, func(t *testing.T, e *benchEnv, form url.Values) {
		ctx := context.Background()
		hooked := &betweenSteps{Store: e.store, armOnLogin: true}
		hooked.hook = func(ctx context.Context, _ string) {
			if err := e.store.DeleteClient(ctx, benchMini); err != nil {
				t.Fatal(err)
			}
		}
		loginRacing(t, e, hooked, form, "the client's deletion", "invalid_client")
		if n, err := e.store.RevokeClientTokens(ctx, benchMini); err != nil || n != 0 {
			t.Fatalf("%d live tokens of the deleted client stored (err %v)", n, err)
		}
	})
}
