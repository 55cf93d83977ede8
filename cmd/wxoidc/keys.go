package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/keys"
)

func runKeys(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: list, rotate or revoke")
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet(env, "keys "+sub, "keys list|rotate|revoke [--config FILE | --data DIR] [flags]")
	path := fs.String("config", "", "YAML config file")
	data := fs.String("data", "", "dev-mode data directory (instead of --config)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	var alg *string
	var force *bool
	switch sub {
	case "list":
	case "rotate":
		alg = fs.String("alg", "", "algorithm to rotate (RS256, ES256, EdDSA); default: all configured")
		force = fs.Bool("force", false, "promote the next key even if it was published for less than the safe delay")
	case "revoke":
	default:
		return usagef("unknown subcommand %q: want list, rotate or revoke", sub)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadForAdmin(env, *path, *data)
	if err != nil {
		return err
	}
	store, err := app.OpenStorage(ctx, cfg.Storage, nil, false)
	if err != nil {
		return err
	}
	defer store.Close()

	switch sub {
	case "list":
		if fs.NArg() > 0 {
			return usagef("unexpected argument %q", fs.Arg(0))
		}
		infos, err := keys.List(ctx, store)
		if err != nil {
			return err
		}
		return printKeys(env.stdout, infos, *asJSON)
	case "rotate":
		cipher, err := app.Cipher(cfg)
		if err != nil {
			return err
		}
		kc := app.KeysConfig(cfg, store, cipher, nil, time.Now)
		algs := cfg.Keys.Algorithms
		if *alg != "" {
			algs = []string{*alg}
		}
		var out []keys.KeyInfo
		for _, a := range algs {
			k, err := keys.Rotate(ctx, kc, a, *force)
			if err != nil {
				return fmt.Errorf("rotate %s: %w", a, err)
			}
			out = append(out, k)
		}
		return printKeys(env.stdout, out, *asJSON)
	default: // revoke
		if fs.NArg() != 1 {
			return usagef("revoke takes exactly one KID")
		}
		cipher, err := app.Cipher(cfg)
		if err != nil {
			return err
		}
		k, err := keys.Revoke(ctx, app.KeysConfig(cfg, store, cipher, nil, time.Now), fs.Arg(0))
		if err != nil {
			return err
		}
		return printKeys(env.stdout, []keys.KeyInfo{k}, *asJSON)
	}
}

func printKeys(w io.Writer, infos []keys.KeyInfo, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tREMOVE AFTER")
	for _, k := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.State,
			fmtTime(k.CreatedAt), fmtTime(k.ActivatedAt), fmtTime(k.RetiredAt), fmtTime(k.RemoveAfter))
	}
	return tw.Flush()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
