package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

func TestUsageAndExitCodes(t *testing.T) {
	cases := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{nil, 2, "", "Usage:\n  wxoidc COMMAND"},
		// Help that was asked for goes to stdout (help | less), at every level.
		{[]string{"--help"}, 0, "Available Commands:", ""},
		{[]string{"-h"}, 0, "Available Commands:", ""},
		{[]string{"help"}, 0, "dev", ""},
		{[]string{"help", "keys"}, 0, "wxoidc keys COMMAND", ""},
		{[]string{"keys", "--help"}, 0, "rotate", ""},
		{[]string{"keys", "revoke", "--help"}, 0, "wxoidc keys revoke KID [flags]", ""},
		{[]string{"help", "keys", "revoke"}, 0, "--revoke-tokens", ""},
		{[]string{"keys", "revoke", "KID", "--help"}, 0, "--no-wait", ""},
		{[]string{"help", "accounts", "revoke-tokens"}, 0, "--phone", ""},
		{[]string{"help", "clients", "create"}, 0, "-h, --help", ""},
		{[]string{"help", "keys", "nosuch"}, 2, "", `no help topic "nosuch" for "wxoidc keys"`},
		{[]string{"no-such-command"}, 2, "", `unknown command "no-such-command"`},
		{[]string{"kyes"}, 2, "", `did you mean keys?`},
		{[]string{"kyes", "list", "--data", "DIR"}, 2, "", `unknown command "kyes" (did you mean keys?)`},
		{[]string{"--bogus"}, 2, "", "Available Commands:"},
		{[]string{"no-such-command"}, 2, "", "Run 'wxoidc --help' for usage."},
		{[]string{"version"}, 0, "wxoidc " + version, ""},
		{[]string{"dev", "--help"}, 0, "--addr", ""},
		{[]string{"serve", "--help"}, 0, "--config", ""},
		{[]string{"keys"}, 2, "", "missing subcommand"},
		{[]string{"keys", "frobnicate"}, 2, "", "unknown subcommand"},
		{[]string{"keys", "list", "--bogus"}, 2, "", "unknown flag: --bogus\nRun 'wxoidc keys list --help' for usage."},
		{[]string{"keys", "revoke"}, 2, "", "revoke takes exactly one KID"},
		{[]string{"keys", "revoke", "a", "b"}, 2, "", "revoke takes exactly one KID"},
		{[]string{"clients"}, 2, "", "missing subcommand"},
		{[]string{"clients", "frobnicate"}, 2, "", "unknown subcommand"},
		{[]string{"clients", "list", "--config", "a.yaml", "--data", "dir"}, 2, "", "either --config or --data"},
		{[]string{"verify"}, 2, "", "need --issuer"},
		{[]string{"verify", "--issuer", "http://127.0.0.1:1", "--audience", "x"}, 2, "", "need --issuer"},
		{[]string{"serve", "stray"}, 2, "", "unexpected argument"},
		{[]string{"serve", "--config", "/no/such/file.yaml"}, 1, "", "wxoidc serve:"},
		{[]string{"completion", "bash"}, 0, "__wxoidc_get_completion_results", ""},
		{[]string{"completion", "zsh"}, 0, "#compdef wxoidc", ""},
		{[]string{"completion", "fish"}, 0, "complete -c wxoidc", ""},
		{[]string{"completion", "tcsh"}, 2, "", "unknown subcommand"},
		// What the completion scripts ask the binary.
		{[]string{"__complete", "help", "ke"}, 0, "keys", ""},
		{[]string{"__complete", "keys", "rotate", "--alg", ""}, 0, "EdDSA", ""},
		{[]string{"__complete", "clients", "update", "--auth-method", "client_"}, 0, "client_secret_post", ""},
		{[]string{"__complete", "keys", "re"}, 0, "revoke", ""},
	}
	for _, c := range cases {
		code, out, errOut := runCLI(t, c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", c.args, code, c.code, out, errOut)
		}
		if c.inStdout != "" && !strings.Contains(out, c.inStdout) {
			t.Errorf("%v: stdout lacks %q: %s", c.args, c.inStdout, out)
		}
		if c.inStderr != "" && !strings.Contains(errOut, c.inStderr) {
			t.Errorf("%v: stderr lacks %q: %s", c.args, c.inStderr, errOut)
		}
	}
}

// verify refuses a token that is not a valid ID token of the issuer (exit 1).
func TestVerifyRefusesBadToken(t *testing.T) {
	d := startDev(t, filepath.Join(t.TempDir(), "data"))
	code, out, errOut := runCLI(t, "verify", "--issuer", "http://"+d.addr, "--audience", devMiniProgram, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
	if code != 1 || !strings.Contains(errOut, "rejected") || strings.Contains(out, "verified") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
}

var reSecret = regexp.MustCompile(`(?m)^client_secret: (\S+)$`)

// clients create/list/show/update/delete against a dev data directory, while
// the dev instance runs on it: a created confidential client's secret is
// printed once and works for client_credentials at once.
func TestClientsRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := startDev(t, dir)
	issuer := "http://" + d.addr

	code, out, errOut := runCLI(t, "clients", "create", "--data", dir, "--id", "svc", "--name", "Service", "--audience", "https://api.example.com")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	m := reSecret.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no secret printed:\n%s", out)
	}
	secret := m[1]
	if !strings.Contains(out, "shown once") || !strings.Contains(out, "client_secret_basic") {
		t.Errorf("create output:\n%s", out)
	}
	if strings.Contains(errOut, secret) {
		t.Error("secret printed to stderr")
	}

	// The secret works at once against the running instance.
	cc := func(id, secret string) (int, map[string]interface{}) {
		req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "audience": {"https://api.example.com"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var body map[string]interface{}
		_ = json.Unmarshal(raw, &body)
		return resp.StatusCode, body
	}
	if status, body := cc("svc", secret); status != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("client_credentials with the printed secret: %d %v", status, body)
	}
	if status, _ := cc("svc", secret+"x"); status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", status)
	}

	// Never shown again: not by list, show or JSON output.
	for _, args := range [][]string{{"clients", "list", "--data", dir}, {"clients", "list", "--data", dir, "--json"}, {"clients", "show", "--data", dir, "svc"}, {"clients", "show", "--data", dir, "--json", "svc"}} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: %d %s", args, code, errOut)
		}
		if !strings.Contains(out, "svc") {
			t.Errorf("%v does not show svc:\n%s", args, out)
		}
		if strings.Contains(out, secret) || strings.Contains(out, "hmac-sha256") || strings.Contains(out, "pbkdf2") {
			t.Errorf("%v shows the secret or its hash:\n%s", args, out)
		}
	}
	code, out, _ = runCLI(t, "clients", "list", "--data", dir, "--json")
	var list []map[string]interface{}
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	ids := map[string]bool{}
	for _, c := range list {
		ids[c["client_id"].(string)] = true
	}
	for _, want := range []string{"svc", devMiniProgram, devBackend} {
		if !ids[want] {
			t.Errorf("list lacks %s: %v", want, ids)
		}
	}

	// update changes only what is given.
	code, _, errOut = runCLI(t, "clients", "update", "--data", dir, "--name", "Renamed", "--scope", "reports", "svc")
	if code != 0 {
		t.Fatalf("update: %d %s", code, errOut)
	}
	_, out, _ = runCLI(t, "clients", "show", "--data", dir, "--json", "svc")
	var shown []map[string]interface{}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || len(shown) != 1 {
		t.Fatalf("show --json: %v\n%s", err, out)
	}
	if shown[0]["name"] != "Renamed" || !testharness.JSONStringsEqual(shown[0]["scopes"], "reports") || !testharness.JSONStringsEqual(shown[0]["audiences"], "https://api.example.com") || shown[0]["token_endpoint_auth_method"] != "client_secret_basic" {
		t.Errorf("after update: %v", shown[0])
	}
	if status, _ := cc("svc", secret); status != http.StatusOK {
		t.Errorf("update broke the secret: %d", status)
	}
	// An update that would make the client invalid is refused and changes nothing.
	// (Exit 1 or 2: a refused flag value is a usage mistake or a failure.)
	if code, _, errOut := runCLI(t, "clients", "update", "--data", dir, "--auth-method", "none", "svc"); code == 0 || !strings.Contains(errOut, "confidential") {
		t.Errorf("invalid update: %d %s", code, errOut)
	}
	if status, _ := cc("svc", secret); status != http.StatusOK {
		t.Errorf("a refused update changed the client: %d", status)
	}

	// A public mini-program client: no secret.
	code, out, errOut = runCLI(t, "clients", "create", "--data", dir, "--id", "mp2", "--appid", devAppID)
	if code != 0 || strings.Contains(out, "client_secret:") || !strings.Contains(out, "none") {
		t.Errorf("create mini-program client: %d\n%s%s", code, out, errOut)
	}
	// Mistakes.
	if code, _, errOut := runCLI(t, "clients", "create", "--data", dir, "--id", "svc"); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("duplicate: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "clients", "create", "--data", dir, "--auth-method", "magic"); code == 0 || !strings.Contains(errOut, "magic") {
		t.Errorf("bad auth method: %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "clients", "show", "--data", dir); code != 2 {
		t.Errorf("show without id: %d", code)
	}
	if code, _, _ := runCLI(t, "clients", "create", "--data", dir, "positional"); code != 2 {
		t.Errorf("create with positional: %d", code)
	}

	// delete: gone for the CLI and for the token endpoint.
	if code, out, errOut := runCLI(t, "clients", "delete", "--data", dir, "svc"); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "clients", "show", "--data", dir, "svc"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("show after delete: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "clients", "delete", "--data", dir, "svc"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("delete twice: %d %s", code, errOut)
	}
	// The running instance caches clients; a change made by another process
	// (this CLI) reaches it within the cache's lifetime (5 s), so poll.
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, _ := cc("svc", secret)
		if status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deleted client still gets tokens after 15 s: %d", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := d.stop(); code != 0 {
		t.Errorf("dev exit %d", code)
	}
}

// migrate --data creates a fresh dev data directory's schema, and the
// clients commands then work on it without a running instance.
func TestMigrateThenClientsOffline(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fresh")
	if code, out, errOut := runCLI(t, "migrate", "--data", dir); code != 0 || !strings.Contains(out, "migrations applied") {
		t.Fatalf("migrate: %d %s %s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "kek")); err != nil {
		t.Errorf("dev KEK not created: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "kek")); err == nil && fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("dev KEK mode %v, want owner-only", fi.Mode().Perm())
	}
	if code, _, errOut := runCLI(t, "clients", "create", "--data", dir, "--id", "offline"); code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	if code, out, _ := runCLI(t, "clients", "list", "--data", dir); code != 0 || !strings.Contains(out, "offline") {
		t.Errorf("list: %d %s", code, out)
	}
}
