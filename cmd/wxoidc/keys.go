package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/keys"
)

func runKeys(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: list, rotate or revoke")
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet(env, "keys "+sub, "keys list|rotate|revoke [--config FILE | --data DIR] [flags] [KID]")
	var f adminFlags
	f.register(fs)
	var (
		alg                   *string
		force, tokens, nowait *bool
	)
	switch sub {
	case "list":
	case "rotate":
		alg = fs.String("alg", "", "algorithm to rotate (RS256, ES256, EdDSA); default: every configured one")
		force = fs.Bool("force", false, "promote the next key even if it was published for less than the safe delay (caches may lack it)")
	case "revoke":
		tokens = fs.Bool("revoke-tokens", false, "also revoke the refresh tokens issued while the key was signing")
		nowait = fs.Bool("no-wait", false, "with --revoke-tokens: do not wait for running instances to reload and revoke again")
	default:
		return usagef("unknown subcommand %q: want list, rotate or revoke", sub)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if sub == "revoke" {
		if fs.NArg() != 1 {
			return usagef("revoke takes exactly one KID")
		}
	} else if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	ops, done, err := openOps(ctx, env, f)
	if err != nil {
		return err
	}
	defer done()

	switch sub {
	case "list":
		infos, err := ops.ListKeys(ctx)
		if err != nil {
			return err
		}
		return printKeys(env.stdout, infos, f.json)
	case "rotate":
		var algs []string
		if *alg != "" {
			algs = []string{*alg}
		}
		out, err := ops.RotateKeys(admin.WithActor(ctx, admin.ActorCLI), algs, *force)
		if len(out) > 0 {
			if perr := printKeys(env.stdout, out, f.json); perr != nil {
				return perr
			}
		}
		return opError(err)
	default:
		return revokeKey(ctx, env, ops, fs.Arg(0), *tokens, *nowait, f.json)
	}
}

// revokeKey revokes kid and, when asked, its tokens, then waits for every
// instance to have reloaded and revokes the tokens issued in between.
func revokeKey(ctx context.Context, env *cliEnv, ops *admin.Service, kid string, tokens, nowait, asJSON bool) error {
	res, err := ops.RevokeKey(admin.WithActor(ctx, admin.ActorCLI), kid, tokens)
	if err != nil {
		return opError(err)
	}
	if tokens && !res.FollowUpAt.IsZero() {
		if nowait {
			fmt.Fprintf(env.stderr, "Instances that have not reloaded may sign with %s until %s: repeat this command after that time to revoke their tokens too.\n",
				kid, fmtTime(res.FollowUpAt))
		} else {
			fmt.Fprintf(env.stderr, "Waiting until %s for running instances to reload, then revoking the tokens they issued meanwhile (Ctrl-C to stop; repeat the command later)...\n",
				fmtTime(res.FollowUpAt))
			if err := sleepUntil(ctx, res.FollowUpAt.Add(time.Second)); err != nil {
				return fmt.Errorf("key %s revoked and %d tokens revoked, but interrupted before the second pass: repeat the command: %w", kid, res.TokensRevoked, err)
			}
			again, err := ops.RevokeKey(admin.WithActor(ctx, admin.ActorCLI), kid, true)
			if err != nil {
				return fmt.Errorf("key %s revoked and %d tokens revoked, but the second pass failed: %w", kid, res.TokensRevoked, err)
			}
			res.TokensRevoked += again.TokensRevoked
			res.FollowUpAt = time.Time{}
		}
	}
	if asJSON {
		return printJSON(env.stdout, res)
	}
	if err := printKeys(env.stdout, []keys.KeyInfo{res.Key}, false); err != nil {
		return err
	}
	if tokens {
		fmt.Fprintf(env.stdout, "\ntokens revoked: %d\n", res.TokensRevoked)
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func printKeys(w io.Writer, infos []keys.KeyInfo, asJSON bool) error {
	if asJSON {
		if infos == nil {
			infos = []keys.KeyInfo{}
		}
		return printJSON(w, infos)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tREMOVE AFTER\tREVOKED")
	for _, k := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.State,
			fmtTime(k.CreatedAt), fmtTime(k.ActivatedAt), fmtTime(k.RetiredAt), fmtTime(k.RemoveAfter), fmtTime(k.RevokedAt))
	}
	return tw.Flush()
}
