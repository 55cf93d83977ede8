package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wxoidc/wxoidc/admin"
)

// newRevokeConsentCmd is `accounts revoke-consent SUB CLIENT_ID`.
func newRevokeConsentCmd(env *cliEnv) *cobra.Command {
	var f adminFlags
	c := &cobra.Command{
		Use:   "revoke-consent SUB CLIENT_ID",
		Short: "Revoke what an account allowed a client",
		Long: `Revoke the consent an account remembers for a client (docs/contract.md §1.5):
its next browser sign-in to that client asks again, unless the client skips
consent. Tokens already issued stay valid: revoke-tokens ends those.
'accounts show' lists an account's consents.`,
		Example: `  wxoidc accounts revoke-consent SUB CLIENT_ID --data DIR`,
		Args:    exactArgs(2, "an account sub and a client ID"),
		RunE: withOps(env, &f, func(ctx context.Context, ops adminOps, args []string) error {
			sub, clientID := args[0], args[1]
			if err := ops.RevokeConsent(ctx, sub, clientID); err != nil {
				return opError(err)
			}
			if f.json {
				return printJSON(env.stdout, map[string]string{"sub": sub, "consent_revoked": clientID})
			}
			fmt.Fprintf(env.stdout, "account %s: consent for client %s revoked\n", sub, clientID)
			return nil
		}),
	}
	f.register(c)
	return c
}

// newEndSessionsCmd is `accounts end-sessions SUB`.
func newEndSessionsCmd(env *cliEnv) *cobra.Command {
	var f adminFlags
	c := &cobra.Command{
		Use:   "end-sessions SUB",
		Short: "End every browser login session of an account",
		Long: `End every browser login session of an account: its browsers must sign in
with WeChat again. Tokens already issued stay valid: revoke-tokens ends
those ('accounts disable' does both).`,
		Example: `  wxoidc accounts end-sessions SUB --data DIR`,
		Args:    exactArgs(1, "one account sub"),
		RunE: withOps(env, &f, func(ctx context.Context, ops adminOps, args []string) error {
			sub := args[0]
			n, err := ops.EndLoginSessions(ctx, sub)
			if err != nil {
				return opError(err)
			}
			if f.json {
				return printJSON(env.stdout, map[string]any{"sub": sub, "sessions_ended": n})
			}
			fmt.Fprintf(env.stdout, "account %s: %d login sessions ended\n", sub, n)
			return nil
		}),
	}
	f.register(c)
	return c
}

// printBrowserState prints the login sessions and consents of an account
// under its identities.
func printBrowserState(w io.Writer, a admin.AccountView) error {
	fmt.Fprintln(w, "login sessions:")
	tw := newTable(w)
	fmt.Fprintln(tw, "  ID\tAPPID\tCREATED\tLAST SEEN\tEXPIRES\tAUTH TIME\tCLIENTS")
	for _, ls := range a.LoginSessions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", ls.ID, orDash(ls.AppID), fmtTime(ls.CreatedAt), fmtTime(ls.LastSeenAt),
			fmtTime(ls.ExpiresAt), fmtTime(ls.AuthTime), orDash(strings.Join(ls.ClientIDs, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "consents:")
	tw = newTable(w)
	fmt.Fprintln(tw, "  CLIENT\tSCOPES\tGRANTED")
	for _, c := range a.Consents {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.ClientID, orDash(strings.Join(c.Scopes, " ")), fmtTime(c.GrantedAt))
	}
	return tw.Flush()
}
