package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"text/template"

	"github.com/go-chi/chi/v5"
	"github.com/spf13/cobra"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// Dev-mode constants (docs/contract.md §5): mini-programs and relying parties code
// against these names, so they are part of the contract.
const (
	devAppID          = "wx1234567890abcdef"
	devScanPage       = "pages/scan/index"
	devAppSecret      = "dev-app-secret-not-for-production"
	devOpenPlatform   = "dev-open-platform"
	devMiniProgram    = "demo-miniprogram"
	devBackend        = "demo-backend"
	devBackendSecret  = "demo-backend-secret"
	devAdminToken     = "dev-admin-token"
	devEmulatorPrefix = "/wechat-emulator"

	// The web sign-in apps (docs/contract.md §5), bound to the same open
	// platform as devAppID so that a user has one unionid everywhere.
	devWebsiteAppID    = "wx00000000000000a1"
	devWebsiteSecret   = "dev-website-secret-not-for-production"
	devOfficialAppID   = "wx00000000000000a2"
	devOfficialSecret  = "dev-official-account-secret-not-for-production"
	devMobileAppID     = "wx00000000000000a3"
	devMobileAppSecret = "dev-mobile-app-secret-not-for-production"

	// The web and native sign-in demo clients (docs/contract.md §5).
	devWeb              = "demo-web"
	devWebSecret        = "demo-web-secret"
	devWebRedirectURI   = "http://127.0.0.1:8090/callback"
	devWebPostLogoutURI = "http://127.0.0.1:8090/"
	devNativeApp        = "demo-app"
)

// devApps are the WeChat apps dev mode always configures and registers in
// the emulator: the mini-program of the seeded demo client, and the website
// app, official account and mobile app of web and native sign-in.
func devApps() []config.WeChatApp {
	app := func(id, secret, kind string) config.WeChatApp {
		return config.WeChatApp{AppID: id, Secret: config.InlineSecret(secret), Kind: kind, OpenPlatform: devOpenPlatform}
	}
	mp := app(devAppID, devAppSecret, config.WeChatKindMiniProgram)
	// PC sign-in codes open examples/miniprogram's confirm page, in the
	// develop version (the emulator checks no release).
	mp.ScanPage, mp.ScanEnvVersion = devScanPage, "develop"
	return []config.WeChatApp{
		mp,
		app(devWebsiteAppID, devWebsiteSecret, config.WeChatKindWebsite),
		app(devOfficialAppID, devOfficialSecret, config.WeChatKindOfficialAccount),
		app(devMobileAppID, devMobileAppSecret, config.WeChatKindMobileApp),
	}
}

// emulatorKind maps a configured app kind to the emulator's.
func emulatorKind(kind string) wechattest.AppKind {
	switch kind {
	case config.WeChatKindWebsite:
		return wechattest.KindWebsite
	case config.WeChatKindOfficialAccount:
		return wechattest.KindOfficialAccount
	case config.WeChatKindMobileApp:
		return wechattest.KindMobileApp
	}
	return wechattest.KindMiniProgram
}

func newDevCmd(env *cliEnv) *cobra.Command {
	var addr, adminAddr, data, path string
	c := &cobra.Command{
		Use:   "dev",
		Short: "Run the provider with SQLite and the embedded WeChat emulator (demo)",
		Long: `Run the provider on loopback with SQLite under --data (a new temporary
directory by default), the WeChat emulator at /wechat-emulator/, the admin
listener (bearer token dev-admin-token) and the seeded demo clients, and print a
copy-paste walkthrough. NOT for production: fake WeChat, well-known credentials.

WXOIDC_* environment variables override the built-in configuration as they do
for serve (e.g. WXOIDC_LIMITS_TOKEN_PER_IP_LIMIT=0 switches the per-IP limit
off for a load test). --config FILE starts from a config file instead; dev mode
still listens on loopback only and points WeChat at the emulator, which knows
every configured app.`,
		Example: `  wxoidc dev
  wxoidc dev --data DIR --addr 127.0.0.1:9080 --admin-addr 127.0.0.1:9081
  WXOIDC_LIMITS_TOKEN_PER_IP_LIMIT=0 wxoidc dev
  wxoidc dev --config FILE`,
		Args: noArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if path != "" && data != "" {
				return usagef("use either --config or --data, not both")
			}
			for _, a := range []string{addr, adminAddr} {
				if err := requireLoopback(a); err != nil {
					return usageError{msg: err.Error()}
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			var (
				cfg *config.Config
				err error
			)
			banner := walkthroughData{Dir: data, AdminToken: devAdminToken}
			if path != "" {
				banner.Config, banner.AdminToken = path, "<a token of admin.tokens>"
				cfg, err = devFileConfig(path, env.environ, cmd.Flags().Changed("addr"), addr, cmd.Flags().Changed("admin-addr"), adminAddr)
			} else {
				if banner.Dir == "" {
					if banner.Dir, err = os.MkdirTemp("", "wxoidc-dev-"); err != nil {
						return err
					}
				}
				cfg, err = devConfig(banner.Dir, addr, adminAddr, env.environ)
			}
			if err != nil {
				return err
			}
			return runDev(cmd.Context(), env, cfg, banner)
		},
	}
	fs := c.Flags()
	fs.StringVar(&addr, "addr", "127.0.0.1:8080", "public listen address (loopback only)")
	fs.StringVar(&adminAddr, "admin-addr", "127.0.0.1:8081", "admin listen address (loopback only)")
	fs.StringVar(&data, "data", "", "data directory for the SQLite database and the dev key-encryption key (default: a new temporary directory)")
	fs.StringVar(&path, "config", "", "start from this YAML config file instead of the built-in dev configuration (with --addr/--admin-addr overriding its listen addresses)")
	_ = c.MarkFlagDirname("data")
	_ = c.MarkFlagFilename("config", "yaml", "yml")
	return c
}

// runDev mounts the emulator, seeds the demo clients, prints the walkthrough
// and serves until ctx is done.
func runDev(ctx context.Context, env *cliEnv, cfg *config.Config, banner walkthroughData) error {
	emu, err := newDevEmulator(cfg)
	if err != nil {
		return err
	}
	emuHandler := http.StripPrefix(devEmulatorPrefix, emu.Handler())
	opts := app.Options{Mount: func(r chi.Router) {
		r.Handle(devEmulatorPrefix+"/*", emuHandler)
	}}

	// Seed before serving, on the same storage the server will open.
	if err := seedDev(ctx, cfg); err != nil {
		return err
	}
	if err := printWalkthrough(env.stdout, cfg, banner); err != nil {
		return err
	}
	return serve(ctx, env, cfg, opts)
}

// newDevEmulator returns the emulator that plays WeChat in dev mode, with
// every configured app registered under its kind.
func newDevEmulator(cfg *config.Config) (*wechattest.Emulator, error) {
	emu := wechattest.New(wechattest.Options{})
	for _, a := range cfg.WeChat.Apps {
		secret, err := a.Secret.Reveal()
		if err != nil {
			return nil, fmt.Errorf("wechat app %s: %w", a.AppID, err)
		}
		// An app without an open_platform label is bound to the dev open
		// platform too, so that unionids link accounts in every dev setup.
		op := a.OpenPlatform
		if op == "" {
			op = devOpenPlatform
		}
		emu.RegisterApp(wechattest.App{AppID: a.AppID, Secret: secret, Kind: emulatorKind(a.Kind), OpenPlatformID: op, PhoneAPI: true})
	}
	return emu, nil
}

// requireLoopback refuses anything but a loopback host: dev mode runs with
// well-known credentials and a fake WeChat.
func requireLoopback(addr string) error {
	if err := config.CheckLoopbackAddr(addr); err != nil {
		return fmt.Errorf("dev mode listens on loopback addresses only: %w", err)
	}
	return nil
}

// devConfig is the configuration of a dev-mode instance whose state lives in
// dir, with the WXOIDC_* variables of environ applied over it. The KEK is
// generated once and kept in dir, so restarting with the same --data (and
// `wxoidc keys rotate --data DIR`) works.
func devConfig(dir, addr, adminAddr string, environ []string) (*config.Config, error) {
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
	c := config.Default()
	c.AllowInlineSecrets = true
	c.Issuer = "http://" + addr
	c.HTTP.Addr = addr
	c.Admin.Addr = adminAddr
	c.Admin.Tokens = []config.AdminToken{{Name: "dev", Token: config.InlineSecret(devAdminToken)}}
	c.Storage.DSN = "sqlite://" + filepath.Join(abs, "wxoidc.db")
	c.Secrets.KEK = config.FileSecret(filepath.Join(abs, "kek"))
	c.WeChat.Apps = devApps()
	c.Keys.ReloadInterval = config.D(2e9)
	c.Keys.JWKSMaxAge = config.D(2e9)
	c.Log.Format = "text"
	if err := c.ApplyEnv(environ); err != nil {
		return nil, err
	}
	if err := enforceDev(c); err != nil {
		return nil, err
	}
	return c, nil
}

// devFileConfig loads a config file (with the WXOIDC_* variables of environ)
// for dev mode; --addr and --admin-addr, when given, replace its listen
// addresses.
func devFileConfig(path string, environ []string, setAddr bool, addr string, setAdmin bool, adminAddr string) (*config.Config, error) {
	c, err := config.Load(path, environ)
	if err != nil {
		return nil, err
	}
	if setAddr {
		c.HTTP.Addr = addr
	}
	if setAdmin {
		c.Admin.Addr = adminAddr
	}
	if err := enforceDev(c); err != nil {
		return nil, err
	}
	return c, nil
}

// enforceDev applies what dev mode guarantees whatever the configuration
// says: loopback listeners only, WeChat (its API and its browser pages)
// played by the emulator on the public listener, and the demo apps
// configured (the seeded demo clients use them).
func enforceDev(c *config.Config) error {
	addrs := []string{c.HTTP.Addr}
	if c.Admin.Addr != "" { // "" turns the admin listener off
		addrs = append(addrs, c.Admin.Addr)
	}
	for _, a := range addrs {
		if err := requireLoopback(a); err != nil {
			return usageError{msg: err.Error()}
		}
	}
	c.WeChat.BaseURL = "http://" + c.HTTP.Addr + devEmulatorPrefix
	c.WeChat.BrowserBaseURL = c.WeChat.BaseURL
	c.WeChat.FallbackBaseURLs = nil
	for _, d := range devApps() {
		if !slices.ContainsFunc(c.WeChat.Apps, func(a config.WeChatApp) bool { return a.AppID == d.AppID }) {
			c.AllowInlineSecrets = true
			c.WeChat.Apps = append(c.WeChat.Apps, d)
		}
	}
	c.Normalize()
	return c.Validate()
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
	webHash, err := hasher.Hash(ctx, []byte(devWebSecret))
	if err != nil {
		return err
	}
	userScopes := []string{provider.ScopeOpenID, provider.ScopePhone, provider.ScopeWeChat, provider.ScopeOfflineAccess}
	clients := []storage.Client{
		{
			ID: devMiniProgram, Name: "Demo mini-program",
			TokenEndpointAuthMethod: provider.AuthMethodNone,
			WeChatAppID:             devAppID,
			GrantTypes:              []string{provider.GrantTypeWeChat, provider.GrantTypeRefreshToken},
			Scopes:                  userScopes,
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
		{
			// A first-party web app (examples/web-rp): browser sign-in with
			// the website app (desktop QR), the official account (inside
			// WeChat) and the mini-program (scan sign-in).
			ID: devWeb, Name: "Demo web app",
			SecretHash:              string(webHash),
			TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
			GrantTypes:              []string{provider.GrantTypeAuthorizationCode, provider.GrantTypeRefreshToken},
			Scopes:                  userScopes,
			DefaultAudience:         cfg.Issuer,
			RedirectURIs:            []string{devWebRedirectURI},
			PostLogoutRedirectURIs:  []string{devWebPostLogoutURI},
			SkipConsent:             true,
			WeChatApps:              []string{devWebsiteAppID, devOfficialAppID, devAppID},
		},
		{
			// A native iOS/Android app with the WeChat Open SDK.
			ID: devNativeApp, Name: "Demo mobile app",
			TokenEndpointAuthMethod: provider.AuthMethodNone,
			WeChatAppID:             devMobileAppID,
			GrantTypes:              []string{provider.GrantTypeWeChatApp, provider.GrantTypeRefreshToken},
			Scopes:                  userScopes,
			DefaultAudience:         cfg.Issuer,
		},
	}
	for _, c := range clients {
		if err := provider.ValidateClient(c); err != nil {
			return fmt.Errorf("seed client %s: %w", c.ID, err)
		}
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
{{if .Config}}  config        {{.Config}}{{else}}  data dir      {{.Dir}}{{end}}
  admin API     http://{{.AdminAddr}}/admin/v1/  (Authorization: Bearer {{.AdminToken}})
  admin console http://{{.AdminAddr}}/admin/ui/  (sign in with the same token)
  WeChat emu    {{.Issuer}}{{.Prefix}}/

  clients
    {{.MiniProgram}}   public mini-program client, appid {{.AppID}}
    {{.Backend}}       confidential, secret "{{.BackendSecret}}" (client_credentials, introspection)
    {{.Web}}           confidential web app, secret "{{.WebSecret}}", redirect URI {{.WebRedirect}}
    {{.App}}           public mobile app client (WeChat Open SDK), appid {{.MobileAppID}}

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
  # 7. a mobile app: what the WeChat Open SDK (SendAuth) gives alice, traded for tokens
  APPCODE=$(curl -s -X POST $I{{.Prefix}}/app-login -H 'Content-Type: application/json' \
    -d '{"appid":"{{.MobileAppID}}","user":"alice"}' | sed -E 's/.*"code":"([^"]+)".*/\1/')
  APPTOKENS=$(curl -s $I/oauth2/token \
    -d grant_type={{.AppGrant}} \
    -d client_id={{.App}} --data-urlencode "code=$APPCODE" \
    --data-urlencode 'scope=openid wechat'); echo "$APPTOKENS"
  APPAT=$(echo "$APPTOKENS" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  # 8. the same person everywhere: alice's sub from the mobile app is the one from the mini-program
  SUB=$(curl -s $I/userinfo -H "Authorization: Bearer $AT" | sed -E 's/.*"sub":"([^"]+)".*/\1/')
  APPSUB=$(curl -s $I/userinfo -H "Authorization: Bearer $APPAT" | sed -E 's/.*"sub":"([^"]+)".*/\1/')
  [ "$SUB" = "$APPSUB" ] && echo "same sub: $SUB" || echo "different subs: $SUB $APPSUB"

Sign in with WeChat in a browser (a web app, client {{.Web}}):

  go run ./examples/web-rp{{if .WebRPIssuer}} -issuer {{.WebRPIssuer}}{{end}}
  # then open http://127.0.0.1:8090 and follow "Sign in with WeChat".
  # Or, without the example, open the authorization request itself:
  {{.AuthorizeURL}}
  # Our login page offers two ways in. "Sign in with WeChat" goes to WeChat's
  # QR page, played by the emulator: type a user name (alice) and approve.
  # Adding &user=alice to the emulator's .../connect/qrconnect?... URL approves
  # at once. The browser then lands on {{.WebRedirect}}?code=...
  # (an error page unless web-rp runs).

PC sign-in by scanning the mini-program code (the login page's first way in):

  # "Scan with WeChat" shows {{.MiniProgram}}'s code and waits. Play alice's phone in
  # a shell: scan the code shown last, sign in as the mini-program, confirm.
  SCAN=$(curl -s -X POST $I{{.Prefix}}/scan -H 'Content-Type: application/json' -d '{"user":"alice"}')
  TICKET=$(echo "$SCAN" | sed -E 's/.*"scene":"([^"]+)".*/\1/')
  SCODE=$(echo "$SCAN" | sed -E 's/.*"code":"([^"]+)".*/\1/')
  SAT=$(curl -s $I/oauth2/token -d grant_type={{.Grant}} -d client_id={{.MiniProgram}} \
    --data-urlencode "code=$SCODE" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s $I/oauth2/scan/$TICKET -H "Authorization: Bearer $SAT" -d action=scanned; echo
  # the page now says "Scanned. Confirm on your phone"; then the person taps confirm:
  curl -s $I/oauth2/scan/$TICKET -H "Authorization: Bearer $SAT" -d action=approve; echo
  # The page signs in by itself and goes on to {{.WebRedirect}}.
  # examples/miniprogram/pages/scan is the mini-program page that does this.

`))

// walkthroughData is what the banner says beyond the configuration.
type walkthroughData struct {
	Dir        string // --data, or the temporary directory
	Config     string // --config, instead of Dir
	AdminToken string
}

func printWalkthrough(w io.Writer, cfg *config.Config, b walkthroughData) error {
	// examples/web-rp defaults to the default dev issuer; any other needs
	// its -issuer flag.
	rpIssuer := cfg.Issuer
	if rpIssuer == "http://127.0.0.1:8080" {
		rpIssuer = ""
	}
	return walkthrough.Execute(w, map[string]string{
		"Issuer": cfg.Issuer, "Dir": b.Dir, "Config": b.Config, "AdminAddr": cfg.Admin.Addr, "AdminToken": b.AdminToken,
		"Prefix": devEmulatorPrefix, "MiniProgram": devMiniProgram, "AppID": devAppID,
		"Backend": devBackend, "BackendSecret": devBackendSecret, "Grant": provider.GrantTypeWeChat,
		"Web": devWeb, "WebSecret": devWebSecret, "WebRedirect": devWebRedirectURI, "WebRPIssuer": rpIssuer,
		"AuthorizeURL": devAuthorizeURL(cfg.Issuer),
		"App":          devNativeApp, "MobileAppID": devMobileAppID, "AppGrant": provider.GrantTypeWeChatApp,
	})
}

// devAuthorizeURL is an authorization request of demo-web that a person
// can paste into a browser (no PKCE: demo-web is confidential).
func devAuthorizeURL(issuer string) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {devWeb}, "redirect_uri": {devWebRedirectURI},
		"scope": {"openid phone wechat"}, "state": {"demo-state-0001"}, "nonce": {"demo-nonce-0001"},
	}
	return issuer + "/oauth2/authorize?" + q.Encode()
}
