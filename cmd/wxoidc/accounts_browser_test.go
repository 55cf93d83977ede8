package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/provider"
)

// The example fixture's account has one login session linked to the demo
// mini-program client and a consent for it. Every step runs both on the
// database (--data) and through the admin API (--admin-url).
func TestAccountsBrowserStateCLI(t *testing.T) {
	for _, mode := range []string{"data", "admin-url"} {
		t.Run(mode, func(t *testing.T) {
			f := newExampleFixture(t)
			var environ []string
			where := []string{"--data", f.dir}
			if mode == "admin-url" {
				environ = []string{envAdminToken + "=" + devAdminToken}
				where = []string{"--admin-url", f.adminAPI(t)}
			}
			cli := func(args ...string) (int, string, string) {
				t.Helper()
				return runCLIEnv(t, environ, slices.Concat(args, where)...)
			}
			must := func(args ...string) string {
				t.Helper()
				code, out, errOut := cli(args...)
				if code != 0 {
					t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
				}
				return out
			}

			accs := decodeOut[[]admin.AccountView](t, must("accounts", "show", "--sub", f.sub, "--json"))
			if len(accs) != 1 || len(accs[0].LoginSessions) != 1 || len(accs[0].Consents) != 1 {
				t.Fatalf("show --json: %+v", accs)
			}
			if ls := accs[0].LoginSessions[0]; ls.ID != "example-login-session" || ls.AppID != devAppID || !slices.Equal(ls.ClientIDs, []string{devMiniProgram}) {
				t.Errorf("login session: %+v", ls)
			}
			if c := accs[0].Consents[0]; c.ClientID != devMiniProgram || !slices.Equal(c.Scopes, []string{provider.ScopeOpenID}) {
				t.Errorf("consent: %+v", c)
			}
			table := must("accounts", "show", "--sub", f.sub)
			for _, want := range []string{"login sessions:", "example-login-session", "consents:", devMiniProgram, "openid"} {
				if !strings.Contains(table, want) {
					t.Errorf("show table lacks %q:\n%s", want, table)
				}
			}

			if out := must("accounts", "revoke-consent", f.sub, devMiniProgram); !strings.Contains(out, "consent for client "+devMiniProgram+" revoked") {
				t.Errorf("revoke-consent: %s", out)
			}
			for _, tc := range []struct {
				args []string
				code int
				msg  string
			}{
				{[]string{"accounts", "revoke-consent", f.sub, devMiniProgram}, 1, "no consent"},
				{[]string{"accounts", "revoke-consent", "nobody", devMiniProgram}, 1, "no account"},
				{[]string{"accounts", "revoke-consent", f.sub}, 2, "exactly an account sub and a client ID"},
				{[]string{"accounts", "end-sessions"}, 2, "exactly one account sub"},
				{[]string{"accounts", "end-sessions", "nobody"}, 1, "no account"},
			} {
				code, _, errOut := cli(tc.args...)
				if code != tc.code || !strings.Contains(errOut, tc.msg) {
					t.Errorf("%v: exit %d %s, want %d %q", tc.args, code, errOut, tc.code, tc.msg)
				}
			}

			got := decodeOut[map[string]any](t, must("accounts", "end-sessions", f.sub, "--json"))
			if got["sessions_ended"] != float64(1) || got["sub"] != f.sub {
				t.Errorf("end-sessions --json: %v", got)
			}
			if out := must("accounts", "end-sessions", f.sub); !strings.Contains(out, "0 login sessions ended") {
				t.Errorf("end-sessions again: %s", out)
			}
			accs = decodeOut[[]admin.AccountView](t, must("accounts", "show", "--sub", f.sub, "--json"))
			if len(accs[0].LoginSessions) != 0 || len(accs[0].Consents) != 0 {
				t.Errorf("after revoking and ending: %+v", accs[0])
			}
			if out := must("accounts", "disable", "--sub", f.sub); !strings.Contains(out, "0 login sessions ended") {
				t.Errorf("disable: %s", out)
			}
			change := decodeOut[admin.AccountChange](t, must("accounts", "enable", "--sub", f.sub, "--json"))
			if change.Account.Disabled || change.Account.Sub != f.sub {
				t.Errorf("enable --json: %+v", change)
			}

			events := decodeOut[[]cliAudit](t, must("audit", "--json"))
			for _, action := range []string{"accounts.revoke_consent", "accounts.end_sessions"} {
				if !slices.ContainsFunc(events, func(e cliAudit) bool { return e.Action == action && e.Target == f.sub }) {
					t.Errorf("no audit %s in %+v", action, events)
				}
			}
		})
	}
}

// Disabling an account ends its login sessions in the same command.
func TestAccountsDisableEndsSessionsCLI(t *testing.T) {
	f := newExampleFixture(t)
	code, out, errOut := runCLI(t, "accounts", "disable", "--data", f.dir, "--sub", f.sub)
	if code != 0 || !strings.Contains(out, "1 login sessions ended") {
		t.Fatalf("disable: exit %d %s%s", code, out, errOut)
	}
	_, out, _ = runCLI(t, "accounts", "show", "--data", f.dir, "--sub", f.sub, "--json")
	if accs := decodeOut[[]admin.AccountView](t, out); len(accs[0].LoginSessions) != 0 {
		t.Errorf("sessions left after disable: %+v", accs[0].LoginSessions)
	}
}

// clients create takes the mobile app grant by its URN, and the app kinds
// of the dev configuration are checked.
func TestClientsCreateMobileAppGrantCLI(t *testing.T) {
	f := newExampleFixture(t)
	code, out, errOut := runCLI(t, "clients", "create", "--data", f.dir, "--id", "ios", "--appid", devMobileAppID,
		"--grant", provider.GrantTypeWeChatApp, "--grant", "refresh_token", "--json")
	if code != 0 {
		t.Fatalf("create with the mobile app grant: exit %d %s", code, errOut)
	}
	if c := decodeOut[admin.ClientView](t, out); !slices.Equal(c.GrantTypes, []string{provider.GrantTypeWeChatApp, "refresh_token"}) || c.WeChatAppID != devMobileAppID {
		t.Errorf("created: %+v", c)
	}
	code, out, errOut = runCLI(t, "clients", "create", "--data", f.dir, "--id", "android", "--appid", devMobileAppID, "--json")
	if c := decodeOut[admin.ClientView](t, out); code != 0 || !slices.Equal(c.GrantTypes, []string{provider.GrantTypeWeChatApp, "refresh_token"}) {
		t.Errorf("a mobile app client's default grants: exit %d %+v %s", code, c, errOut)
	}
	for _, tc := range []struct {
		name string
		args []string
		msg  []string
	}{
		{"mobile app grant on a mini-program", []string{"--appid", devAppID, "--grant", provider.GrantTypeWeChatApp}, []string{devAppID, "miniprogram", "mobile_app"}},
		{"mini-program grant on a mobile app", []string{"--appid", devMobileAppID, "--grant", provider.GrantTypeWeChat}, []string{devMobileAppID, "mobile_app", "miniprogram"}},
		{"mini-program grant on a website app", []string{"--appid", devWebsiteAppID}, []string{devWebsiteAppID, "website"}},
		{"browser sign-in with a mobile app", []string{"--grant", "authorization_code", "--scope", "openid", "--redirect-uri", "https://app.example.com/cb",
			"--wechat-app", devMobileAppID}, []string{"wechat_apps", devMobileAppID, "mobile_app"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, slices.Concat([]string{"clients", "create", "--data", f.dir}, tc.args)...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (invalid): %s", code, errOut)
			}
			for _, m := range tc.msg {
				if !strings.Contains(errOut, m) {
					t.Errorf("error %q does not name %q", errOut, m)
				}
			}
		})
	}
	code, _, errOut = runCLI(t, "clients", "create", "--data", f.dir, "--id", "web", "--grant", "authorization_code", "--scope", "openid",
		"--redirect-uri", "https://app.example.com/cb", "--wechat-app", devWebsiteAppID, "--wechat-app", devOfficialAppID, "--wechat-app", devAppID)
	if code != 0 {
		t.Errorf("browser client with website, official account and mini-program: exit %d %s", code, errOut)
	}
}
