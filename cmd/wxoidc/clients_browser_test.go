package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/admin"
)

// showClient reads one client back as `clients show --json` prints it.
func showClient(t *testing.T, args ...string) admin.ClientView {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"clients", "show", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("show %v: %d %s", args, code, errOut)
	}
	list := decodeOut[[]admin.ClientView](t, out)
	if len(list) != 1 {
		t.Fatalf("show %v printed %d clients", args, len(list))
	}
	return list[0]
}

// The browser sign-in flags: create sets them, show prints them, update
// replaces or (given as "") empties a list, and refused values change
// nothing.
func TestClientsBrowserFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errOut := runCLI(t, "migrate", "--data", dir); code != 0 {
		t.Fatalf("migrate: %d %s", code, errOut)
	}
	// A comma is part of a URI, not a separator, for the URI flags.
	withComma := "https://app.example.com/callback?tenants=a,b"
	code, out, errOut := runCLI(t, "clients", "create", "--data", dir, "--id", "web",
		"--grant", "authorization_code", "--grant", "refresh_token", "--scope", "openid",
		"--redirect-uri", "https://app.example.com/callback", "--redirect-uri", withComma,
		"--post-logout-redirect-uri", "https://app.example.com/", "--skip-consent",
		"--backchannel-logout-uri", "https://app.example.com/bc", "--wechat-app", devAppID)
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	for _, want := range []string{"client_secret:", "redirect_uris:", withComma, "https://app.example.com/bc", "skip_consent:", devAppID} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}
	v := showClient(t, "--data", dir, "web")
	if !slices.Equal(v.RedirectURIs, []string{"https://app.example.com/callback", withComma}) ||
		!slices.Equal(v.PostLogoutRedirectURIs, []string{"https://app.example.com/"}) || !v.SkipConsent ||
		v.BackchannelLogoutURI != "https://app.example.com/bc" || !slices.Equal(v.WeChatApps, []string{devAppID}) {
		t.Errorf("created: %+v", v)
	}
	if code, out, _ := runCLI(t, "clients", "list", "--data", dir); code != 0 ||
		!strings.Contains(out, "REDIRECT URIS") || !strings.Contains(out, withComma) {
		t.Errorf("list: %d\n%s", code, out)
	}
	// A client without browser sign-in shows no browser block.
	if code, _, errOut := runCLI(t, "clients", "create", "--data", dir, "--id", "svc"); code != 0 {
		t.Fatalf("create svc: %d %s", code, errOut)
	}
	if code, out, _ := runCLI(t, "clients", "show", "--data", dir, "svc"); code != 0 || strings.Contains(out, "redirect_uris:") {
		t.Errorf("show svc: %d\n%s", code, out)
	}

	code, _, errOut = runCLI(t, "clients", "update", "web", "--data", dir,
		"--redirect-uri", "https://app.example.com/cb2", "--post-logout-redirect-uri", "",
		"--skip-consent=false", "--backchannel-logout-uri", "", "--wechat-app", "")
	if code != 0 {
		t.Fatalf("update: %d %s", code, errOut)
	}
	v = showClient(t, "--data", dir, "web")
	if !slices.Equal(v.RedirectURIs, []string{"https://app.example.com/cb2"}) || len(v.PostLogoutRedirectURIs) != 0 ||
		v.SkipConsent || v.BackchannelLogoutURI != "" || len(v.WeChatApps) != 0 || v.Name != "" {
		t.Errorf("updated: %+v", v)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--redirect-uri", "http://app.example.com/cb"}, "loopback"},
		{[]string{"--redirect-uri", "https://app.example.com/cb#x"}, "fragment"},
		{[]string{"--redirect-uri", ""}, "at least one redirect URI"},
		{[]string{"--post-logout-redirect-uri", "/bye"}, "absolute"},
		{[]string{"--wechat-app", "wxffffffffffffffff"}, "not configured under wechat.apps"},
		{[]string{"--backchannel-logout-uri", "javascript:alert(1)"}, "scheme"},
	} {
		code, _, errOut := runCLI(t, append([]string{"clients", "update", "web", "--data", dir}, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("update %v: %d %s, want a failure with %q", tc.args, code, errOut, tc.want)
		}
	}
	if got := showClient(t, "--data", dir, "web"); !slices.Equal(got.RedirectURIs, []string{"https://app.example.com/cb2"}) || len(got.WeChatApps) != 0 {
		t.Errorf("a refused update changed the client: %+v", got)
	}
}

// Through the admin API an emptied list must travel as [] (clear), not as
// null (keep).
func TestClientsBrowserFlagsThroughAdminURL(t *testing.T) {
	dir := t.TempDir()
	d := startDev(t, dir)
	remote := []string{"--admin-url", "http://" + d.adminAddr}
	withToken := []string{envAdminToken + "=" + devAdminToken}
	cli := func(args ...string) {
		t.Helper()
		if code, _, errOut := runCLIEnv(t, withToken, append(args, remote...)...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, errOut)
		}
	}
	cli("clients", "create", "--id", "web", "--grant", "authorization_code", "--redirect-uri", "https://app.example.com/cb",
		"--post-logout-redirect-uri", "https://app.example.com/", "--wechat-app", devAppID, "--skip-consent")
	v := showClient(t, "--data", dir, "web")
	if len(v.PostLogoutRedirectURIs) != 1 || len(v.WeChatApps) != 1 || !v.SkipConsent {
		t.Fatalf("created through the API: %+v", v)
	}
	cli("clients", "update", "web", "--post-logout-redirect-uri", "", "--wechat-app", "")
	v = showClient(t, "--data", dir, "web")
	if len(v.PostLogoutRedirectURIs) != 0 || len(v.WeChatApps) != 0 || !v.SkipConsent || len(v.RedirectURIs) != 1 {
		t.Errorf("after clearing through the API: %+v", v)
	}
}
