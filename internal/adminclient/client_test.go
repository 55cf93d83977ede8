package adminclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
	"github.com/wxoidc/wxoidc/internal/adminclient"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/web"
)

const token = "ops-token-0123456789abcdef0123456789"

// newServer serves the real admin handler over a real Service and returns a
// client for it plus the Service, so answers can be compared.
func newServer(t *testing.T) (*adminclient.Client, *admintest.Env) {
	t.Helper()
	env := admintest.New(t, nil)
	h, err := web.NewAdminHandler(web.AdminConfig{
		Tokens:  []web.AdminToken{{Name: "ops", Token: token}},
		Service: env.Service,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := adminclient.New(srv.URL+"/", token, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, env
}

func ptr[T any](v T) *T { return &v }

func TestNewRejectsBadSettings(t *testing.T) {
	for _, tc := range []struct{ url, token string }{
		{"", token},
		{"127.0.0.1:8081", token},
		{"ftp://127.0.0.1:8081", token},
		{"http://", token},
		{"http://127.0.0.1:8081?x=1", token},
		{"http://user:pw@127.0.0.1:8081", token},
		{"http://127.0.0.1:8081", ""},
		{"http://127.0.0.1:8081", " \n"},
	} {
		if _, err := adminclient.New(tc.url, tc.token, nil); err == nil {
			t.Errorf("New(%q, %q) accepted", tc.url, tc.token)
		}
	}
}

func TestKeysThroughTheAPI(t *testing.T) {
	c, env := newServer(t)
	ctx := context.Background()
	before, err := c.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := env.Service.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != len(direct) || len(before) == 0 {
		t.Fatalf("API lists %d keys, service %d", len(before), len(direct))
	}

	// A fresh next key is too young to promote: the class survives the wire.
	_, err = c.RotateKeys(ctx, []string{keys.ES256}, false)
	if !errors.Is(err, admin.ErrRotationTooSoon) || !strings.Contains(err.Error(), "rotation too soon") {
		t.Fatalf("rotate without force: %v", err)
	}
	rotated, err := c.RotateKeys(ctx, []string{keys.ES256}, true)
	if err != nil {
		t.Fatal(err)
	}
	var current string
	for _, k := range rotated {
		if k.Algorithm == keys.ES256 && k.State == "current" {
			current = k.KID
		}
	}
	if current == "" {
		t.Fatalf("rotation answered no current ES256 key: %+v", rotated)
	}
	after, err := env.Service.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range after {
		if k.KID == current && k.State == "current" {
			found = true
		}
	}
	if !found {
		t.Fatalf("storage does not hold %s as current after rotation: %+v", current, after)
	}

	// Rotating every algorithm at once (no alg) works too.
	if _, err := c.RotateKeys(ctx, nil, true); err != nil {
		t.Fatal(err)
	}

	res, err := c.RevokeKey(ctx, "no-such-kid", false)
	if !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("revoke unknown kid: %+v %v", res, err)
	}
}

func TestClientsAndErrorClasses(t *testing.T) {
	c, _ := newServer(t)
	ctx := context.Background()
	created, err := c.CreateClient(ctx, admin.ClientSpec{ID: ptr("svc-1"), Name: ptr("Service one"), GrantTypes: &[]string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID != "svc-1" || created.ClientSecret == "" {
		t.Fatalf("created %+v: want the id and a one-time secret", created)
	}
	got, err := c.GetClient(ctx, "svc-1")
	if err != nil || got.ID != "svc-1" || got.ClientSecret != "" {
		t.Fatalf("get: %+v %v (the secret must not be shown again)", got, err)
	}
	if _, err := c.CreateClient(ctx, admin.ClientSpec{ID: ptr("svc-1"), GrantTypes: &[]string{"client_credentials"}}); !errors.Is(err, admin.ErrConflict) {
		t.Fatalf("duplicate create: %v", err)
	}
	if _, err := c.CreateClient(ctx, admin.ClientSpec{ID: ptr("bad id with spaces")}); !errors.Is(err, admin.ErrInvalid) {
		t.Fatalf("invalid create: %v", err)
	}
	list, err := c.ListClients(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	// Client IDs are path-escaped: a slash cannot reach another route.
	if _, err := c.GetClient(ctx, "svc-1/../x"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("get with slash: %v", err)
	}
	if n, err := c.RevokeClientTokens(ctx, "svc-1"); err != nil || n != 0 {
		t.Fatalf("revoke tokens of a client without tokens: %d %v", n, err)
	}
	if err := c.DeleteClient(ctx, "svc-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetClient(ctx, "svc-1"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := c.RevokeClientTokens(ctx, "svc-1"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("revoke tokens after delete: %v", err)
	}
}

func TestAccountsAndAudit(t *testing.T) {
	c, _ := newServer(t)
	ctx := context.Background()
	if _, err := c.FindAccount(ctx, admin.AccountQuery{Sub: "no-such-sub"}); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("find unknown: %v", err)
	}
	if _, err := c.FindAccounts(ctx, admin.AccountQuery{}); !errors.Is(err, admin.ErrInvalid) {
		t.Fatalf("find with no key: %v", err)
	}
	if _, err := c.SetAccountDisabled(ctx, "no-such-sub", true); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("disable unknown: %v", err)
	}
	if _, err := c.RevokeAccountTokens(ctx, "no-such-sub"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if _, err := c.RotateKeys(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	page, err := c.Audit(ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 2 || page.NextBefore == 0 {
		t.Fatalf("audit page: %+v", page)
	}
	for _, e := range page.Events {
		if e.Actor != "admin-api:ops" {
			t.Errorf("event %d actor %q, want the API token's name", e.ID, e.Actor)
		}
	}
	older, err := c.Audit(ctx, page.NextBefore, 2)
	if err != nil || len(older.Events) == 0 || older.Events[0].ID >= page.Events[1].ID {
		t.Fatalf("older page: %+v %v", older, err)
	}
	if _, err := c.Audit(ctx, 0, 100000); !errors.Is(err, admin.ErrInvalid) {
		t.Fatalf("audit limit too large: %v", err)
	}
}

func TestWrongTokenAndWrongServer(t *testing.T) {
	env := admintest.New(t, nil)
	h, err := web.NewAdminHandler(web.AdminConfig{Tokens: []web.AdminToken{{Name: "ops", Token: token}}, Service: env.Service})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	wrong, err := adminclient.New(srv.URL, "wrong-token-0123456789abcdef", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.ListKeys(context.Background())
	var apiErr *adminclient.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "WXOIDC_ADMIN_TOKEN") {
		t.Fatalf("wrong token: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Fatalf("the error repeats the token: %v", err)
	}

	// A server that is not the admin listener (e.g. the public one) answers
	// HTML or 404s: say so instead of printing an empty table.
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<html>hello</html>"))
	}))
	defer html.Close()
	other, err := adminclient.New(html.URL, token, html.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.ListKeys(context.Background()); err == nil || !strings.Contains(err.Error(), "admin listener") {
		t.Fatalf("HTML answer: %v", err)
	}
}
