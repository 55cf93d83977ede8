package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"text/template"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// Dev-mode constants (DESIGN.md §5): mini-programs and relying parties code
// against these names, so they are part of the contract.
const (
	devAppID          = "wx1234567890abcdef"
	devAppSecret      = "dev-app-secret-not-for-production"
	devOpenPlatform   = "dev-open-platform"
	devMiniProgram    = "demo-miniprogram"
	devBackend        = "demo-backend"
	devBackendSecret  = "demo-backend-secret"
	devAdminToken     = "dev-admin-token"
	devEmulatorPrefix = "/wechat-emulator"
)

func runDev(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "dev", "dev [--addr 127.0.0.1:8080] [--admin-addr 127.0.0.1:8081] [--data DIR]")
	addr := fs.String("addr", "127.0.0.1:8080", "public listen address (loopback only)")
	adminAddr := fs.String("admin-addr", "127.0.0.1:8081", "admin listen address (loopback only)")
	data := fs.String("data", "", "data directory for the SQLite database and the dev key-encryption key (default: a new temporary directory)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	for _, a := range []string{*addr, *adminAddr} {
		if err := requireLoopback(a); err != nil {
			return usagef("%v", err)
		}
	}
	dir := *data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "wxoidc-dev-")
		if err != nil {
			return err
		}
		dir = tmp
	}
	cfg, err := devConfig(dir, *addr, *adminAddr)
	if err != nil {
		return err
	}

	emu := wechattest.New(wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: devAppID, Secret: devAppSecret, OpenPlatformID: devOpenPlatform, PhoneAPI: true})
	emuHandler := http.StripPrefix(devEmulatorPrefix, emu.Handler())
	opts := app.Options{Mount: func(r chi.Router) {
		r.Handle(devEmulatorPrefix+"/*", emuHandler)
	}}

	// Seed before serving, on the same storage the server will open.
	if err := seedDev(ctx, cfg); err != nil {
		return err
	}
	if err := printWalkthrough(env.stdout, cfg, dir); err != nil {
		return err
	}
	return serve(ctx, env, cfg, opts)
}

// requireLoopback refuses anything but a loopback host: dev mode runs with
// well-known credentials and a fake WeChat.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("dev mode listens on loopback addresses only, not %q", addr)
	}
	return nil
}

// devConfig is the configuration of a dev-mode instance whose state lives in
// dir. The KEK is generated once and kept in dir, so restarting with the same
// --data (and `wxoidc keys rotate --data DIR`) works.
func devConfig(dir, addr, adminAddr string) (*config.Config, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	kekPath := filepath.Join(dir, "kek")
	if _, err := os.Stat(kekPath); errors.Is(err, os.ErrNotExist) {
		kek := base64.StdEncoding.EncodeToString(keys.GenerateKEK())
		if err := os.WriteFile(kekPath, []byte(kek+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write dev KEK: %w", err)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	issuer := "http://" + addr
	c := config.Default()
	c.AllowInlineSecrets = true
	c.Issuer = issuer
	c.HTTP.Addr = addr
	c.Admin.Addr = adminAddr
	c.Admin.Tokens = []config.AdminToken{{Name: "dev", Token: config.InlineSecret(devAdminToken)}}
	c.Storage.DSN = "sqlite://" + filepath.Join(abs, "wxoidc.db")
	c.Secrets.KEK = config.FileSecret(filepath.Join(abs, "kek"))
	c.WeChat.BaseURL = issuer + devEmulatorPrefix
	c.WeChat.FallbackBaseURLs = nil
	c.WeChat.Apps = []config.WeChatApp{{AppID: devAppID, Secret: config.InlineSecret(devAppSecret)}}
	c.Keys.ReloadInterval = config.D(2e9)
	c.Keys.JWKSMaxAge = config.D(2e9)
	c.Log.Format = "text"
	c.Normalize()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// seedDev creates the demo clients unless they exist.
func seedDev(ctx context.Context, cfg *config.Config) error {
	store, err := app.OpenStorage(ctx, cfg.Storage, nil, true)
	if err != nil {
		return err
	}
	defer store.Close()
	cipher, err := app.Cipher(cfg)
	if err != nil {
		return err
	}
	hasher, err := app.SecretHasher(cfg, cipher)
	if err != nil {
		return err
	}
	hash, err := hasher.Hash(ctx, []byte(devBackendSecret))
	if err != nil {
		return err
	}
	clients := []storage.Client{
		{
			ID: devMiniProgram, Name: "Demo mini-program",
			TokenEndpointAuthMethod: provider.AuthMethodNone,
			WeChatAppID:             devAppID,
			GrantTypes:              []string{provider.GrantTypeWeChat, provider.GrantTypeRefreshToken},
			Scopes:                  []string{provider.ScopeOpenID, provider.ScopePhone, provider.ScopeWeChat, provider.ScopeOfflineAccess},
			Audiences:               []string{"https://api.example.com"},
			DefaultAudience:         cfg.Issuer,
		},
		{
			ID: devBackend, Name: "Demo backend",
			SecretHash:              string(hash),
			TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
			GrantTypes:              []string{provider.GrantTypeClientCredentials},
			Scopes:                  []string{},
			DefaultAudience:         cfg.Issuer,
		},
	}
	for _, c := range clients {
		if err := store.CreateClient(ctx, c); err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
			return fmt.Errorf("seed client %s: %w", c.ID, err)
		}
	}
	return nil
}

var walkthrough = template.Must(template.New("w").Parse(`
wxoidc dev mode — NOT for production (fake WeChat, well-known credentials)

  issuer        {{.Issuer}}
  discovery     {{.Issuer}}/.well-known/openid-configuration
  data dir      {{.Dir}}
  admin API     http://{{.AdminAddr}}/admin/v1/  (Authorization: Bearer {{.AdminToken}})
  WeChat emu    {{.Issuer}}{{.Prefix}}/

  clients
    {{.MiniProgram}}   public mini-program client, appid {{.AppID}}
    {{.Backend}}       confidential, secret "{{.BackendSecret}}" (client_credentials, introspection)

Walkthrough (copy-paste into a second shell):

  I={{.Issuer}}
  # 1. what wx.login gives user alice
  CODE=$(curl -s -X POST $I{{.Prefix}}/login -H 'Content-Type: application/json' \
    -d '{"appid":"{{.AppID}}","user":"alice"}' | sed -E 's/.*"code":"([^"]+)".*/\1/')
  # 2. what the phone button gives (getPhoneNumber detail.code)
  PHONE=$(curl -s -X POST $I{{.Prefix}}/phone -H 'Content-Type: application/json' \
    -d '{"appid":"{{.AppID}}","user":"alice","phone_number":"+8613800138000"}' | sed -E 's/.*"code":"([^"]+)".*/\1/')
  # 3. the mini-program trades them for tokens
  TOKENS=$(curl -s $I/oauth2/token \
    -d grant_type={{.Grant}} \
    -d client_id={{.MiniProgram}} --data-urlencode "code=$CODE" --data-urlencode "phone_code=$PHONE" \
    --data-urlencode 'scope=openid phone offline_access'); echo "$TOKENS"
  AT=$(echo "$TOKENS" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  IDT=$(echo "$TOKENS" | sed -E 's/.*"id_token":"([^"]+)".*/\1/')
  # 4. verify the ID token through discovery + JWKS, as a relying party would
  go run ./cmd/wxoidc verify --issuer $I --audience {{.MiniProgram}} "$IDT"
  # 5. UserInfo
  curl -s $I/userinfo -H "Authorization: Bearer $AT"; echo
  # 6. a backend introspects the access token
  curl -s -u {{.Backend}}:{{.BackendSecret}} $I/oauth2/introspect --data-urlencode "token=$AT"; echo

`))

func printWalkthrough(w io.Writer, cfg *config.Config, dir string) error {
	return walkthrough.Execute(w, map[string]string{
		"Issuer": cfg.Issuer, "Dir": dir, "AdminAddr": cfg.Admin.Addr, "AdminToken": devAdminToken,
		"Prefix": devEmulatorPrefix, "MiniProgram": devMiniProgram, "AppID": devAppID,
		"Backend": devBackend, "BackendSecret": devBackendSecret, "Grant": provider.GrantTypeWeChat,
	})
}
