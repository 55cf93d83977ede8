package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/wxoidc/wxoidc/keys"
)

func newKeysCmd(env *cliEnv) *cobra.Command {
	return newGroupCmd("keys", "List, rotate or revoke signing keys",
		`List, rotate or revoke the signing keys in storage. These commands work while
servers run: every instance picks the change up at its next key reload.`,
		newKeysListCmd(env), newKeysRotateCmd(env), newKeysRevokeCmd(env))
}

func newKeysListCmd(env *cliEnv) *cobra.Command {
	var f adminFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "List the signing keys and their states",
		Example: `  wxoidc keys list --data DIR
  wxoidc keys list --config FILE --json
  wxoidc keys list --admin-url http://127.0.0.1:8081 --admin-token-file TOKEN_FILE   # through a server's admin API`,
		Args: noArgs,
		RunE: withOps(env, &f, func(ctx context.Context, ops adminOps, _ []string) error {
			infos, err := ops.ListKeys(ctx)
			if err != nil {
				return err
			}
			return printKeys(env.stdout, infos, f.json)
		}),
	}
	f.register(c)
	return c
}

func newKeysRotateCmd(env *cliEnv) *cobra.Command {
	var (
		f     adminFlags
		alg   string
		force bool
	)
	c := &cobra.Command{
		Use:   "rotate",
		Short: "Promote the next key of each algorithm to current",
		Long: `Promote the next key to current and publish a new next key, for one algorithm
(--alg) or every configured one. A rotation whose next key has been published
for less than the safe delay is refused (exit 1) unless --force is given.`,
		Example: `  wxoidc keys rotate --config FILE                    # every configured algorithm
  wxoidc keys rotate --data DIR --alg RS256 --force   # at once, though caches may lack the next key
  WXOIDC_ADMIN_TOKEN=dev-admin-token wxoidc keys rotate --admin-url http://127.0.0.1:8081 --alg ES256 --force   # through a dev instance's admin API`,
		Args: noArgs,
		RunE: withOps(env, &f, func(ctx context.Context, ops adminOps, _ []string) error {
			var algs []string
			if alg != "" {
				algs = []string{alg}
			}
			out, err := ops.RotateKeys(ctx, algs, force)
			if len(out) > 0 {
				if perr := printKeys(env.stdout, out, f.json); perr != nil {
					return perr
				}
			}
			return opError(err)
		}),
	}
	f.register(c)
	c.Flags().StringVar(&alg, "alg", "", "algorithm to rotate (RS256, ES256, EdDSA); default: every configured one")
	c.Flags().BoolVar(&force, "force", false, "promote the next key even if it was published for less than the safe delay (caches may lack it)")
	_ = c.RegisterFlagCompletionFunc("alg", fixedCompletions(keys.SupportedAlgorithms...))
	return c
}

func newKeysRevokeCmd(env *cliEnv) *cobra.Command {
	var (
		f              adminFlags
		tokens, nowait bool
	)
	c := &cobra.Command{
		Use:   "revoke KID",
		Short: "Revoke a signing key (a compromised one), optionally with its tokens",
		Long: `Revoke the key KID: it leaves the JWKS at once and never signs again. With
--revoke-tokens, the refresh tokens issued while it signed are revoked too;
the command then waits until every running instance has reloaded its keys and
revokes the tokens issued meanwhile (--no-wait skips the wait).

New KIDs never start with '-'; one made by an earlier version may, and then
goes after '--', which ends the flags:
wxoidc keys revoke --data DIR -- -AbC…`,
		Example: `  wxoidc keys revoke KID --data DIR
  wxoidc keys revoke KID --config FILE --revoke-tokens`,
		Args: exactArgs(1, "one KID"),
		RunE: withOps(env, &f, func(ctx context.Context, ops adminOps, args []string) error {
			return revokeKey(ctx, env, ops, args[0], tokens, nowait, f.json)
		}),
	}
	f.register(c)
	c.Flags().BoolVar(&tokens, "revoke-tokens", false, "also revoke the refresh tokens issued while the key was signing")
	c.Flags().BoolVar(&nowait, "no-wait", false, "with --revoke-tokens: do not wait for running instances to reload and revoke again")
	return c
}

// revokeKey revokes kid and, when asked, its tokens, then waits for every
// instance to have reloaded and revokes the tokens issued in between.
func revokeKey(ctx context.Context, env *cliEnv, ops adminOps, kid string, tokens, nowait, asJSON bool) error {
	res, err := ops.RevokeKey(ctx, kid, tokens)
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
			again, err := ops.RevokeKey(ctx, kid, true)
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
		return printJSONList(w, infos)
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tREMOVE AFTER\tREVOKED")
	for _, k := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.State,
			fmtTime(k.CreatedAt), fmtTime(k.ActivatedAt), fmtTime(k.RetiredAt), fmtTime(k.RemoveAfter), fmtTime(k.RevokedAt))
	}
	return tw.Flush()
}
