// Package app assembles a wxoidc instance from configuration: storage, keys,
// the WeChat client, the provider and the HTTP handlers. cmd/wxoidc runs it;
// end-to-end tests start it exactly as production does.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/internal/breaker"
	"github.com/wxoidc/wxoidc/internal/metrics"
	"github.com/wxoidc/wxoidc/internal/ratelimit"
	"github.com/wxoidc/wxoidc/internal/wechatstore"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/postgres"
	"github.com/wxoidc/wxoidc/storage/sqlite"
	"github.com/wxoidc/wxoidc/web"
	"github.com/wxoidc/wxoidc/wechat"
)

// Options configures New beyond the config file.
type Options struct {
	// Config must be normalized and valid (config.Load does both).
	Config *config.Config
	Logger *slog.Logger
	// Mount adds routes to the public router (dev mode: the WeChat emulator).
	Mount func(chi.Router)
	// HTTPClient is used for WeChat calls (tests inject one).
	HTTPClient *http.Client
	// Now is the clock (tests inject one).
	Now func() time.Time
}

// App is one assembled wxoidc instance.
type App struct {
	Config   *config.Config
	Store    Storage
	Keys     *keys.Manager
	Cipher   *keys.Cipher
	Provider *provider.Provider
	// Upstream is the guarded WeChat client (limits, breaker) the provider uses.
	Upstream *provider.Upstream
	Public   http.Handler
	Admin    http.Handler
	// Metrics is the instance's private Prometheus registry (served on the
	// admin listener); Audit writes the audit log; Ops is the admin service
	// behind /admin/v1/.
	Metrics *metrics.Metrics
	Audit   *admin.Auditor
	Ops     *admin.Service
	log     *slog.Logger
	now     func() time.Time
	// health samples Metrics for the console's health page (nil without
	// an admin listener or metrics).
	health *metrics.History
}

// Storage is what a backend offers beyond the contract: migrations.
type Storage interface {
	storage.Storage
	Migrate(ctx context.Context) error
}

// OpenStorage opens the backend the DSN names, running migrations when asked.
func OpenStorage(ctx context.Context, c config.Storage, log *slog.Logger, migrate bool) (Storage, error) {
	switch {
	case strings.HasPrefix(c.DSN, "postgres://"), strings.HasPrefix(c.DSN, "postgresql://"):
		return postgres.Open(ctx, c.DSN, postgres.Options{MaxConns: int32(c.PostgresMaxConns), Migrate: migrate, Logger: log})
	case strings.HasPrefix(c.DSN, "sqlite://"):
		return sqlite.Open(ctx, c.DSN, sqlite.Options{Synchronous: c.SQLiteSynchronous, BusyTimeout: c.SQLiteBusyTimeout.Duration, Logger: log, Migrate: migrate})
	}
	return nil, errors.New("storage.dsn: must start with sqlite://, postgres:// or postgresql://")
}

// Secrets derived from the KEK, one per purpose, so no extra secret has to
// be configured and each use has its own key.
const (
	purposeHMAC   = "wxoidc/fosite-hmac/v1"
	purposePhone  = "wxoidc/phone-index/v1"
	purposePepper = "wxoidc/client-secret-pepper/v1"
)

// KeysConfig is the key manager's configuration for c.
func KeysConfig(c *config.Config, store storage.KeyStore, cipher *keys.Cipher, log *slog.Logger, now func() time.Time) keys.Config {
	maxLife := c.Tokens.AccessTokenLifetime.Duration
	if c.Tokens.IDTokenLifetime.Duration > maxLife {
		maxLife = c.Tokens.IDTokenLifetime.Duration
	}
	return keys.Config{
		Store:                store,
		Cipher:               cipher,
		Algorithms:           c.Keys.Algorithms,
		DefaultAlgorithm:     c.Keys.DefaultAlgorithm,
		AccessTokenAlgorithm: c.Keys.AccessTokenAlgorithm,
		RSABits:              c.Keys.RSABits,
		ReloadInterval:       c.Keys.ReloadInterval.Duration,
		JWKSMaxAge:           c.Keys.JWKSMaxAge.Duration,
		RotationPeriod:       c.Keys.RotationPeriod.Duration,
		MaxTokenLifetime:     maxLife,
		ClockSkew:            c.Keys.ClockSkew.Duration,
		Now:                  now,
		Logger:               log,
	}
}

// Cipher builds the at-rest cipher from the configured KEK.
func Cipher(c *config.Config) (*keys.Cipher, error) {
	raw, err := c.Secrets.KEK.Reveal()
	if err != nil {
		return nil, fmt.Errorf("secrets.kek: %w", err)
	}
	kek, err := keys.ParseKEK(raw)
	if err != nil {
		return nil, fmt.Errorf("secrets.kek: %w", err)
	}
	return keys.NewCipher(kek)
}

// New assembles an instance. The caller owns Close.
func New(ctx context.Context, opts Options) (_ *App, err error) {
	c := opts.Config
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	cipher, err := Cipher(c)
	if err != nil {
		return nil, err
	}
	store, err := OpenStorage(ctx, c.Storage, log, c.Storage.MigrateOnStart)
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	defer func() {
		if err != nil {
			_ = store.Close()
		}
	}()

	// Key-state changes made by this instance's own lifecycle (bootstrap,
	// automatic rotation, cleanup) are audited as "rotation"; admin changes
	// go through Ops, which audits them with the admin's name.
	auditor := admin.NewAuditor(store, log, now)
	var mx *metrics.Metrics
	kc := KeysConfig(c, store, cipher, log, now)
	kc.OnChange = auditor.KeyChangeHook(admin.ActorRotation, func(event string, k keys.KeyInfo) { mx.ObserveKeyChange(event, k) })
	km, err := keys.NewManager(kc)
	if err != nil {
		return nil, err
	}
	mx = metrics.New(km, now)
	auditor.OnStoreFailure(mx.AuditFailed)
	if err := km.Init(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}

	apps := map[string]wechat.App{}
	appKinds := map[string]string{}
	scanCodes := map[string]provider.ScanCode{}
	for _, a := range c.WeChat.Apps {
		secret, err := a.Secret.Reveal()
		if err != nil {
			return nil, fmt.Errorf("wechat app %s: %w", a.AppID, err)
		}
		apps[a.AppID] = wechat.App{AppID: a.AppID, Secret: secret}
		// config.WeChatKind* and provider.AppKind* are the same words
		// (TestAppKindNamesAgree); Normalize filled in the default.
		appKinds[a.AppID] = a.Kind
		if a.Kind == config.WeChatKindMiniProgram {
			scanCodes[a.AppID] = provider.ScanCode{Page: a.ScanPage, EnvVersion: a.ScanEnvVersion}
		}
	}
	wc, err := wechat.NewClient(wechat.Config{
		BaseURL:          c.WeChat.BaseURL,
		FallbackBaseURLs: c.WeChat.FallbackBaseURLs,
		CallTimeout:      c.WeChat.CallTimeout.Duration,
		HTTPClient:       opts.HTTPClient,
		Now:              now,
		Logger:           log,
		Observer:         mx,
		// Instances on one database share each app access token (one
		// stable_token call between them), sealed under the KEK.
		TokenStore: wechatstore.New(store, cipher),
	})
	if err != nil {
		return nil, fmt.Errorf("wechat client: %w", err)
	}
	upstream, err := provider.NewUpstream(wc, UpstreamConfig(c, store, log, now))
	if err != nil {
		return nil, err
	}
	mx.ObserveBreaker(upstream.BreakerState)
	hasher, err := SecretHasher(c, cipher)
	if err != nil {
		return nil, err
	}
	p, err := provider.New(provider.Config{
		Issuer:                    c.Issuer,
		Store:                     store,
		Sealer:                    cipher,
		PhoneIndexKey:             cipher.Derive(purposePhone),
		HMACSecret:                cipher.Derive(purposeHMAC),
		AccessTokenSigner:         km.AccessTokenSigner(),
		AccessTokenVerifier:       km,
		IDTokenSigner:             km.IDTokenSigner(),
		WeChat:                    upstream,
		Apps:                      apps,
		AppKinds:                  appKinds,
		ScanCodes:                 scanCodes,
		BrowserBaseURL:            c.WeChat.BrowserBaseURL,
		AccessTokenFormat:         c.Tokens.AccessTokenFormat,
		AccessTokenLifetime:       c.Tokens.AccessTokenLifetime.Duration,
		IDTokenLifetime:           c.Tokens.IDTokenLifetime.Duration,
		RefreshTokenLifetime:      c.Tokens.RefreshTokenLifetime.Duration,
		RefreshTokenGrace:         c.Tokens.RefreshTokenGrace.Duration,
		AuthorizationCodeLifetime: c.Tokens.AuthorizationCodeLifetime.Duration,
		DefaultAudience:           c.Accounts.DefaultAudience,
		SecretHasher:              hasher,
		Now:                       now,
		Logger:                    log,
		Metrics:                   mx,
	})
	if err != nil {
		return nil, err
	}
	mx.ObserveScanWaiting(p.ScanWaiting)
	a := &App{Config: c, Store: store, Keys: km, Cipher: cipher, Provider: p, Upstream: upstream, log: log, now: now}
	trusted, err := web.ParseTrustedProxies(c.HTTP.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("http.trusted_proxies: %w", err)
	}
	a.Public, err = web.NewPublicHandler(web.Config{
		Provider:          p,
		SignIn:            p,
		Keys:              km,
		IDTokenAlgorithms: c.Keys.Algorithms,
		Ready:             a.ready,
		MaxBodyBytes:      c.HTTP.MaxBodyBytes,
		Logger:            log,
		Mount:             opts.Mount,
		Metrics:           mx.Listener("public"),
		TrustedProxies:    trusted,
		TokenRateLimits: web.TokenRateLimits{
			PerIP:     rate(c.Limits.TokenPerIP),
			PerClient: rate(c.Limits.TokenPerClient),
			MaxKeys:   c.Limits.MaxTrackedKeys,
			Now:       now,
		},
	})
	if err != nil {
		return nil, err
	}
	a.Metrics, a.Audit = mx, auditor
	a.Ops, err = NewAdminService(AdminServiceConfig{
		Config: c, Store: store, Cipher: cipher, Auditor: auditor, Manager: km,
		KeyChanged: mx.ObserveKeyChange, ClientChanged: p.InvalidateClient, EndSessions: p.EndAccountLogins, Logger: log, Now: now, FollowUps: true,
	})
	if err != nil {
		return nil, err
	}
	a.Admin, err = a.adminHandler()
	if err != nil {
		return nil, err
	}
	return a, nil
}

// UpstreamConfig is the WeChat guard's configuration for c. A call's deadline
// covers the client's one automatic retry: two attempts plus the backoff.
func UpstreamConfig(c *config.Config, ids provider.IdentityLookup, log *slog.Logger, now func() time.Time) provider.UpstreamConfig {
	l := c.Limits
	return provider.UpstreamConfig{
		PerUser:         rate(l.WeChatPerUser),
		PerApp:          rate(l.WeChatPerApp),
		PhonePerAccount: rate(l.PhoneLookupsPerAccount),
		MaxKeys:         l.MaxTrackedKeys,
		MaxConcurrency:  l.WeChatMaxConcurrency,
		QueueTimeout:    l.WeChatQueueTimeout.Duration,
		Deadline:        2*c.WeChat.CallTimeout.Duration + time.Second,
		Breaker: breaker.Config{
			Window:         l.Breaker.Window.Duration,
			MinRequests:    l.Breaker.MinRequests,
			FailurePercent: l.Breaker.FailurePercent,
			OpenFor:        l.Breaker.OpenFor.Duration,
			Probes:         l.Breaker.Probes,
		},
		Identities: ids,
		Now:        now,
		Logger:     log,
	}
}

func rate(r config.Rate) ratelimit.Rate {
	return ratelimit.Rate{Limit: r.Limit, Per: r.Per.Duration, Burst: r.Burst}
}

func (a *App) ready(ctx context.Context) error {
	if err := a.Store.Ping(ctx); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if body, _ := a.Keys.JWKS(); len(body) == 0 {
		return errors.New("no signing keys loaded")
	}
	return nil
}

// Close stops pending admin follow-ups and back-channel logout deliveries,
// and releases the storage.
func (a *App) Close() error {
	a.Ops.Close()
	a.Provider.EndScanWaits()
	a.Provider.Close()
	return a.Store.Close()
}

// Run serves until ctx is cancelled, then drains in-flight requests within
// the shutdown timeout. Background work (key reload and rotation, cleanup of
// expired token sessions, login sessions and auth flows) runs alongside.
func (a *App) Run(ctx context.Context, public, admin net.Listener) error {
	c := a.Config
	var certs *certReloader
	if c.HTTP.TLSCertFile != "" {
		var err error
		if certs, err = newCertReloader(c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// SIGHUP reloads the TLS certificate (and is never fatal, with or
	// without TLS: operators send it expecting a reload).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); a.Keys.Run(ctx) }()
	go func() { defer wg.Done(); a.cleanupLoop(ctx) }()
	go func() { defer wg.Done(); a.reloadOnSIGHUP(ctx, hup, certs) }()
	if a.health != nil {
		wg.Add(1)
		go func() { defer wg.Done(); a.health.Run(ctx) }()
	}

	servers := []*http.Server{a.httpServer(a.Public)}
	if certs != nil {
		servers[0].TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
	}
	listeners := []net.Listener{public}
	if admin != nil && a.Admin != nil {
		servers = append(servers, a.httpServer(a.Admin))
		listeners = append(listeners, admin)
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() {
			var err error
			if certs != nil && i == 0 {
				err = srv.ServeTLS(listeners[i], "", "")
			} else {
				err = srv.Serve(listeners[i])
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	shutdownCtx, stop := context.WithTimeout(context.Background(), c.HTTP.ShutdownTimeout.Duration)
	defer stop()
	// Browsers waiting on a scan ticket get their answer now (they ask
	// again, elsewhere) rather than holding the shutdown for 25 s.
	a.Provider.EndScanWaits()
	for _, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil && runErr == nil {
			runErr = fmt.Errorf("shutdown: %w", err)
		}
	}
	// No request can end a login now: let queued back-channel logouts go.
	a.Provider.Shutdown(shutdownCtx)
	cancel()
	wg.Wait()
	return runErr
}

// certReloader serves the certificate in the configured files; reload
// replaces it, and a failed reload keeps the one in use.
type certReloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	return r, r.reload()
}

func (r *certReloader) reload() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s: %w", r.certFile, err)
	}
	r.cert.Store(&c)
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.cert.Load(), nil }

func (a *App) reloadOnSIGHUP(ctx context.Context, hup <-chan os.Signal, certs *certReloader) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if certs == nil {
			a.log.InfoContext(ctx, "SIGHUP: no TLS certificate to reload")
			continue
		}
		if err := certs.reload(); err != nil {
			a.log.ErrorContext(ctx, "SIGHUP: TLS certificate reload failed; keeping the current one", "error", err.Error())
			continue
		}
		a.log.InfoContext(ctx, "SIGHUP: TLS certificate reloaded", "file", certs.certFile)
	}
}

func (a *App) httpServer(h http.Handler) *http.Server {
	c := a.Config.HTTP
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout.Duration,
		ReadTimeout:       c.ReadTimeout.Duration,
		WriteTimeout:      c.WriteTimeout.Duration,
		IdleTimeout:       c.IdleTimeout.Duration,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

// SecretHasher returns the client-secret hasher for c (peppered by the KEK).
func SecretHasher(c *config.Config, cipher *keys.Cipher) (*provider.SecretHasher, error) {
	return provider.NewSecretHasher(cipher.Derive(purposePepper), c.Clients.SecretHashCost)
}
