package admin_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
)

// browserAccount is an account signed in through the browser to clients
// "web" (session s-old, then s-new) and "web2" (s-new).
func browserAccount(t *testing.T) (*admintest.Env, time.Time) {
	t.Helper()
	env := browserEnv(t)
	ctx := asOps(t.Context())
	for _, id := range []string{"web", "web2"} {
		spec := webSpec()
		spec.ID = ptr(id)
		if _, err := env.Service.CreateClient(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	env.Account(t, "sub-1", "o-1", t0)
	env.SignIn(t, "sub-1", "s-old", t0, []string{"openid"}, "web")
	env.SignIn(t, "sub-1", "s-new", t0.Add(time.Hour), []string{"offline_access", "openid"}, "web", "web2")
	return env, t0
}

func account(t *testing.T, env *admintest.Env, sub string) admin.AccountView {
	t.Helper()
	v, err := env.Service.FindAccount(t.Context(), admin.AccountQuery{Sub: sub})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func consentClients(v admin.AccountView) []string {
	var ids []string
	for _, c := range v.Consents {
		ids = append(ids, c.ClientID)
	}
	return ids
}

// lastAudit returns the newest audit entry.
func lastAudit(t *testing.T, env *admintest.Env) admin.AuditEntry {
	t.Helper()
	page, err := env.Service.Audit(t.Context(), 0, 1)
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("audit: %+v %v", page, err)
	}
	return page.Events[0]
}

func TestAccountViewShowsLoginSessionsAndConsents(t *testing.T) {
	env, t0 := browserAccount(t)
	v := account(t, env, "sub-1")
	if len(v.LoginSessions) != 2 {
		t.Fatalf("login sessions: %+v", v.LoginSessions)
	}
	newest, oldest := v.LoginSessions[0], v.LoginSessions[1]
	t1 := t0.Add(time.Hour)
	if newest.ID != "s-new" || !newest.CreatedAt.Equal(t1) || !newest.LastSeenAt.Equal(t1) || !newest.AuthTime.Equal(t1) ||
		!newest.ExpiresAt.Equal(t1.Add(24*time.Hour)) || newest.AppID != admintest.AppID || !slices.Equal(newest.ClientIDs, []string{"web", "web2"}) {
		t.Errorf("newest session: %+v", newest)
	}
	if oldest.ID != "s-old" || !oldest.CreatedAt.Equal(t0) || !slices.Equal(oldest.ClientIDs, []string{"web"}) {
		t.Errorf("oldest session: %+v", oldest)
	}
	want := []admin.ConsentView{
		{ClientID: "web", Scopes: []string{"offline_access", "openid"}, GrantedAt: t1},
		{ClientID: "web2", Scopes: []string{"offline_access", "openid"}, GrantedAt: t1},
	}
	if len(v.Consents) != len(want) {
		t.Fatalf("consents: %+v", v.Consents)
	}
	for i, c := range v.Consents {
		if c.ClientID != want[i].ClientID || !slices.Equal(c.Scopes, want[i].Scopes) || !c.GrantedAt.Equal(want[i].GrantedAt) {
			t.Errorf("consent %d: %+v, want %+v", i, c, want[i])
		}
	}

	// An account that never used the browser shows empty lists, not null.
	env.Account(t, "sub-2", "o-2", t0)
	raw, err := json.Marshal(account(t, env, "sub-2"))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(raw); !strings.Contains(s, `"login_sessions":[]`) || !strings.Contains(s, `"consents":[]`) {
		t.Errorf("empty account: %s", s)
	}
}

func TestRevokeConsent(t *testing.T) {
	env, _ := browserAccount(t)
	ctx := asOps(t.Context())
	if err := env.Service.RevokeConsent(ctx, "sub-1", "web"); err != nil {
		t.Fatal(err)
	}
	if got := consentClients(account(t, env, "sub-1")); !slices.Equal(got, []string{"web2"}) {
		t.Errorf("consents after revoking web: %q", got)
	}
	if e := lastAudit(t, env); e.Action != "accounts.revoke_consent" || e.Target != "sub-1" || e.Details["client_id"] != "web" || e.Actor != "admin-api:ops" {
		t.Errorf("audit: %+v", e)
	}
	// Sessions stay: revoking a consent is not a logout.
	if n := len(account(t, env, "sub-1").LoginSessions); n != 2 {
		t.Errorf("%d sessions left, want 2", n)
	}
	for _, tc := range []struct {
		name, sub, client string
		want              error
	}{
		{"already revoked", "sub-1", "web", admin.ErrNotFound},
		{"client never consented", "sub-1", "svc", admin.ErrNotFound},
		{"unknown account", "nobody", "web2", admin.ErrNotFound},
		{"no sub", "", "web2", admin.ErrInvalid},
		{"no client", "sub-1", "", admin.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := env.Service.RevokeConsent(ctx, tc.sub, tc.client); !errors.Is(err, tc.want) {
				t.Errorf("RevokeConsent(%q, %q) = %v, want %v", tc.sub, tc.client, err, tc.want)
			}
		})
	}
	if err := env.Service.RevokeConsent(t.Context(), "sub-1", "web2"); !errors.Is(err, admin.ErrNoActor) {
		t.Errorf("without an actor: %v", err)
	}
	if got := consentClients(account(t, env, "sub-1")); !slices.Equal(got, []string{"web2"}) {
		t.Errorf("failed calls changed the consents: %q", got)
	}
}

func TestEndLoginSessions(t *testing.T) {
	env, _ := browserAccount(t)
	env.Account(t, "sub-2", "o-2", time.Now())
	env.SignIn(t, "sub-2", "s-other", time.Now(), nil)
	ctx := asOps(t.Context())
	n, err := env.Service.EndLoginSessions(ctx, "sub-1")
	if err != nil || n != 2 {
		t.Fatalf("EndLoginSessions = %d, %v; want 2", n, err)
	}
	v := account(t, env, "sub-1")
	if len(v.LoginSessions) != 0 || len(v.Consents) != 2 {
		t.Errorf("after ending: sessions %+v, consents %+v (consents stay)", v.LoginSessions, v.Consents)
	}
	if e := lastAudit(t, env); e.Action != "accounts.end_sessions" || e.Target != "sub-1" || e.Details["sessions_ended"] != float64(2) {
		t.Errorf("audit: %+v", e)
	}
	if len(account(t, env, "sub-2").LoginSessions) != 1 {
		t.Error("another account's session ended too")
	}
	if n, err := env.Service.EndLoginSessions(ctx, "sub-1"); err != nil || n != 0 {
		t.Errorf("again: %d, %v; want 0", n, err)
	}
	if _, err := env.Service.EndLoginSessions(ctx, "nobody"); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
	if _, err := env.Service.EndLoginSessions(ctx, ""); !errors.Is(err, admin.ErrInvalid) {
		t.Errorf("no sub: %v", err)
	}
	if _, err := env.Service.EndLoginSessions(t.Context(), "sub-2"); !errors.Is(err, admin.ErrNoActor) {
		t.Errorf("without an actor: %v", err)
	}
}

// Disabling ends the browser sessions in the same call, and says so;
// enabling ends none.
func TestDisableEndsLoginSessions(t *testing.T) {
	env, t0 := browserAccount(t)
	ctx := asOps(t.Context())
	res, err := env.Service.SetAccountDisabled(ctx, "sub-1", true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Account.Disabled || res.SessionsEnded != 2 || len(res.Account.LoginSessions) != 0 {
		t.Errorf("disable: %+v", res)
	}
	if e := lastAudit(t, env); e.Action != "accounts.disable" || e.Details["sessions_ended"] != float64(2) || e.Details["tokens_revoked"] != float64(0) {
		t.Errorf("audit: %+v", e)
	}
	env.SignIn(t, "sub-1", "s-later", t0, nil)
	res, err = env.Service.SetAccountDisabled(ctx, "sub-1", false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Account.Disabled || res.SessionsEnded != 0 || len(res.Account.LoginSessions) != 1 {
		t.Errorf("enable: %+v", res)
	}
}

// Deleting a client removes its consents and its session links (storage
// does it with the client); the account view shows that.
func TestClientDeleteDropsItsConsentsFromTheAccount(t *testing.T) {
	env, _ := browserAccount(t)
	if err := env.Service.DeleteClient(asOps(t.Context()), "web"); err != nil {
		t.Fatal(err)
	}
	v := account(t, env, "sub-1")
	if got := consentClients(v); !slices.Equal(got, []string{"web2"}) {
		t.Errorf("consents after deleting web: %q", got)
	}
	for _, ls := range v.LoginSessions {
		if slices.Contains(ls.ClientIDs, "web") {
			t.Errorf("session %s still links the deleted client: %q", ls.ID, ls.ClientIDs)
		}
	}
}
