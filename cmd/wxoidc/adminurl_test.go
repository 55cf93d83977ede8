package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAdminURLModeAgainstDev runs the admin commands through a running
// `wxoidc dev`'s admin API: no DSN, no key-encryption key, only the URL and
// a bearer token. The rotation it makes is what the instance then serves.
func TestAdminURLModeAgainstDev(t *testing.T) {
	dir := t.TempDir()
	d := startDev(t, dir)
	adminURL := "http://" + d.adminAddr
	withToken := []string{envAdminToken + "=" + devAdminToken}

	_, before, _ := runCLI(t, "keys", "list", "--data", dir, "--json")
	beforeKeys := decodeOut[[]cliKey](t, before)
	oldCurrent := currentKID(beforeKeys, "RS256")
	if oldCurrent == "" {
		t.Fatalf("dev mode has no current RS256 key: %+v", beforeKeys)
	}

	// Listing through the API shows what the database holds.
	code, out, errOut := runCLIEnv(t, withToken, "keys", "list", "--admin-url", adminURL, "--json")
	if code != 0 {
		t.Fatalf("keys list --admin-url: exit %d: %s", code, errOut)
	}
	if got := decodeOut[[]cliKey](t, out); !sameKIDs(got, beforeKeys) {
		t.Fatalf("API lists %+v, database %+v", got, beforeKeys)
	}

	// The fresh next key is too young: the server's refusal arrives intact.
	code, _, errOut = runCLIEnv(t, withToken, "keys", "rotate", "--admin-url", adminURL, "--alg", "RS256")
	if code != 1 || !strings.Contains(errOut, "rotation too soon") {
		t.Fatalf("rotate without --force: exit %d: %s", code, errOut)
	}

	// Flags after the subcommand, the token from a file.
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte(devAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "keys", "rotate", "--alg", "RS256", "--force", "--json",
		"--admin-url", adminURL, "--admin-token-file", tokenFile)
	if code != 0 {
		t.Fatalf("keys rotate --admin-url: exit %d: %s", code, errOut)
	}
	newCurrent := currentKID(decodeOut[[]cliKey](t, out), "RS256")
	if newCurrent == "" || newCurrent == oldCurrent {
		t.Fatalf("rotation answered current %q (was %q): %s", newCurrent, oldCurrent, out)
	}

	// The database and the running instance's JWKS agree.
	_, after, _ := runCLI(t, "keys", "list", "--data", dir, "--json")
	if got := currentKID(decodeOut[[]cliKey](t, after), "RS256"); got != newCurrent {
		t.Fatalf("database current RS256 = %q, API said %q", got, newCurrent)
	}
	if !slices.Contains(jwksKIDs(t, "http://"+d.addr), newCurrent) {
		t.Fatalf("the instance's JWKS lacks the new current key %s", newCurrent)
	}

	// The audit log names the API token, not "cli"; the URL can come from
	// the environment.
	code, out, errOut = runCLIEnv(t, append(withToken, envAdminURL+"="+adminURL), "audit", "--json", "--limit", "50")
	if code != 0 {
		t.Fatalf("audit via WXOIDC_ADMIN_URL: exit %d: %s", code, errOut)
	}
	if !hasAudit(decodeOut[[]cliAudit](t, out), "admin-api:dev", "keys.rotate", "RS256") {
		t.Fatalf("no keys.rotate by admin-api:dev in %s", out)
	}

	// Clients and accounts work the same way.
	code, out, errOut = runCLIEnv(t, withToken, "clients", "show", "demo-miniprogram", "--json", "--admin-url", adminURL)
	if code != 0 || !strings.Contains(out, `"client_id": "demo-miniprogram"`) {
		t.Fatalf("clients show: exit %d: %s %s", code, out, errOut)
	}
	code, out, errOut = runCLIEnv(t, withToken, "clients", "revoke-tokens", "demo-miniprogram", "--json", "--admin-url", adminURL)
	if code != 0 || !strings.Contains(out, `"tokens_revoked": 0`) {
		t.Fatalf("clients revoke-tokens: exit %d: %s %s", code, out, errOut)
	}
	code, _, errOut = runCLIEnv(t, withToken, "accounts", "show", "--sub", "no-such-account", "--admin-url", adminURL)
	if code != 1 || !strings.Contains(errOut, "no account") {
		t.Fatalf("accounts show unknown: exit %d: %s", code, errOut)
	}
	code, _, errOut = runCLIEnv(t, withToken, "clients", "create", "--id", "bad id", "--admin-url", adminURL)
	if code != 2 {
		t.Fatalf("invalid client through the API: exit %d (want the usage code 2): %s", code, errOut)
	}
}

func TestAdminURLModeRefusals(t *testing.T) {
	dir := t.TempDir()
	d := startDev(t, dir)
	adminURL := "http://" + d.adminAddr
	wrong := filepath.Join(t.TempDir(), "wrong")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(wrong, []byte("not-the-token-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		environ []string
		args    []string
		code    int
		says    string
	}{
		{"no token", nil, []string{"keys", "list", "--admin-url", adminURL}, 2, envAdminToken},
		{"empty token file", nil, []string{"keys", "list", "--admin-url", adminURL, "--admin-token-file", empty}, 2, "empty"},
		{"missing token file", nil, []string{"keys", "list", "--admin-url", adminURL, "--admin-token-file", empty + "-missing"}, 1, "no such file"},
		{"wrong token", nil, []string{"keys", "list", "--admin-url", adminURL, "--admin-token-file", wrong}, 1, "refused the token"},
		{"both sources", []string{envAdminToken + "=" + devAdminToken}, []string{"keys", "list", "--admin-url", adminURL, "--data", dir}, 2, "not both"},
		{"token file without URL", nil, []string{"keys", "list", "--data", dir, "--admin-token-file", wrong}, 2, "--admin-url"},
		{"not a URL", []string{envAdminToken + "=" + devAdminToken}, []string{"keys", "list", "--admin-url", d.adminAddr}, 2, "http"},
		{"public listener", []string{envAdminToken + "=" + devAdminToken}, []string{"keys", "list", "--admin-url", "http://" + d.addr}, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLIEnv(t, tc.environ, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.says) {
				t.Fatalf("exit %d (want %d): %s (want it to say %q)", code, tc.code, errOut, tc.says)
			}
			if strings.Contains(errOut, "not-the-token") || strings.Contains(errOut, devAdminToken) {
				t.Fatalf("the error repeats a token: %s", errOut)
			}
		})
	}
}

func currentKID(ks []cliKey, alg string) string {
	for _, k := range ks {
		if k.Alg == alg && k.State == "current" {
			return k.KID
		}
	}
	return ""
}

func sameKIDs(a, b []cliKey) bool {
	kids := func(ks []cliKey) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.KID+"/"+k.State)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(kids(a), kids(b))
}

func jwksKIDs(t *testing.T, issuer string) []string {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KID)
	}
	return out
}
