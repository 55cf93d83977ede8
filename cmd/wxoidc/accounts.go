package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/wxoidc/wxoidc/admin"
)

func newAccountsCmd(env *cliEnv) *cobra.Command {
	long := `%s

Name the account by exactly one of --sub, --openid (with --appid unless one
WeChat app is configured) or --phone (a verified number in E.164 form).`
	return newGroupCmd("accounts", "Show, disable or enable an account, revoke its tokens or consents, end its sessions",
		fmt.Sprintf(long, "Find accounts and act on them."),
		newAccountCmd(env, "show", "Show the accounts a query names (identities, login sessions, consents)",
			fmt.Sprintf(long, `Show the accounts a query names, with their WeChat identities, their browser
login sessions (by storage ID; a cookie value is never stored) and the
consents they remember.`)),
		newAccountCmd(env, "disable", "Disable an account, revoke its tokens and end its login sessions",
			fmt.Sprintf(long, `Disable an account: it can no longer sign in, its tokens are revoked and its
browser login sessions end at once.`)),
		newAccountCmd(env, "enable", "Enable a disabled account",
			fmt.Sprintf(long, "Enable a disabled account.")),
		newAccountCmd(env, "revoke-tokens", "Revoke every token of an account",
			fmt.Sprintf(long, "Revoke every access and refresh token of an account.")),
		newRevokeConsentCmd(env),
		newEndSessionsCmd(env),
	)
}

func newAccountCmd(env *cliEnv, sub, short, long string) *cobra.Command {
	var (
		f adminFlags
		q admin.AccountQuery
	)
	example := fmt.Sprintf("  wxoidc accounts %s --data DIR --sub SUB", sub)
	if sub == "show" {
		example = `  wxoidc accounts show --data DIR --sub SUB
  wxoidc accounts show --data DIR --openid OPENID --appid wx1234567890abcdef --json
  wxoidc accounts show --data DIR --phone +8613800138000`
	}
	c := &cobra.Command{
		Use:     sub,
		Short:   short,
		Long:    long,
		Example: example,
		Args:    noArgs,
		PreRunE: func(*cobra.Command, []string) error {
			n := 0
			for _, v := range []string{q.Sub, q.OpenID, q.Phone} {
				if v != "" {
					n++
				}
			}
			if n != 1 {
				return usagef("name the account by exactly one of --sub, --openid (with --appid) or --phone")
			}
			if q.AppID != "" && q.OpenID == "" {
				return usagef("--appid goes with --openid")
			}
			return nil
		},
		RunE: withOps(env, &f, func(ctx context.Context, ops adminOps, _ []string) error {
			return runAccount(ctx, env, ops, f.json, sub, q)
		}),
	}
	f.register(c)
	fs := c.Flags()
	fs.StringVar(&q.Sub, "sub", "", "account ID (the OIDC sub)")
	fs.StringVar(&q.OpenID, "openid", "", "WeChat openid (with --appid unless one app is configured)")
	fs.StringVar(&q.AppID, "appid", "", "WeChat appid of --openid")
	fs.StringVar(&q.Phone, "phone", "", "verified phone number in E.164 form, e.g. +8613800138000")
	return c
}

func runAccount(ctx context.Context, env *cliEnv, ops adminOps, asJSON bool, sub string, q admin.AccountQuery) error {
	if sub == "show" {
		accs, err := ops.FindAccounts(ctx, q)
		if err != nil {
			return opError(err)
		}
		if asJSON {
			return printJSON(env.stdout, accs)
		}
		return printAccounts(env.stdout, accs)
	}
	acc, err := ops.FindAccount(ctx, q)
	if err != nil {
		return opError(err)
	}
	res := admin.AccountChange{Account: acc}
	switch sub {
	case "revoke-tokens":
		res.TokensRevoked, err = ops.RevokeAccountTokens(ctx, acc.Sub)
	default:
		res, err = ops.SetAccountDisabled(ctx, acc.Sub, sub == "disable")
		acc = res.Account
	}
	if err != nil {
		return opError(err)
	}
	revoked := res.TokensRevoked
	if asJSON {
		return printJSON(env.stdout, res)
	}
	switch sub {
	case "disable":
		fmt.Fprintf(env.stdout, "account %s disabled; %d tokens revoked, %d login sessions ended\n", acc.Sub, revoked, res.SessionsEnded)
	case "enable":
		fmt.Fprintf(env.stdout, "account %s enabled\n", acc.Sub)
	default:
		fmt.Fprintf(env.stdout, "account %s: %d tokens revoked\n", acc.Sub, revoked)
	}
	return nil
}

func printAccounts(w io.Writer, accs []admin.AccountView) error {
	for i, a := range accs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		phone := "none"
		if a.PhoneVerified {
			phone = fmt.Sprintf("verified (%s, %s)", a.PhoneSource, fmtTime(a.PhoneVerifiedAt))
		}
		tw := newTable(w)
		fmt.Fprintf(tw, "sub:\t%s\n", a.Sub)
		fmt.Fprintf(tw, "disabled:\t%v\n", a.Disabled)
		fmt.Fprintf(tw, "phone:\t%s\n", phone)
		fmt.Fprintf(tw, "created:\t%s\n", fmtTime(a.CreatedAt))
		fmt.Fprintf(tw, "updated:\t%s\n", fmtTime(a.UpdatedAt))
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w, "identities:")
		tw = newTable(w)
		fmt.Fprintln(tw, "  APPID\tOPENID\tUNIONID\tCREATED\tLAST LOGIN")
		for _, id := range a.Identities {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", id.AppID, id.OpenID, orDash(id.UnionID), fmtTime(id.CreatedAt), fmtTime(id.LastLoginAt))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if err := printBrowserState(w, a); err != nil {
			return err
		}
	}
	return nil
}
