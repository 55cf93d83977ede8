package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wxoidc/wxoidc/admin"
)

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
			if limit <= 0 || limit > admin.MaxAuditLimit {
				return usagef("--limit must be between 1 and %d", admin.MaxAuditLimit)
			}
			return nil
		},
		RunE: withOps(env, &f, func(ctx context.Context, ops adminOps, _ []string) error {
			page, err := ops.Audit(ctx, before, limit)
			if err != nil {
				return opError(err)
			}
			events := page.Events
			if f.json {
				return printJSON(env.stdout, events)
			}
			tw := newTable(env.stdout)
			fmt.Fprintln(tw, "ID\tAT\tACTOR\tACTION\tTARGET\tDETAILS")
			for _, e := range events {
				details, _ := json.Marshal(e.Details)
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, fmtTime(e.At), e.Actor, e.Action, orDash(e.Target), details)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if page.NextBefore != 0 {
				fmt.Fprintf(env.stderr, "(more: --before %d)\n", page.NextBefore)
			}
			return nil
		}),
	}
	f.register(c)
	c.Flags().IntVar(&limit, "limit", admin.DefaultAuditLimit, fmt.Sprintf("number of events, newest first (at most %d)", admin.MaxAuditLimit))
	c.Flags().Int64Var(&before, "before", 0, "list events older than this event ID (paging)")
	return c
}
