package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/internal/metrics"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/web"
)

// AdminServiceConfig wires NewAdminService from a configuration.
type AdminServiceConfig struct {
	Config  *config.Config
	Store   Storage
	Cipher  *keys.Cipher
	Auditor *admin.Auditor
	// Manager is the server's key manager, reloaded after key changes; nil
	// in the CLI.
	Manager *keys.Manager
	// KeyChanged and ClientChanged: see admin.Config.
	KeyChanged    func(event string, k keys.KeyInfo)
	ClientChanged func(id string)
	// EndSessions: see admin.Config (servers set it, the CLI does not).
	EndSessions func(ctx context.Context, accountID string) (int64, error)
	Logger      *slog.Logger
	Now         func() time.Time
	// FollowUps: see admin.Config (servers set it, the CLI does not).
	FollowUps bool
}

// NewAdminService builds the admin service for one configuration, with the
// same derived secrets and key configuration as the server.
func NewAdminService(c AdminServiceConfig) (*admin.Service, error) {
	if c.Config == nil || c.Store == nil || c.Cipher == nil {
		return nil, fmt.Errorf("admin service: config, store and cipher are required")
	}
	hasher, err := SecretHasher(c.Config, c.Cipher)
	if err != nil {
		return nil, err
	}
	var appIDs []string
	kinds := map[string]string{}
	for _, a := range c.Config.WeChat.Apps {
		appIDs = append(appIDs, a.AppID)
		kinds[a.AppID] = a.Kind
	}
	return admin.New(admin.Config{
		Store:             c.Store,
		Keys:              KeysConfig(c.Config, c.Store, c.Cipher, c.Logger, c.Now),
		Manager:           c.Manager,
		Hasher:            hasher,
		PhoneIndexKey:     PhoneIndexKey(c.Cipher),
		Auditor:           c.Auditor,
		Issuer:            c.Config.Issuer,
		WeChatAppIDs:      appIDs,
		WeChatAppKinds:    kinds,
		AccessTokenFormat: c.Config.Tokens.AccessTokenFormat,
		KeyChanged:        c.KeyChanged,
		ClientChanged:     c.ClientChanged,
		EndSessions:       c.EndSessions,
		Logger:            c.Logger,
		Now:               c.Now,
		FollowUps:         c.FollowUps,
	})
}

// PhoneIndexKey is the key of the phone blind index (provider.Config.PhoneIndexKey).
func PhoneIndexKey(cipher *keys.Cipher) []byte { return cipher.Derive(purposePhone) }

// adminHandler builds the admin listener's handler, or nil when disabled.
func (a *App) adminHandler() (http.Handler, error) {
	c := a.Config.Admin
	if c.Addr == "" {
		return nil, nil
	}
	var tokens []web.AdminToken
	for _, t := range c.Tokens {
		v, err := t.Token.Reveal()
		if err != nil {
			return nil, fmt.Errorf("admin token %s: %w", t.Name, err)
		}
		tokens = append(tokens, web.AdminToken{Name: t.Name, Token: v})
	}
	cfg := web.AdminConfig{
		Tokens:  tokens,
		Ready:   a.ready,
		Logger:  a.log,
		Service: a.Ops,
	}
	if a.Metrics != nil {
		cfg.Metrics = a.Metrics.Handler()
		cfg.Observer = a.Metrics.Listener("admin")
		// The console's health page samples this registry (Run starts it).
		a.health = metrics.NewHistory(a.Metrics.Registry(), metrics.HistoryOptions{TokenRoute: web.PathToken, Now: a.now})
		cfg.Health = a.health
	}
	return web.NewAdminHandler(cfg)
}
