package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/wxoidc/wxoidc/admin"
)

// listFlag collects a repeatable, also space- or comma-separated, flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error {
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' }) {
		*l = append(*l, f)
	}
	return nil
}

func runClients(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: create, list, show, update or delete")
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet(env, "clients "+sub, "clients create|list|show|update|delete [--config FILE | --data DIR] [flags] [ID]")
	var f adminFlags
	f.register(fs)
	var spec clientFlags
	switch sub {
	case "create", "update":
		spec.register(fs, sub == "update")
	case "list", "show", "delete":
	default:
		return usagef("unknown subcommand %q: want create, list, show, update or delete", sub)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	id := ""
	switch sub {
	case "show", "update", "delete":
		if fs.NArg() != 1 {
			return usagef("%s takes exactly one client ID", sub)
		}
		id = fs.Arg(0)
	default:
		if fs.NArg() > 0 {
			return usagef("unexpected argument %q (use --id)", fs.Arg(0))
		}
	}
	var cs admin.ClientSpec
	if sub == "create" || sub == "update" {
		var err error
		if cs, err = spec.spec(fs); err != nil {
			return err
		}
	}
	ops, done, err := openOps(ctx, env, f)
	if err != nil {
		return err
	}
	defer done()

	switch sub {
	case "list":
		list, err := ops.ListClients(ctx)
		if err != nil {
			return err
		}
		return printClients(env.stdout, list, f.json)
	case "show":
		c, err := ops.GetClient(ctx, id)
		if err != nil {
			return opError(err)
		}
		return printClients(env.stdout, []admin.ClientView{c}, f.json)
	case "delete":
		if err := ops.DeleteClient(admin.WithActor(ctx, admin.ActorCLI), id); err != nil {
			return opError(err)
		}
		if f.json {
			return printJSON(env.stdout, map[string]string{"deleted": id})
		}
		fmt.Fprintf(env.stdout, "client %s deleted\n", id)
		return nil
	case "create":
		c, err := ops.CreateClient(admin.WithActor(ctx, admin.ActorCLI), cs)
		if err != nil {
			return opError(err)
		}
		return printWithSecret(env.stdout, c, f.json)
	default: // update
		c, err := ops.UpdateClient(admin.WithActor(ctx, admin.ActorCLI), id, cs)
		if err != nil {
			return opError(err)
		}
		return printWithSecret(env.stdout, c, f.json)
	}
}

// printWithSecret prints a created or updated client and, once, its new
// secret.
func printWithSecret(w io.Writer, c admin.ClientView, asJSON bool) error {
	if asJSON {
		return printJSON(w, c)
	}
	if err := printClients(w, []admin.ClientView{c}, false); err != nil {
		return err
	}
	if c.ClientSecret != "" {
		fmt.Fprintf(w, "\nclient_secret: %s\n(shown once; only its hash is stored)\n", c.ClientSecret)
	}
	return nil
}

// clientFlags holds the create/update flags; only flags actually given
// change a client on update.
type clientFlags struct {
	id, name, appID, authMethod, defaultAudience, idTokenAlg, jwksFile string
	grants, scopes, audiences                                          listFlag
	requirePhone, disabled, rotateSecret                               bool
}

func (s *clientFlags) register(fs *flag.FlagSet, update bool) {
	if !update {
		fs.StringVar(&s.id, "id", "", "client ID (default: random)")
	}
	fs.StringVar(&s.name, "name", "", "display name")
	fs.StringVar(&s.appID, "appid", "", "WeChat mini-program appid (makes a public mini-program client)")
	fs.StringVar(&s.authMethod, "auth-method", "", "token endpoint auth method: none, client_secret_basic, client_secret_post, private_key_jwt")
	fs.Var(&s.grants, "grant", "allowed grant type (repeatable)")
	fs.Var(&s.scopes, "scope", "allowed scope (repeatable)")
	fs.Var(&s.audiences, "audience", "audience the client may request (repeatable)")
	fs.StringVar(&s.defaultAudience, "default-audience", "", "access-token aud when none is requested (default: the issuer)")
	fs.BoolVar(&s.requirePhone, "require-phone", false, "login requires a verified phone number")
	fs.StringVar(&s.idTokenAlg, "id-token-alg", "", "ID token algorithm: RS256 (default), ES256, EdDSA")
	fs.StringVar(&s.jwksFile, "jwks-file", "", "public JWK set file for private_key_jwt")
	fs.BoolVar(&s.disabled, "disabled", false, "disable the client")
	if update {
		fs.BoolVar(&s.rotateSecret, "rotate-secret", false, "replace the client secret (printed once)")
	}
}

// spec turns the flags that were set into a ClientSpec.
func (s *clientFlags) spec(fs *flag.FlagSet) (admin.ClientSpec, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var cs admin.ClientSpec
	str := func(name, v string) *string {
		if !set[name] {
			return nil
		}
		return &v
	}
	list := func(name string, v listFlag) *[]string {
		if !set[name] {
			return nil
		}
		l := []string(v)
		return &l
	}
	boolean := func(name string, v bool) *bool {
		if !set[name] {
			return nil
		}
		return &v
	}
	cs.ID = str("id", s.id)
	cs.Name = str("name", s.name)
	cs.WeChatAppID = str("appid", s.appID)
	cs.TokenEndpointAuthMethod = str("auth-method", s.authMethod)
	cs.GrantTypes = list("grant", s.grants)
	cs.Scopes = list("scope", s.scopes)
	cs.Audiences = list("audience", s.audiences)
	cs.DefaultAudience = str("default-audience", s.defaultAudience)
	cs.RequirePhone = boolean("require-phone", s.requirePhone)
	cs.IDTokenSignedResponseAlg = str("id-token-alg", s.idTokenAlg)
	cs.Disabled = boolean("disabled", s.disabled)
	cs.RotateSecret = s.rotateSecret
	if set["jwks-file"] {
		raw, err := os.ReadFile(s.jwksFile)
		if err != nil {
			return cs, usagef("--jwks-file: %v", err)
		}
		m := json.RawMessage(raw)
		cs.JWKS = &m
	}
	return cs, nil
}

func printClients(w io.Writer, cs []admin.ClientView, asJSON bool) error {
	if asJSON {
		if cs == nil {
			cs = []admin.ClientView{}
		}
		return printJSON(w, cs)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tAUTH\tAPPID\tGRANTS\tSCOPES\tID TOKEN ALG\tDISABLED")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", c.ID, c.TokenEndpointAuthMethod, orDash(c.WeChatAppID),
			orDash(strings.Join(c.GrantTypes, ",")), orDash(strings.Join(c.Scopes, ",")), c.IDTokenSignedResponseAlg, c.Disabled)
	}
	return tw.Flush()
}
