package admin_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
	"github.com/wxoidc/wxoidc/provider"
)

// websiteApp is a second configured app: the WeChat website app a browser
// client signs people in with.
const websiteApp = "wx0123456789abcdef"

func browserEnv(t *testing.T) *admintest.Env {
	return admintest.New(t, func(c *admin.Config) { c.WeChatAppIDs = append(c.WeChatAppIDs, websiteApp) })
}

func webSpec() admin.ClientSpec {
	return admin.ClientSpec{
		ID:                     ptr("web"),
		GrantTypes:             ptr([]string{provider.GrantTypeAuthorizationCode, provider.GrantTypeRefreshToken}),
		Scopes:                 ptr([]string{provider.ScopeOpenID, provider.ScopeOfflineAccess}),
		RedirectURIs:           ptr([]string{"https://app.example.com/callback", "https://app.example.com/callback/"}),
		PostLogoutRedirectURIs: ptr([]string{"https://app.example.com/"}),
		SkipConsent:            ptr(true),
		BackchannelLogoutURI:   ptr("https://app.example.com/backchannel-logout"),
		WeChatApps:             ptr([]string{websiteApp, admintest.AppID}),
	}
}

// Create, show and update carry the browser sign-in fields, and storage
// keeps them.
func TestClientBrowserFieldsRoundTrip(t *testing.T) {
	env := browserEnv(t)
	ctx := asOps(t.Context())
	created, err := env.Service.CreateClient(ctx, webSpec())
	if err != nil {
		t.Fatal(err)
	}
	if created.ClientSecret == "" || created.TokenEndpointAuthMethod != provider.AuthMethodClientSecretBasic {
		t.Errorf("a web client is confidential by default: %+v", created)
	}
	want := func(what string, v admin.ClientView, redirect, postLogout []string, skip bool, backchannel string, apps []string) {
		t.Helper()
		if !slices.Equal(v.RedirectURIs, redirect) || !slices.Equal(v.PostLogoutRedirectURIs, postLogout) ||
			v.SkipConsent != skip || v.BackchannelLogoutURI != backchannel || !slices.Equal(v.WeChatApps, apps) {
			t.Errorf("%s: redirect %q post-logout %q skip %v backchannel %q apps %q,\nwant %q %q %v %q %q", what,
				v.RedirectURIs, v.PostLogoutRedirectURIs, v.SkipConsent, v.BackchannelLogoutURI, v.WeChatApps,
				redirect, postLogout, skip, backchannel, apps)
		}
	}
	spec := webSpec()
	want("created", created, *spec.RedirectURIs, *spec.PostLogoutRedirectURIs, true, *spec.BackchannelLogoutURI, *spec.WeChatApps)
	shown, err := env.Service.GetClient(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	want("shown", shown, *spec.RedirectURIs, *spec.PostLogoutRedirectURIs, true, *spec.BackchannelLogoutURI, *spec.WeChatApps)
	stored := mustClient(t, env, "web")
	if !slices.Equal(stored.RedirectURIs, *spec.RedirectURIs) || !stored.SkipConsent || !slices.Equal(stored.WeChatApps, *spec.WeChatApps) ||
		stored.BackchannelLogoutURI != *spec.BackchannelLogoutURI || !slices.Equal(stored.PostLogoutRedirectURIs, *spec.PostLogoutRedirectURIs) {
		t.Errorf("stored %+v", stored)
	}

	// An update changes what it names: one list replaced, one emptied,
	// the flag turned off, the URI removed; the rest stays.
	updated, err := env.Service.UpdateClient(ctx, "web", admin.ClientSpec{
		RedirectURIs:           ptr([]string{"https://app.example.com/cb2"}),
		PostLogoutRedirectURIs: ptr([]string{}),
		SkipConsent:            ptr(false),
		BackchannelLogoutURI:   ptr(""),
	})
	if err != nil {
		t.Fatal(err)
	}
	want("updated", updated, []string{"https://app.example.com/cb2"}, []string{}, false, "", *spec.WeChatApps)
	list, err := env.Service.ListClients(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list %+v %v", list, err)
	}
	want("listed", list[0], []string{"https://app.example.com/cb2"}, []string{}, false, "", *spec.WeChatApps)
	if stored := mustClient(t, env, "web"); len(stored.PostLogoutRedirectURIs) != 0 || stored.SkipConsent || stored.BackchannelLogoutURI != "" {
		t.Errorf("stored after update %+v", stored)
	}

	// Clearing the WeChat apps is allowed; an unrelated update keeps them.
	if _, err := env.Service.UpdateClient(ctx, "web", admin.ClientSpec{Name: ptr("Web")}); err != nil {
		t.Fatal(err)
	}
	if got := mustClient(t, env, "web").WeChatApps; !slices.Equal(got, *spec.WeChatApps) {
		t.Errorf("a name change touched wechat_apps: %q", got)
	}
	cleared, err := env.Service.UpdateClient(ctx, "web", admin.ClientSpec{WeChatApps: ptr([]string{})})
	if err != nil || len(cleared.WeChatApps) != 0 {
		t.Errorf("clearing wechat_apps: %+v %v", cleared.WeChatApps, err)
	}
}

// A client without browser sign-in shows empty lists, never null, so the
// API answer matches its schema.
func TestClientViewBrowserFieldsNeverNull(t *testing.T) {
	env := admintest.New(t, nil)
	ctx := asOps(t.Context())
	v, err := env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptr("svc")})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`"redirect_uris":[]`, `"post_logout_redirect_uris":[]`, `"wechat_apps":[]`, `"skip_consent":false`} {
		if !strings.Contains(string(raw), frag) {
			t.Errorf("view %s lacks %s", raw, frag)
		}
	}
	if strings.Contains(string(raw), "backchannel_logout_uri") {
		t.Errorf("view %s shows an empty backchannel_logout_uri", raw)
	}
}

func TestClientBrowserFieldsInvalid(t *testing.T) {
	env := browserEnv(t)
	ctx := asOps(t.Context())
	if _, err := env.Service.CreateClient(ctx, webSpec()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*admin.ClientSpec)
		want string
	}{
		{"http not on loopback", func(s *admin.ClientSpec) { s.RedirectURIs = ptr([]string{"http://app.example.com/cb"}) }, "loopback"},
		{"fragment", func(s *admin.ClientSpec) { s.RedirectURIs = ptr([]string{"https://app.example.com/cb#x"}) }, "fragment"},
		{"relative post-logout URI", func(s *admin.ClientSpec) { s.PostLogoutRedirectURIs = ptr([]string{"/bye"}) }, "absolute"},
		{"private-use scheme, confidential", func(s *admin.ClientSpec) { s.RedirectURIs = ptr([]string{"com.example.app:/cb"}) }, "public clients"},
		{"backchannel over http", func(s *admin.ClientSpec) { s.BackchannelLogoutURI = ptr("http://app.example.com/bc") }, "loopback"},
		{"no redirect URI", func(s *admin.ClientSpec) { s.RedirectURIs = ptr([]string{}) }, "at least one redirect URI"},
		{"redirect URIs without the code grant", func(s *admin.ClientSpec) {
			s.GrantTypes = ptr([]string{provider.GrantTypeClientCredentials})
		}, "need the authorization_code grant"},
		{"unconfigured WeChat app", func(s *admin.ClientSpec) { s.WeChatApps = ptr([]string{"wxffffffffffffffff"}) }, "not configured under wechat.apps"},
		{"duplicate WeChat app", func(s *admin.ClientSpec) { s.WeChatApps = ptr([]string{websiteApp, websiteApp}) }, "duplicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := webSpec()
			spec.ID = ptr("new-" + strings.ReplaceAll(tc.name, " ", "-"))
			tc.edit(&spec)
			_, err := env.Service.CreateClient(ctx, spec)
			if !errors.Is(err, admin.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("create: %v, want ErrInvalid with %q", err, tc.want)
			}
			update := admin.ClientSpec{}
			tc.edit(&update)
			_, err = env.Service.UpdateClient(ctx, "web", update)
			if !errors.Is(err, admin.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("update: %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
	// Nothing refused was stored.
	if got := mustClient(t, env, "web"); !slices.Equal(got.RedirectURIs, *webSpec().RedirectURIs) || !slices.Equal(got.WeChatApps, *webSpec().WeChatApps) {
		t.Errorf("a refused update changed the client: %+v", got)
	}
	if list, _ := env.Service.ListClients(ctx); len(list) != 1 {
		t.Errorf("%d clients, want only the valid one", len(list))
	}
}
