package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

const (
	cliAppID     = "wxcccccccccccccccc"
	cliAdminTok  = "cli-test-admin-token-0123456789abcdef"
	cliAppSecret = "cli-test-app-secret"
)

// adminTestEnv is a configuration on disk (YAML plus secret files) and
// the SQLite file it names.
type adminTestEnv struct {
	dir, configPath string
}

// writeAdminConfig writes a production-style configuration: YAML, with the
// KEK, the admin token and the app secret in files. Each process may
// override the listen addresses with WXOIDC_HTTP_ADDR / WXOIDC_ADMIN_ADDR.
func writeAdminConfig(t *testing.T, issuer, httpAddr, adminAddr string, reload time.Duration) adminTestEnv {
	t.Helper()
	dir := t.TempDir()
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	for name, v := range map[string]string{
		"kek": base64.StdEncoding.EncodeToString(kek), "admin-token": cliAdminTok, "app-secret": cliAppSecret,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yaml := fmt.Sprintf(`issuer: %s
http:
  addr: %q
  shutdown_timeout: 10s
admin:
  addr: %q
  tokens:
    - name: ops
      token: {file: %s}
storage:
  dsn: sqlite://%s
  sqlite_synchronous: NORMAL
secrets:
  kek: {file: %s}
wechat:
  base_url: http://127.0.0.1:9
  fallback_base_urls: []
  apps:
    - appid: %s
      secret: {file: %s}
keys:
  reload_interval: %s
  jwks_max_age: %s
  clock_skew: 100ms
log:
  level: info
  format: json
`, issuer, httpAddr, adminAddr, filepath.Join(dir, "admin-token"), filepath.Join(dir, "wxoidc.db"),
		filepath.Join(dir, "kek"), cliAppID, filepath.Join(dir, "app-secret"), config.D(reload), config.D(reload))
	path := filepath.Join(dir, "wxoidc.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return adminTestEnv{dir: dir, configPath: path}
}

// cli runs one command in-process with --config inserted after the
// command (and subcommand), before any positional argument.
func (e adminTestEnv) cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	at := 2
	if args[0] == "audit" || args[0] == "migrate" {
		at = 1
	}
	full := slices.Concat(args[:at], []string{"--config", e.configPath}, args[at:])
	var out, errb bytes.Buffer
	code = run(context.Background(), &cliEnv{stdout: &out, stderr: &errb}, full)
	return code, out.String(), errb.String()
}

// mustCLI runs a command that must succeed and returns its stdout.
func (e adminTestEnv) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := e.cli(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// store opens the environment's storage (migrated) for assertions and
// returns the phone index the instance uses.
func (e adminTestEnv) store(t *testing.T) (app.Storage, func(string) string) {
	t.Helper()
	cfg, err := config.Load(e.configPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := app.OpenStorage(context.Background(), cfg.Storage, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c, err := app.Cipher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, provider.PhoneHashFunc(app.PhoneIndexKey(c))
}

func decodeOut[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return v
}

type cliKey struct {
	KID   string `json:"kid"`
	Alg   string `json:"alg"`
	State string `json:"state"`
}

type cliAudit struct {
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Target  string         `json:"target"`
	Details map[string]any `json:"details"`
}

func (e adminTestEnv) audit(t *testing.T) []cliAudit {
	t.Helper()
	return decodeOut[[]cliAudit](t, e.mustCLI(t, "audit", "--json", "--limit", "1000"))
}

func hasAudit(events []cliAudit, actor, action, target string) bool {
	return slices.ContainsFunc(events, func(e cliAudit) bool {
		return e.Actor == actor && e.Action == action && e.Target == target
	})
}

func TestKeysCLI(t *testing.T) {
	e := writeAdminConfig(t, "http://127.0.0.1:8080", "127.0.0.1:0", "", time.Second)
	e.mustCLI(t, "migrate")
	// An empty set: the first key commands bootstrap nothing by themselves.
	if ks := decodeOut[[]cliKey](t, e.mustCLI(t, "keys", "list", "--json")); len(ks) != 0 {
		t.Fatalf("fresh storage has keys: %+v", ks)
	}
	// keys are created by the first server start; emulate it through the
	// same lifecycle the server runs.
	s, _ := e.store(t)
	cfg, _ := config.Load(e.configPath, nil)
	cipher, _ := app.Cipher(cfg)
	km, err := keys.NewManager(app.KeysConfig(cfg, s, cipher, slog.New(slog.DiscardHandler), time.Now))
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Init(context.Background()); err != nil {
		t.Fatal(err)
	}

	ks := decodeOut[[]cliKey](t, e.mustCLI(t, "keys", "list", "--json"))
	current := map[string]string{}
	for _, k := range ks {
		if k.State == "current" {
			current[k.Alg] = k.KID
		}
	}
	if len(ks) != 6 || len(current) != 3 {
		t.Fatalf("keys after bootstrap: %+v", ks)
	}
	if out := e.mustCLI(t, "keys", "list"); !strings.Contains(out, "KID") || !strings.Contains(out, current["RS256"]) {
		t.Errorf("table:\n%s", out)
	}

	// Too soon without --force: exit 1 and a clear message.
	code, _, errOut := e.cli(t, "keys", "rotate", "--alg", "RS256")
	if code != 1 || !strings.Contains(errOut, "too soon") || !strings.Contains(errOut, "wait") {
		t.Errorf("early rotate: %d %s", code, errOut)
	}
	if code, _, errOut := e.cli(t, "keys", "rotate", "--alg", "HS256"); code != 2 || !strings.Contains(errOut, "HS256") {
		t.Errorf("unknown alg: %d %s", code, errOut)
	}
	rotated := decodeOut[[]cliKey](t, e.mustCLI(t, "keys", "rotate", "--alg", "RS256", "--force", "--json"))
	if len(rotated) != 1 || rotated[0].State != "current" || rotated[0].KID == current["RS256"] {
		t.Fatalf("rotate: %+v", rotated)
	}

	// Revoke the retired key with its tokens: a refresh token issued while
	// it signed is revoked; one of another algorithm's client is not.
	now := time.Now()
	for _, c := range []storage.Client{
		{ID: "mp-rs", TokenEndpointAuthMethod: provider.AuthMethodNone, WeChatAppID: cliAppID, GrantTypes: []string{provider.GrantTypeWeChat, provider.GrantTypeRefreshToken}, DefaultAudience: "x", CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour)},
		{ID: "mp-ed", TokenEndpointAuthMethod: provider.AuthMethodNone, WeChatAppID: cliAppID, GrantTypes: []string{provider.GrantTypeWeChat, provider.GrantTypeRefreshToken}, DefaultAudience: "x", IDTokenSignedResponseAlg: "EdDSA", CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour)},
	} {
		if err := s.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	rt := func(sig, client string) storage.TokenSession {
		return storage.TokenSession{Kind: storage.KindRefreshToken, Signature: sig, RequestID: "req-" + sig, RequestedAt: now,
			ClientID: client, Subject: "acc", Form: "", Active: true, ExpiresAt: now.Add(time.Hour)}
	}
	early := rt("early", "mp-rs") // issued before the key signed
	early.RequestedAt = now.Add(-time.Minute)
	for _, ts := range []storage.TokenSession{rt("rs", "mp-rs"), rt("ed", "mp-ed"), early} {
		if err := s.CreateTokenSession(context.Background(), ts); err != nil {
			t.Fatal(err)
		}
	}
	res := decodeOut[struct {
		Key     cliKey `json:"key"`
		Revoked int64  `json:"tokens_revoked"`
	}](t, e.mustCLI(t, "keys", "revoke", "--revoke-tokens", "--no-wait", "--json", current["RS256"]))
	if res.Key.State != "revoked" || res.Revoked != 1 {
		t.Errorf("revoke: %+v", res)
	}
	if _, err := s.GetTokenSession(context.Background(), storage.KindRefreshToken, "rs"); err == nil {
		t.Error("the RS256 client's refresh token survived")
	}
	if _, err := s.GetTokenSession(context.Background(), storage.KindRefreshToken, "ed"); err != nil {
		t.Errorf("the EdDSA client's refresh token was revoked: %v", err)
	}
	if _, err := s.GetTokenSession(context.Background(), storage.KindRefreshToken, "early"); err != nil {
		t.Errorf("a refresh token issued before the key signed was revoked: %v", err)
	}
	if code, _, errOut := e.cli(t, "keys", "revoke", "no-such-kid"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("unknown kid: %d %s", code, errOut)
	}
	if code, _, _ := e.cli(t, "keys", "revoke"); code != 2 {
		t.Errorf("revoke without kid: %d", code)
	}

	events := e.audit(t)
	for _, want := range []struct{ action, target string }{
		{"keys.rotate", "RS256"}, {"keys.activated", rotated[0].KID}, {"keys.retired", current["RS256"]},
		{"keys.revoke", current["RS256"]}, {"keys.revoked", current["RS256"]}, {"keys.revoke_tokens", current["RS256"]},
	} {
		if !hasAudit(events, admin.ActorCLI.Name, want.action, want.target) {
			t.Errorf("no audit %s %s by cli in %+v", want.action, want.target, events)
		}
	}
}

func TestClientsCLIAudited(t *testing.T) {
	e := writeAdminConfig(t, "http://127.0.0.1:8080", "127.0.0.1:0", "", time.Second)
	e.mustCLI(t, "migrate")
	out := e.mustCLI(t, "clients", "create", "--id", "svc", "--json")
	created := decodeOut[admin.ClientView](t, out)
	if created.ClientSecret == "" {
		t.Fatalf("no secret: %s", out)
	}
	rotated := decodeOut[admin.ClientView](t, e.mustCLI(t, "clients", "update", "--rotate-secret", "--json", "svc"))
	if rotated.ClientSecret == "" || rotated.ClientSecret == created.ClientSecret {
		t.Errorf("rotate-secret: %+v", rotated)
	}
	if code, _, errOut := e.cli(t, "clients", "create", "--appid", "wxunknown000000000"); code != 2 || !strings.Contains(errOut, "not configured") {
		t.Errorf("unconfigured appid: %d %s", code, errOut)
	}
	e.mustCLI(t, "clients", "delete", "svc")
	events := e.audit(t)
	for _, action := range []string{"clients.create", "clients.update", "clients.delete"} {
		if !hasAudit(events, admin.ActorCLI.Name, action, "svc") {
			t.Errorf("no audit %s in %+v", action, events)
		}
	}
	raw, _ := json.Marshal(events)
	if strings.Contains(string(raw), created.ClientSecret) || strings.Contains(string(raw), rotated.ClientSecret) {
		t.Error("a secret reached the audit log")
	}
	// Human table, newest first.
	table := e.mustCLI(t, "audit", "--limit", "2")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "clients.delete") {
		t.Errorf("audit table:\n%s", table)
	}
	if code, _, _ := e.cli(t, "audit", "--limit", "0"); code != 2 {
		t.Errorf("--limit 0: exit %d", code)
	}
}

func TestAccountsCLI(t *testing.T) {
	e := writeAdminConfig(t, "http://127.0.0.1:8080", "127.0.0.1:0", "", time.Second)
	e.mustCLI(t, "migrate")
	s, phoneHash := e.store(t)
	ctx := context.Background()
	now := time.Now()
	ident, acc, err := s.ResolveWeChatLogin(ctx, storage.WeChatLogin{AppID: cliAppID, OpenID: "openid-ann", NewAccountID: "sub-ann", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateAccount(ctx, acc.ID, func(a storage.Account) (storage.Account, error) {
		a.PhoneEncrypted, a.PhoneHash, a.PhoneSource, a.PhoneVerifiedAt = []byte("sealed"), phoneHash("+8613900000000"), provider.PhoneSourceCode, now
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, ts := range []storage.TokenSession{
		{Kind: storage.KindAccessToken, Signature: "at", RequestID: "r", RequestedAt: now, ClientID: "c", Subject: acc.ID, Active: true, ExpiresAt: now.Add(time.Hour)},
		{Kind: storage.KindRefreshToken, Signature: "rt", RequestID: "r", RequestedAt: now, ClientID: "c", Subject: acc.ID, Active: true, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := s.CreateTokenSession(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}

	for _, by := range [][]string{
		{"--sub", acc.ID}, {"--openid", ident.OpenID, "--appid", cliAppID}, {"--openid", ident.OpenID}, {"--phone", "+86 139 0000 0000"},
	} {
		accs := decodeOut[[]admin.AccountView](t, e.mustCLI(t, slices.Concat([]string{"accounts", "show", "--json"}, by)...))
		if len(accs) != 1 || accs[0].Sub != acc.ID || !accs[0].PhoneVerified || len(accs[0].Identities) != 1 {
			t.Errorf("show %v: %+v", by, accs)
		}
	}
	table := e.mustCLI(t, "accounts", "show", "--sub", acc.ID)
	if !strings.Contains(table, "sub-ann") || !strings.Contains(table, "openid-ann") || strings.Contains(table, "13900000000") {
		t.Errorf("show table:\n%s", table)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"accounts", "show"}, 2, "exactly one"},
		{[]string{"accounts", "show", "--sub", "a", "--phone", "+8613900000000"}, 2, "exactly one"},
		{[]string{"accounts", "show", "--appid", cliAppID, "--sub", "a"}, 2, "--appid goes with --openid"},
		{[]string{"accounts", "show", "--phone", "13900000000"}, 2, "E.164"},
		{[]string{"accounts", "show", "--sub", "nobody"}, 1, "no account"},
		{[]string{"accounts", "frobnicate"}, 2, "unknown subcommand"},
	} {
		code, _, errOut := e.cli(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) || strings.Contains(errOut, "13900000000") {
			t.Errorf("%v: %d %s", tc.args, code, errOut)
		}
	}

	out := e.mustCLI(t, "accounts", "disable", "--phone", "+8613900000000")
	if !strings.Contains(out, "disabled; 2 tokens revoked") {
		t.Errorf("disable: %s", out)
	}
	if a, _ := s.GetAccount(ctx, acc.ID); !a.Disabled {
		t.Error("not disabled")
	}
	if _, err := s.GetTokenSession(ctx, storage.KindRefreshToken, "rt"); err == nil {
		t.Error("refresh token survived disable")
	}
	e.mustCLI(t, "accounts", "enable", "--sub", acc.ID)
	if a, _ := s.GetAccount(ctx, acc.ID); a.Disabled {
		t.Error("still disabled")
	}
	if out := e.mustCLI(t, "accounts", "revoke-tokens", "--sub", acc.ID); !strings.Contains(out, "0 tokens revoked") {
		t.Errorf("revoke-tokens: %s", out)
	}
	events := e.audit(t)
	for _, action := range []string{"accounts.disable", "accounts.enable", "accounts.revoke_tokens"} {
		if !hasAudit(events, admin.ActorCLI.Name, action, acc.ID) {
			t.Errorf("no audit %s in %+v", action, events)
		}
	}
}
