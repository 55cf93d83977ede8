package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/wxoidc/wxoidc/admin"
)

func runAccounts(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: show, disable, enable or revoke-tokens")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "show", "disable", "enable", "revoke-tokens":
	default:
		return usagef("unknown subcommand %q: want show, disable, enable or revoke-tokens", sub)
	}
	fs := newFlagSet(env, "accounts "+sub,
		"accounts show|disable|enable|revoke-tokens [--config FILE | --data DIR] (--sub SUB | --openid OPENID [--appid APPID] | --phone E164) [--json]")
	var f adminFlags
	f.register(fs)
	var q admin.AccountQuery
	fs.StringVar(&q.Sub, "sub", "", "account ID (the OIDC sub)")
	fs.StringVar(&q.OpenID, "openid", "", "WeChat openid (with --appid unless one app is configured)")
	fs.StringVar(&q.AppID, "appid", "", "WeChat appid of --openid")
	fs.StringVar(&q.Phone, "phone", "", "verified phone number in E.164 form, e.g. +8613800138000")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
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
	ops, done, err := openOps(ctx, env, f)
	if err != nil {
		return err
	}
	defer done()

	if sub == "show" {
		accs, err := ops.FindAccounts(ctx, q)
		if err != nil {
			return opError(err)
		}
		if f.json {
			return printJSON(env.stdout, accs)
		}
		return printAccounts(env.stdout, accs)
	}
	acc, err := ops.FindAccount(ctx, q)
	if err != nil {
		return opError(err)
	}
	var revoked int64
	switch sub {
	case "revoke-tokens":
		revoked, err = ops.RevokeAccountTokens(admin.WithActor(ctx, admin.ActorCLI), acc.Sub)
	default:
		acc, revoked, err = ops.SetAccountDisabled(admin.WithActor(ctx, admin.ActorCLI), acc.Sub, sub == "disable")
	}
	if err != nil {
		return opError(err)
	}
	if f.json {
		return printJSON(env.stdout, map[string]any{"account": acc, "tokens_revoked": revoked})
	}
	switch sub {
	case "disable":
		fmt.Fprintf(env.stdout, "account %s disabled; %d tokens revoked\n", acc.Sub, revoked)
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
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "sub:\t%s\n", a.Sub)
		fmt.Fprintf(tw, "disabled:\t%v\n", a.Disabled)
		fmt.Fprintf(tw, "phone:\t%s\n", phone)
		fmt.Fprintf(tw, "created:\t%s\n", fmtTime(a.CreatedAt))
		fmt.Fprintf(tw, "updated:\t%s\n", fmtTime(a.UpdatedAt))
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w, "identities:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  APPID\tOPENID\tUNIONID\tCREATED\tLAST LOGIN")
		for _, id := range a.Identities {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", id.AppID, id.OpenID, orDash(id.UnionID), fmtTime(id.CreatedAt), fmtTime(id.LastLoginAt))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
