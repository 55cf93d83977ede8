package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
)

func runServe(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "serve", "serve --config FILE")
	path := fs.String("config", "", "YAML config file (every key can be overridden by a WXOIDC_* environment variable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(*path, env.environ)
	if err != nil {
		return err
	}
	return serve(ctx, env, cfg, app.Options{})
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
	return slog.New(app.RedactingHandler(h))
}

func runMigrate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "migrate", "migrate --config FILE | --data DIR")
	path := fs.String("config", "", "YAML config file")
	data := fs.String("data", "", "dev-mode data directory (instead of --config)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadForAdmin(env, *path, *data)
	if err != nil {
		return err
	}
	s, err := app.OpenStorage(ctx, cfg.Storage, nil, true)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintln(env.stdout, "migrations applied")
	return nil
}

// loadForAdmin loads the config of a production instance (--config) or of a
// dev-mode data directory (--data), for commands that work on storage.
func loadForAdmin(env *cliEnv, path, data string) (*config.Config, error) {
	switch {
	case path != "" && data != "":
		return nil, usagef("use either --config or --data, not both")
	case data != "":
		return devConfig(data, "127.0.0.1:8080", "127.0.0.1:8081")
	default:
		return config.Load(path, env.environ)
	}
}
