package admin_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

func ptr[T any](v T) *T { return &v }

func asOps(ctx context.Context) context.Context {
	return admin.WithActor(ctx, admin.APIActor("ops"))
}

func TestActorTravelsInTheContext(t *testing.T) {
	if _, ok := admin.ActorFrom(context.Background()); ok {
		t.Error("a bare context carries an actor")
	}
	if _, ok := admin.ActorFrom(admin.WithActor(context.Background(), admin.Actor{})); ok {
		t.Error("an unnamed actor counts as one")
	}
	a, ok := admin.ActorFrom(admin.WithActor(context.Background(), admin.APIActor("ci")))
	if !ok || a.Name != "admin-api:ci" {
		t.Errorf("ActorFrom = %+v %v", a, ok)
	}
}

// A change without an actor is refused before it happens: the audit log
// must name who made every change.
func TestChangesNeedAnActor(t *testing.T) {
	env := admintest.New(t, nil)
	ctx := t.Context()
	if _, err := env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptr("svc")}); !errors.Is(err, admin.ErrNoActor) {
		t.Fatalf("CreateClient without actor: %v", err)
	}
	if _, err := env.Service.GetClient(ctx, "svc"); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("the client was created anyway: %v", err)
	}
	if _, err := env.Service.RotateKeys(ctx, nil, true); !errors.Is(err, admin.ErrNoActor) {
		t.Errorf("RotateKeys without actor: %v", err)
	}
	if _, err := env.Service.RevokeKey(ctx, "kid", false); !errors.Is(err, admin.ErrNoActor) {
		t.Errorf("RevokeKey without actor: %v", err)
	}
	if err := env.Service.DeleteClient(ctx, "svc"); !errors.Is(err, admin.ErrNoActor) {
		t.Errorf("DeleteClient without actor: %v", err)
	}
	if _, err := env.Service.SetAccountDisabled(ctx, "sub", true); !errors.Is(err, admin.ErrNoActor) {
		t.Errorf("SetAccountDisabled without actor: %v", err)
	}
	if _, err := env.Service.RevokeAccountTokens(ctx, "sub"); !errors.Is(err, admin.ErrNoActor) {
		t.Errorf("RevokeAccountTokens without actor: %v", err)
	}
	page, err := env.Service.Audit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Events {
		if e.Actor != admin.ActorRotation.Name && e.Actor != "" {
			t.Errorf("audited without an actor: %+v", e)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	env := admintest.New(t, nil)
	ctx := asOps(t.Context())
	s := env.Service
	if _, err := s.CreateClient(ctx, admin.ClientSpec{ID: ptr("svc")}); err != nil {
		t.Fatal(err)
	}
	_, tooSoon := s.RotateKeys(ctx, []string{keys.ES256}, false)
	_, unknownAlg := s.RotateKeys(ctx, []string{"HS256"}, true)
	_, dup := s.CreateClient(ctx, admin.ClientSpec{ID: ptr("svc")})
	_, badGrant := s.CreateClient(ctx, admin.ClientSpec{GrantTypes: &[]string{"password"}})
	_, badAlg := s.CreateClient(ctx, admin.ClientSpec{IDTokenSignedResponseAlg: ptr(keys.RS256)}) // not configured here
	_, unknownApp := s.CreateClient(ctx, admin.ClientSpec{WeChatAppID: ptr("wx-other")})
	_, missing := s.GetClient(ctx, "nope")
	_, noKey := s.RevokeKey(ctx, "nope", false)
	_, noKID := s.RevokeKey(ctx, "", false)
	_, noAccount := s.FindAccounts(ctx, admin.AccountQuery{Sub: "nope"})
	_, twoNames := s.FindAccounts(ctx, admin.AccountQuery{Sub: "a", OpenID: "b"})
	_, badPhone := s.FindAccounts(ctx, admin.AccountQuery{Phone: "13912345678"})
	_, badLimit := s.Audit(ctx, 0, admin.MaxAuditLimit+1)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"rotation too soon", tooSoon, admin.ErrRotationTooSoon},
		{"unknown algorithm", unknownAlg, admin.ErrInvalid},
		{"duplicate client", dup, admin.ErrConflict},
		{"unknown grant", badGrant, admin.ErrInvalid},
		{"unconfigured ID token algorithm", badAlg, admin.ErrInvalid},
		{"unconfigured appid", unknownApp, admin.ErrInvalid},
		{"unknown client", missing, admin.ErrNotFound},
		{"unknown kid", noKey, admin.ErrNotFound},
		{"no kid", noKID, admin.ErrInvalid},
		{"unknown account", noAccount, admin.ErrNotFound},
		{"two names", twoNames, admin.ErrInvalid},
		{"phone without country code", badPhone, admin.ErrInvalid},
		{"audit limit", badLimit, admin.ErrInvalid},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	var soon *keys.RotationTooSoonError
	if !errors.As(tooSoon, &soon) || soon.Wait <= 0 {
		t.Errorf("rotation too soon carries no wait: %v", tooSoon)
	}
	if errors.Is(badPhone, admin.ErrInvalid) && strings.Contains(badPhone.Error(), "13912345678") {
		t.Errorf("the error echoes the phone number: %v", badPhone)
	}
}

// Creation defaults: an appid-bound client is a public mini-program client
// signing its ID tokens with ES256 unless it asks for another algorithm, any
// other a confidential client_credentials client with a secret shown once;
// the ID token algorithm shown is provider's default.
func TestClientDefaults(t *testing.T) {
	env := admintest.New(t, nil)
	ctx := asOps(t.Context())
	mini, err := env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptr("mini"), WeChatAppID: ptr(admintest.AppID)})
	if err != nil {
		t.Fatal(err)
	}
	if mini.TokenEndpointAuthMethod != provider.AuthMethodNone || mini.ClientSecret != "" ||
		len(mini.GrantTypes) != 2 || mini.GrantTypes[0] != provider.GrantTypeWeChat || len(mini.Scopes) != 3 {
		t.Errorf("mini-program client: %+v", mini)
	}
	svc, err := env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptr("svc")})
	if err != nil {
		t.Fatal(err)
	}
	if svc.TokenEndpointAuthMethod != provider.AuthMethodClientSecretBasic || svc.ClientSecret == "" ||
		len(svc.GrantTypes) != 1 || svc.GrantTypes[0] != provider.GrantTypeClientCredentials {
		t.Errorf("service client: %+v", svc)
	}
	if mini.IDTokenSignedResponseAlg != keys.ES256 {
		t.Errorf("mini-program client's ID token algorithm %q, want ES256", mini.IDTokenSignedResponseAlg)
	}
	rsa, err := env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptr("mini-rs"), WeChatAppID: ptr(admintest.AppID), IDTokenSignedResponseAlg: ptr(keys.EdDSA)})
	if err != nil || rsa.IDTokenSignedResponseAlg != keys.EdDSA {
		t.Errorf("an app client asking for EdDSA got %q (err %v)", rsa.IDTokenSignedResponseAlg, err)
	}
	if svc.DefaultAudience != admintest.Issuer {
		t.Errorf("default audience %q, want the issuer", svc.DefaultAudience)
	}
	if want := provider.IDTokenAlg(mustClient(t, env, "svc")); svc.IDTokenSignedResponseAlg != want || want == "" {
		t.Errorf("shown ID token algorithm %q, provider's %q", svc.IDTokenSignedResponseAlg, want)
	}
	again, err := env.Service.GetClient(ctx, "svc")
	if err != nil || again.ClientSecret != "" {
		t.Errorf("reading shows a secret: %+v %v", again, err)
	}
	// The secret is stored only as a hash that verifies it.
	stored := mustClient(t, env, "svc")
	if stored.SecretHash == "" || stored.SecretHash == svc.ClientSecret {
		t.Errorf("stored secret hash %q", stored.SecretHash)
	}
}

func TestAuditPagesAndNamesTheActor(t *testing.T) {
	env := admintest.New(t, nil)
	for _, who := range []string{"ops", "ci", "ops"} {
		ctx := admin.WithActor(t.Context(), admin.APIActor(who))
		if _, err := env.Service.CreateClient(ctx, admin.ClientSpec{}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	first, err := env.Service.Audit(ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Events) != 2 || first.NextBefore != first.Events[1].ID {
		t.Fatalf("first page: %+v", first)
	}
	if e := first.Events[0]; e.Action != "clients.create" || e.Actor != "admin-api:ops" || e.Details["new_secret"] != true {
		t.Errorf("newest event: %+v", e)
	}
	if e := first.Events[1]; e.Actor != "admin-api:ci" {
		t.Errorf("second event: %+v", e)
	}
	rest, err := env.Service.Audit(ctx, first.NextBefore, admin.MaxAuditLimit)
	if err != nil {
		t.Fatal(err)
	}
	if rest.NextBefore != 0 || len(rest.Events) == 0 || rest.Events[0].ID >= first.NextBefore {
		t.Errorf("next page: %+v", rest)
	}
}

// RevokeKey on a key that never signed revokes no tokens and schedules
// nothing; on the current key it names the follow-up time, one reload
// interval (keys' default here) after the revocation.
func TestRevokeKeyFollowUpUsesKeysDefaults(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	env := admintest.New(t, func(c *admin.Config) { c.Now = func() time.Time { return now } })
	ctx := asOps(t.Context())
	ks, err := env.Service.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var current, next string
	for _, k := range ks {
		if k.Algorithm == keys.EdDSA {
			switch k.State {
			case "current":
				current = k.KID
			case "next":
				next = k.KID
			}
		}
	}
	res, err := env.Service.RevokeKey(ctx, next, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.TokensRevoked != 0 || !res.FollowUpAt.IsZero() || res.Key.State != "revoked" {
		t.Errorf("revoking a key that never signed: %+v", res)
	}
	res, err = env.Service.RevokeKey(ctx, current, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := res.Key.RevokedAt.Add(keys.DefaultReloadInterval); !res.FollowUpAt.Equal(want) || res.FollowUpScheduled {
		t.Errorf("follow-up %v (scheduled %v), want %v and not scheduled (no FollowUps)", res.FollowUpAt, res.FollowUpScheduled, want)
	}
}

func mustClient(t *testing.T, env *admintest.Env, id string) storage.Client {
	t.Helper()
	c, err := env.Store.GetClient(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
