package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
)

// adminFlags are the flags every storage-level admin command takes.
type adminFlags struct {
	config, data string
	json         bool
}

func (f *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "YAML config file")
	fs.StringVar(&f.data, "data", "", "dev-mode data directory (instead of --config)")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
}

// openOps opens the audited admin operations on the configured storage, as
// actor "cli". They work while servers run: servers pick key changes up at
// their next reload. Audit failures are reported on stderr.
func openOps(ctx context.Context, env *cliEnv, f adminFlags) (*admin.Service, func(), error) {
	cfg, err := loadForAdmin(env, f.config, f.data)
	if err != nil {
		return nil, nil, err
	}
	log := newLogger(env.stderr, config.Log{Level: "warn", Format: "text"})
	store, err := app.OpenStorage(ctx, cfg.Storage, log, false)
	if err != nil {
		return nil, nil, err
	}
	cipher, err := app.Cipher(cfg)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	ops, err := app.NewAdminService(app.AdminServiceConfig{
		Config: cfg, Store: store, Cipher: cipher, Auditor: admin.NewAuditor(store, log, nil), Logger: log,
	})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return ops, func() { ops.Close(); store.Close() }, nil
}

// opError turns an operation's invalid-input error into a usage error
// (exit code 2); every other failure exits 1.
func opError(err error) error {
	if errors.Is(err, admin.ErrInvalid) {
		return usageError{msg: err.Error()}
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runAudit(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "audit", "audit [--config FILE | --data DIR] [--limit N] [--before ID] [--json]")
	var f adminFlags
	f.register(fs)
	limit := fs.Int("limit", admin.DefaultAuditLimit, fmt.Sprintf("number of events, newest first (at most %d)", admin.MaxAuditLimit))
	before := fs.Int64("before", 0, "list events older than this event ID (paging)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *limit <= 0 || *limit > admin.MaxAuditLimit {
		return usagef("--limit must be between 1 and %d", admin.MaxAuditLimit)
	}
	ops, done, err := openOps(ctx, env, f)
	if err != nil {
		return err
	}
	defer done()
	page, err := ops.Audit(ctx, *before, *limit)
	if err != nil {
		return opError(err)
	}
	events := page.Events
	if f.json {
		return printJSON(env.stdout, events)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAT\tACTOR\tACTION\tTARGET\tDETAILS")
	for _, e := range events {
		details, _ := json.Marshal(e.Details)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, fmtTime(e.At), e.Actor, e.Action, orDash(e.Target), details)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(events) == *limit {
		fmt.Fprintf(env.stderr, "(more: --before %d)\n", events[len(events)-1].ID)
	}
	return nil
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
