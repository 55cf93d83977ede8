package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
)

// adminFlags are the flags every storage-level admin command takes.
type adminFlags struct {
	config, data string
	json         bool
}

func (f *adminFlags) register(c *cobra.Command) {
	f.registerSource(c)
	c.Flags().BoolVar(&f.json, "json", false, "print JSON instead of a table")
}

// registerSource adds --config and --data, which name the storage.
func (f *adminFlags) registerSource(c *cobra.Command) {
	c.Flags().StringVar(&f.config, "config", "", "YAML config file (every key can be overridden by a WXOIDC_* environment variable)")
	c.Flags().StringVar(&f.data, "data", "", "dev-mode data directory (instead of --config)")
	_ = c.MarkFlagFilename("config", "yaml", "yml")
	_ = c.MarkFlagDirname("data")
}

// openOps opens the audited admin operations on the configured storage, as
// actor "cli". They work while servers run: servers pick key changes up at
// their next reload. Audit failures are reported on stderr.
func openOps(ctx context.Context, env *cliEnv, f adminFlags) (*app.Operations, func(), error) {
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
	ops, err := app.NewOperations(app.OperationsConfig{
		Config: cfg, Store: store, Cipher: cipher, Auditor: app.NewAuditor(store, log, nil), Logger: log,
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
	if errors.Is(err, app.ErrInvalid) {
		return usageError{msg: err.Error()}
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newAuditCmd(env *cliEnv) *cobra.Command {
	var (
		f      adminFlags
		limit  int
		before int64
	)
	c := &cobra.Command{
		Use:   "audit",
		Short: "List the audit log (admin actions and key-state changes)",
		Long: `List the audit log, newest first: admin actions (by the CLI or an admin API
token) and key-state changes. Page back with --before.`,
		Example: `  wxoidc audit --data DIR
  wxoidc audit --config FILE --limit 200 --json`,
		Args: noArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if limit <= 0 || limit > app.MaxAuditLimit {
				return usagef("--limit must be between 1 and %d", app.MaxAuditLimit)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			ops, done, err := openOps(cmd.Context(), env, f)
			if err != nil {
				return err
			}
			defer done()
			events, err := ops.Audit(cmd.Context(), before, limit)
			if err != nil {
				return opError(err)
			}
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
			if len(events) == limit {
				fmt.Fprintf(env.stderr, "(more: --before %d)\n", events[len(events)-1].ID)
			}
			return nil
		},
	}
	f.register(c)
	c.Flags().IntVar(&limit, "limit", app.DefaultAuditLimit, fmt.Sprintf("number of events, newest first (at most %d)", app.MaxAuditLimit))
	c.Flags().Int64Var(&before, "before", 0, "list events older than this event ID (paging)")
	return c
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
