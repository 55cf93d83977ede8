package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
)

// The browser sign-in fields travel through the API under their OIDC
// Dynamic Client Registration names; the document describes both the
// request and every answer.
func TestAdminClientBrowserFields(t *testing.T) {
	f := newTestAdmin(t, nil)
	body := `{"client_id":"web","grant_types":["authorization_code","refresh_token"],"scopes":["openid"],` +
		`"redirect_uris":["https://app.example.com/callback","http://127.0.0.1:8080/cb"],` +
		`"post_logout_redirect_uris":["https://app.example.com/"],"skip_consent":true,` +
		`"backchannel_logout_uri":"https://app.example.com/bc","wechat_apps":["` + admintest.AppID + `"]}`
	checkClientSpecDocumented(t, f, body)
	var created admin.ClientView
	f.json("POST", "/admin/v1/clients", body, http.StatusCreated, &created)
	var shown admin.ClientView
	f.json("GET", "/admin/v1/clients/web", "", http.StatusOK, &shown)
	for what, v := range map[string]admin.ClientView{"created": created, "shown": shown} {
		if !slices.Equal(v.RedirectURIs, []string{"https://app.example.com/callback", "http://127.0.0.1:8080/cb"}) ||
			!slices.Equal(v.PostLogoutRedirectURIs, []string{"https://app.example.com/"}) || !v.SkipConsent ||
			v.BackchannelLogoutURI != "https://app.example.com/bc" || !slices.Equal(v.WeChatApps, []string{admintest.AppID}) {
			t.Errorf("%s: %+v", what, v)
		}
	}

	patch := `{"post_logout_redirect_uris":[],"skip_consent":false,"backchannel_logout_uri":"","wechat_apps":[]}`
	checkClientSpecDocumented(t, f, patch)
	var updated admin.ClientView
	f.json("PATCH", "/admin/v1/clients/web", patch, http.StatusOK, &updated)
	if len(updated.PostLogoutRedirectURIs) != 0 || updated.SkipConsent || updated.BackchannelLogoutURI != "" ||
		len(updated.WeChatApps) != 0 || len(updated.RedirectURIs) != 2 {
		t.Errorf("updated: %+v", updated)
	}
	f.json("GET", "/admin/v1/clients", "", http.StatusOK, nil)

	for _, tc := range []struct{ body, want string }{
		{`{"redirect_uris":["http://app.example.com/cb"]}`, "loopback"},
		{`{"redirect_uris":["https://x/cb#f"]}`, "fragment"},
		{`{"redirect_uris":[]}`, "at least one redirect URI"},
		{`{"wechat_apps":["wxffffffffffffffff"]}`, "wechat.apps"},
		{`{"backchannel_logout_uri":"javascript:alert(1)"}`, "scheme"},
		{`{"skip_consent":"yes"}`, ""},
		{`{"redirect_uris":"https://x/cb"}`, ""},
	} {
		rec := f.do("PATCH", "/admin/v1/clients/web", opsAuth, tc.body)
		if e := errorBody(t, rec); rec.Code != http.StatusBadRequest || e.Error != "invalid_request" || !strings.Contains(e.Description, tc.want) {
			t.Errorf("PATCH %s: %d %+v, want 400 invalid_request with %q", tc.body, rec.Code, e, tc.want)
		}
	}
}

// checkClientSpecDocumented validates a request body against the
// document's ClientSpec, which refuses unknown properties.
func checkClientSpecDocumented(t *testing.T, f *adminFixture, body string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if err := f.doc.Components.Schemas["ClientSpec"].Value.VisitJSON(v); err != nil {
		t.Errorf("the document's ClientSpec refuses %s: %v", body, err)
	}
}
