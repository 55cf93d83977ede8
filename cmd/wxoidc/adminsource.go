package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/internal/adminclient"
	"github.com/wxoidc/wxoidc/keys"
)

// Environment variables of the API-client mode. They are not configuration
// keys of a server (config lists them as such so its typo check passes).
const (
	envAdminURL   = "WXOIDC_ADMIN_URL"
	envAdminToken = "WXOIDC_ADMIN_TOKEN"
)

// adminOps is what the admin commands do. admin.Service does it on the
// database (bootstrap, or a machine that holds the DSN and the key-encryption
// key); adminclient.Client does it through a running server's admin API.
type adminOps interface {
	ListKeys(ctx context.Context) ([]keys.KeyInfo, error)
	RotateKeys(ctx context.Context, algs []string, force bool) ([]keys.KeyInfo, error)
	RevokeKey(ctx context.Context, kid string, revokeTokens bool) (admin.RevokeResult, error)
	ListClients(ctx context.Context) ([]admin.ClientView, error)
	GetClient(ctx context.Context, id string) (admin.ClientView, error)
	CreateClient(ctx context.Context, spec admin.ClientSpec) (admin.ClientView, error)
	UpdateClient(ctx context.Context, id string, spec admin.ClientSpec) (admin.ClientView, error)
	DeleteClient(ctx context.Context, id string) error
	RevokeClientTokens(ctx context.Context, id string) (int64, error)
	FindAccounts(ctx context.Context, q admin.AccountQuery) ([]admin.AccountView, error)
	FindAccount(ctx context.Context, q admin.AccountQuery) (admin.AccountView, error)
	SetAccountDisabled(ctx context.Context, sub string, disabled bool) (admin.AccountChange, error)
	RevokeAccountTokens(ctx context.Context, sub string) (int64, error)
	EndLoginSessions(ctx context.Context, sub string) (int64, error)
	RevokeConsent(ctx context.Context, sub, clientID string) error
	Audit(ctx context.Context, beforeID int64, limit int) (admin.AuditPage, error)
}

var (
	_ adminOps = (*admin.Service)(nil)
	_ adminOps = (*adminclient.Client)(nil)
)

// adminFlags are the flags every admin command takes: where the operations
// run (--config, --data or --admin-url) and how the answer is printed.
type adminFlags struct {
	config, data        string
	adminURL, tokenFile string
	json                bool
}

func (f *adminFlags) register(c *cobra.Command) {
	f.registerSource(c)
	c.Flags().StringVar(&f.adminURL, "admin-url", "", "run through a server's admin API at this URL (e.g. http://127.0.0.1:8081) instead of on the database; default $"+envAdminURL)
	c.Flags().StringVar(&f.tokenFile, "admin-token-file", "", "file holding the admin API bearer token (with --admin-url); default $"+envAdminToken)
	c.Flags().BoolVar(&f.json, "json", false, "print JSON instead of a table")
	_ = c.MarkFlagFilename("admin-token-file")
}

// registerSource adds --config and --data, which name the storage.
func (f *adminFlags) registerSource(c *cobra.Command) {
	c.Flags().StringVar(&f.config, "config", "", "YAML config file (every key can be overridden by a WXOIDC_* environment variable)")
	c.Flags().StringVar(&f.data, "data", "", "dev-mode data directory (instead of --config)")
	_ = c.MarkFlagFilename("config", "yaml", "yml")
	_ = c.MarkFlagDirname("data")
}

// withOps is the RunE of an admin command: it opens the operations f names
// (openOps), runs do on them and closes them. f is read when the command
// runs, after its flags are parsed.
func withOps(env *cliEnv, f *adminFlags, do func(ctx context.Context, ops adminOps, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ops, ctx, done, err := openOps(cmd.Context(), env, *f)
		if err != nil {
			return err
		}
		defer done()
		return do(ctx, ops, args)
	}
}

// openOps opens the admin operations: through the admin API when an admin
// URL is given (flag or environment), else on the configured storage as
// actor "cli". Direct mode works while servers run: they pick key changes
// up at their next reload.
func openOps(ctx context.Context, env *cliEnv, f adminFlags) (adminOps, context.Context, func(), error) {
	url := f.adminURL
	if url == "" && f.config == "" && f.data == "" {
		url = lookupEnv(env.environ, envAdminURL)
	}
	if url != "" {
		if f.config != "" || f.data != "" {
			return nil, nil, nil, usagef("use either --admin-url or --config/--data, not both")
		}
		token, err := adminToken(env, f.tokenFile)
		if err != nil {
			return nil, nil, nil, err
		}
		c, err := adminclient.New(url, token, nil)
		if err != nil {
			return nil, nil, nil, usageError{msg: err.Error()}
		}
		// The server records the token's name as the actor.
		return c, ctx, c.Close, nil
	}
	if f.tokenFile != "" {
		return nil, nil, nil, usagef("--admin-token-file goes with --admin-url")
	}
	cfg, err := loadForAdmin(env, f.config, f.data)
	if err != nil {
		return nil, nil, nil, err
	}
	log := newLogger(env.stderr, config.Log{Level: "warn", Format: "text"})
	store, err := app.OpenStorage(ctx, cfg.Storage, log, false)
	if err != nil {
		return nil, nil, nil, err
	}
	cipher, err := app.Cipher(cfg)
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	svc, err := app.NewAdminService(app.AdminServiceConfig{
		Config: cfg, Store: store, Cipher: cipher, Auditor: admin.NewAuditor(store, log, nil), Logger: log,
	})
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	return svc, admin.WithActor(ctx, admin.ActorCLI), func() { svc.Close(); store.Close() }, nil
}

// adminToken reads the admin API token from --admin-token-file, else from
// the environment. It is never a flag value: those end up in shell history
// and process listings.
func adminToken(env *cliEnv, file string) (string, error) {
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("admin token file: %w", err)
		}
		if t := strings.TrimSpace(string(raw)); t != "" {
			return t, nil
		}
		return "", usagef("admin token file %s is empty", file)
	}
	if t := strings.TrimSpace(lookupEnv(env.environ, envAdminToken)); t != "" {
		return t, nil
	}
	return "", usagef("--admin-url needs a token: --admin-token-file FILE or $%s", envAdminToken)
}

func lookupEnv(environ []string, name string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(environ[i], name+"="); ok {
			return v
		}
	}
	return ""
}

// opError turns an operation's invalid-input error into a usage error
// (exit code 2); every other failure exits 1.
func opError(err error) error {
	if errors.Is(err, admin.ErrInvalid) {
		return usageError{msg: err.Error()}
	}
	return err
}
