package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/internal/logredact"
)

func newServeCmd(env *cliEnv) *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the provider from a config file",
		Long: `Run the provider from a YAML config file. Every key can be overridden by a
WXOIDC_* environment variable (e.g. WXOIDC_STORAGE_DSN); invalid configuration
is reported all at once. SIGINT or SIGTERM shuts down gracefully.`,
		Example: `  wxoidc serve --config FILE
  WXOIDC_LOG_LEVEL=debug wxoidc serve --config /etc/wxoidc/config.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path, env.environ)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), env, cfg, app.Options{})
		},
	}
	c.Flags().StringVar(&path, "config", "", "YAML config file (every key can be overridden by a WXOIDC_* environment variable)")
	_ = c.MarkFlagFilename("config", "yaml", "yml")
	return c
}

// serve assembles and runs an instance until ctx is done.
func serve(ctx context.Context, env *cliEnv, cfg *config.Config, opts app.Options) error {
	log := newLogger(env.stderr, cfg.Log)
	opts.Config = cfg
	opts.Logger = log
	a, err := app.New(ctx, opts)
	if err != nil {
		return err
	}
	defer a.Close()
	pub, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTP.Addr, err)
	}
	var adm net.Listener
	if cfg.Admin.Addr != "" {
		if adm, err = net.Listen("tcp", cfg.Admin.Addr); err != nil {
			pub.Close()
			return fmt.Errorf("listen %s: %w", cfg.Admin.Addr, err)
		}
	}
	if cfg.AdminIsRemote() {
		// Validation refuses this without admin.allow_remote; with it, say at
		// every start what the operator accepted.
		log.Warn("the admin listener is not on loopback and speaks plain HTTP: admin bearer tokens cross the network in clear unless TLS or a private network protects the path (admin.allow_remote is set)", "admin_addr", cfg.Admin.Addr)
	}
	log.Info("wxoidc serving", "issuer", cfg.Issuer, "addr", pub.Addr().String(), "admin_addr", cfg.Admin.Addr, "version", version)
	return a.Run(ctx, pub, adm)
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if c.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(logredact.New(h))
}

func newMigrateCmd(env *cliEnv) *cobra.Command {
	var f adminFlags
	c := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Long: `Apply the database migrations of the configured storage and exit. Servers also
apply them at start when storage.migrate_on_start is true.`,
		Example: `  wxoidc migrate --config FILE
  wxoidc migrate --data DIR`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadForAdmin(env, f.config, f.data)
			if err != nil {
				return err
			}
			s, err := app.OpenStorage(cmd.Context(), cfg.Storage, nil, true)
			if err != nil {
				return err
			}
			defer s.Close()
			fmt.Fprintln(env.stdout, "migrations applied")
			return nil
		},
	}
	f.registerSource(c)
	return c
}

// loadForAdmin loads the config of a production instance (--config) or of a
// dev-mode data directory (--data), for commands that work on storage.
func loadForAdmin(env *cliEnv, path, data string) (*config.Config, error) {
	switch {
	case path != "" && data != "":
		return nil, usagef("use either --config or --data, not both")
	case data != "":
		return devConfig(data, "127.0.0.1:8080", "127.0.0.1:8081", env.environ)
	default:
		return config.Load(path, env.environ)
	}
}
