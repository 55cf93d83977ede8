package adminclient_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
)

// Through the API the client sees what the Service sees, and gets the same
// error classes.
func TestAccountBrowserStateThroughTheAPI(t *testing.T) {
	c, env := newServer(t)
	ctx := context.Background()
	if _, err := c.CreateClient(ctx, admin.ClientSpec{ID: ptr("svc")}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	env.Account(t, "sub-1", "o-1", now)
	env.SignIn(t, "sub-1", "s-1", now, []string{"openid"}, "svc")
	env.SignIn(t, "sub-1", "s-2", now, nil)

	got, err := c.FindAccount(ctx, admin.AccountQuery{Sub: "sub-1"})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := env.Service.FindAccount(ctx, admin.AccountQuery{Sub: "sub-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.LoginSessions, direct.LoginSessions) || !reflect.DeepEqual(got.Consents, direct.Consents) || len(got.LoginSessions) != 2 || len(got.Consents) != 1 {
		t.Fatalf("through the API %+v\ndirect %+v", got, direct)
	}

	if err := c.RevokeConsent(ctx, "sub-1", "svc"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sub, client string
		want              error
	}{
		{"again", "sub-1", "svc", admin.ErrNotFound},
		{"unknown account", "nobody", "svc", admin.ErrNotFound},
		{"no client", "sub-1", "", admin.ErrInvalid},
		{"no sub", "", "svc", admin.ErrInvalid},
	} {
		if err := c.RevokeConsent(ctx, tc.sub, tc.client); !errors.Is(err, tc.want) {
			t.Errorf("%s: RevokeConsent = %v, want %v", tc.name, err, tc.want)
		}
	}
	if n, err := c.EndLoginSessions(ctx, "sub-1"); err != nil || n != 2 {
		t.Fatalf("EndLoginSessions = %d, %v; want 2", n, err)
	}
	if _, err := c.EndLoginSessions(ctx, "nobody"); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("end sessions of unknown: %v", err)
	}
	env.SignIn(t, "sub-1", "s-3", now, nil)
	res, err := c.SetAccountDisabled(ctx, "sub-1", true)
	if err != nil || !res.Account.Disabled || res.SessionsEnded != 1 || res.Account.Sub != "sub-1" {
		t.Errorf("disable: %+v %v", res, err)
	}
}
