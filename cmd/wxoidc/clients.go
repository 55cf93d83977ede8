package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
)

// listFlag collects a repeatable, also space- or comma-separated, flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }
func (l *listFlag) Type() string   { return "strings" }
func (l *listFlag) Set(v string) error {
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' }) {
		*l = append(*l, f)
	}
	return nil
}

// uriListFlag collects a repeatable URI flag. Unlike listFlag it does not
// split on commas, which URIs may hold; "" adds nothing, so given alone it
// empties the list.
type uriListFlag []string

func (l *uriListFlag) String() string { return strings.Join(*l, " ") }
func (l *uriListFlag) Type() string   { return "uri" }
func (l *uriListFlag) Set(v string) error {
	if v != "" {
		*l = append(*l, v)
	}
	return nil
}

func newClientsCmd(env *cliEnv) *cobra.Command {
	return newGroupCmd("clients", "Create, list, show, update or delete OAuth clients, or revoke their tokens",
		`Manage the OAuth clients in storage. A confidential client's secret is printed
once, when it is made (create, update --rotate-secret); only its hash is stored.`,
		newClientsCreateCmd(env), newClientsListCmd(env), newClientsShowCmd(env),
		newClientsUpdateCmd(env), newClientsDeleteCmd(env), newClientsRevokeTokensCmd(env))
}

func newClientsCreateCmd(env *cliEnv) *cobra.Command {
	return newClientWriteCmd(env, &cobra.Command{
		Use:   "create",
		Short: "Create a client (prints a confidential client's secret once)",
		Long: `Create a client. With --appid it is a public client of that WeChat app: of
a miniprogram app, with the mini-program grant; of a mobile_app, with the
mobile app grant (urn:wxoidc:params:oauth:grant-type:wechat-app). Without,
a confidential client whose secret is printed once.
A browser sign-in client has the authorization_code grant, its exact
--redirect-uri values and the --wechat-app appids people sign in with.`,
		Example: `  wxoidc clients create --config FILE --id my-mp --appid wx1234567890abcdef --name "My mini-program"
  wxoidc clients create --data DIR --id reports --audience https://api.example.com
  wxoidc clients create --data DIR --id my-ios-app --appid wx00000000000000a3 --grant urn:wxoidc:params:oauth:grant-type:wechat-app --grant refresh_token
  wxoidc clients create --data DIR --id web --grant authorization_code --grant refresh_token --scope openid --redirect-uri https://app.example.com/callback --wechat-app APPID`,
		Args: noArgsHint("use --id"),
	}, false, func(ctx context.Context, ops adminOps, _ []string, cs admin.ClientSpec) (admin.ClientView, error) {
		return ops.CreateClient(ctx, cs)
	})
}

func newClientsListCmd(env *cliEnv) *cobra.Command {
	var f adminFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "List the clients",
		Example: `  wxoidc clients list --data DIR
  wxoidc clients list --config FILE --json`,
		Args: noArgsHint("use show ID"),
		RunE: withOps(env, &f, func(ctx context.Context, ops adminOps, _ []string) error {
			list, err := ops.ListClients(ctx)
			if err != nil {
				return err
			}
			return printClients(env.stdout, list, f.json)
		}),
	}
	f.register(c)
	return c
}

func newClientsShowCmd(env *cliEnv) *cobra.Command {
	var f adminFlags
	c := &cobra.Command{
		Use:     "show ID",
		Short:   "Show one client",
		Example: `  wxoidc clients show ID --data DIR --json`,
		Args:    exactArgs(1, "one client ID"),
		RunE: withOps(env, &f, func(ctx context.Context, ops adminOps, args []string) error {
			cl, err := ops.GetClient(ctx, args[0])
			if err != nil {
				return opError(err)
			}
			if f.json {
				return printClients(env.stdout, []admin.ClientView{cl}, true)
			}
			return printClient(env.stdout, cl)
		}),
	}
	f.register(c)
	return c
}

func newClientsUpdateCmd(env *cliEnv) *cobra.Command {
	return newClientWriteCmd(env, &cobra.Command{
		Use:   "update ID",
		Short: "Change a client: only the flags given change it",
		Long: `Change a client: only the flags given change it. A list flag given replaces
the whole list; given once as "" (--redirect-uri "") it empties it.`,
		Example: `  wxoidc clients update ID --data DIR --scope openid --scope phone --id-token-alg ES256
  wxoidc clients update ID --data DIR --grant authorization_code --redirect-uri https://app.example.com/callback --post-logout-redirect-uri ""
  wxoidc clients update ID --data DIR --rotate-secret`,
		Args: exactArgs(1, "one client ID"),
	}, true, func(ctx context.Context, ops adminOps, args []string, cs admin.ClientSpec) (admin.ClientView, error) {
		return ops.UpdateClient(ctx, args[0], cs)
	})
}

// newClientWriteCmd completes c as create or update (update adds
// --rotate-secret and leaves out --id): both read the client flags, write
// the client and print it with its new secret, if any.
func newClientWriteCmd(env *cliEnv, c *cobra.Command, update bool,
	write func(ctx context.Context, ops adminOps, args []string, cs admin.ClientSpec) (admin.ClientView, error)) *cobra.Command {
	var (
		f    adminFlags
		spec clientFlags
		cs   admin.ClientSpec
	)
	c.PreRunE = func(cmd *cobra.Command, _ []string) error {
		var err error
		cs, err = spec.spec(cmd.Flags())
		return err
	}
	c.RunE = withOps(env, &f, func(ctx context.Context, ops adminOps, args []string) error {
		cl, err := write(ctx, ops, args, cs)
		if err != nil {
			return opError(err)
		}
		return printWithSecret(env.stdout, cl, f.json)
	})
	f.register(c)
	spec.register(c, update)
	return c
}

func newClientsDeleteCmd(env *cliEnv) *cobra.Command {
	var f adminFlags
	c := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a client and revoke its tokens",
		Long: `Delete a client. Its tokens are revoked with it, in one transaction, so a
client created again with the same ID starts with none.`,
		Example: `  wxoidc clients delete ID --data DIR`,
		Args:    exactArgs(1, "one client ID"),
		RunE: withOps(env, &f, func(ctx context.Context, ops adminOps, args []string) error {
			id := args[0]
			if err := ops.DeleteClient(ctx, id); err != nil {
				return opError(err)
			}
			if f.json {
				return printJSON(env.stdout, map[string]string{"deleted": id})
			}
			fmt.Fprintf(env.stdout, "client %s deleted\n", id)
			return nil
		}),
	}
	f.register(c)
	return c
}

func newClientsRevokeTokensCmd(env *cliEnv) *cobra.Command {
	var f adminFlags
	c := &cobra.Command{
		Use:   "revoke-tokens ID",
		Short: "Revoke every token of a client and keep the client",
		Long: `Revoke every access and refresh token issued to a client; the client stays
registered and can get new tokens at once. Deleting a client revokes its
tokens too.`,
		Example: `  wxoidc clients revoke-tokens ID --data DIR`,
		Args:    exactArgs(1, "one client ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ops, ctx, done, err := openOps(cmd.Context(), env, f)
			if err != nil {
				return err
			}
			defer done()
			id := args[0]
			n, err := ops.RevokeClientTokens(ctx, id)
			if err != nil {
				return opError(err)
			}
			if f.json {
				return printJSON(env.stdout, map[string]any{"client_id": id, "tokens_revoked": n})
			}
			fmt.Fprintf(env.stdout, "client %s: %d tokens revoked\n", id, n)
			return nil
		},
	}
	f.register(c)
	return c
}

// printWithSecret prints a created or updated client and, once, its new
// secret.
func printWithSecret(w io.Writer, c admin.ClientView, asJSON bool) error {
	if asJSON {
		return printJSON(w, c)
	}
	if err := printClient(w, c); err != nil {
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
	// Browser sign-in.
	redirectURIs, postLogoutURIs uriListFlag
	weChatApps                   listFlag
	backchannelLogoutURI         string
	skipConsent                  bool
}

func (s *clientFlags) register(c *cobra.Command, update bool) {
	fs := c.Flags()
	if !update {
		fs.StringVar(&s.id, "id", "", "client ID (default: random)")
	}
	fs.StringVar(&s.name, "name", "", "display name")
	fs.StringVar(&s.appID, "appid", "", "WeChat appid of a miniprogram or mobile_app under wechat.apps (makes a public client of that app)")
	fs.StringVar(&s.authMethod, "auth-method", "", "token endpoint auth method: none, client_secret_basic, client_secret_post, private_key_jwt")
	fs.Var(&s.grants, "grant", "allowed grant type (repeatable)")
	fs.Var(&s.scopes, "scope", "allowed scope (repeatable)")
	fs.Var(&s.audiences, "audience", "audience the client may request (repeatable)")
	fs.StringVar(&s.defaultAudience, "default-audience", "", "access-token aud when none is requested (default: the issuer)")
	fs.BoolVar(&s.requirePhone, "require-phone", false, "login requires a verified phone number")
	fs.StringVar(&s.idTokenAlg, "id-token-alg", "", "ID token algorithm: ES256, RS256 or EdDSA (default: ES256 for a client bound to an appid, RS256, OIDC's default, for others)")
	fs.StringVar(&s.jwksFile, "jwks-file", "", "public JWK set file for private_key_jwt")
	fs.BoolVar(&s.disabled, "disabled", false, "disable the client")
	fs.Var(&s.redirectURIs, "redirect-uri", "browser sign-in redirect URI, matched exactly (repeatable; needs --grant authorization_code)")
	fs.Var(&s.postLogoutURIs, "post-logout-redirect-uri", "where logout may return the browser (repeatable)")
	fs.BoolVar(&s.skipConsent, "skip-consent", false, "first-party client: no consent page")
	fs.StringVar(&s.backchannelLogoutURI, "backchannel-logout-uri", "", "OIDC back-channel logout URI (\"\" removes it)")
	fs.Var(&s.weChatApps, "wechat-app", "appid under wechat.apps people may sign in with in the browser (repeatable)")
	if update {
		fs.BoolVar(&s.rotateSecret, "rotate-secret", false, "replace the client secret (printed once)")
	}
	_ = c.MarkFlagFilename("jwks-file", "json", "jwks")
	_ = c.RegisterFlagCompletionFunc("auth-method", fixedCompletions(provider.AuthMethodNone, provider.AuthMethodClientSecretBasic,
		provider.AuthMethodClientSecretPost, provider.AuthMethodPrivateKeyJWT))
	_ = c.RegisterFlagCompletionFunc("id-token-alg", fixedCompletions(keys.SupportedAlgorithms...))
	_ = c.RegisterFlagCompletionFunc("grant", fixedCompletions(provider.GrantTypeWeChat, provider.GrantTypeWeChatApp,
		provider.GrantTypeAuthorizationCode, provider.GrantTypeRefreshToken, provider.GrantTypeClientCredentials))
}

// spec turns the flags that were set into a ClientSpec.
func (s *clientFlags) spec(fs *pflag.FlagSet) (admin.ClientSpec, error) {
	set := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { set[f.Name] = true })
	var cs admin.ClientSpec
	str := func(name, v string) *string {
		if !set[name] {
			return nil
		}
		return &v
	}
	// An emptied list is [], not nil: it travels to a remote admin API as
	// [] (clear), not null (keep).
	list := func(name string, v []string) *[]string {
		if !set[name] {
			return nil
		}
		l := append([]string{}, v...)
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
	cs.RedirectURIs = list("redirect-uri", s.redirectURIs)
	cs.PostLogoutRedirectURIs = list("post-logout-redirect-uri", s.postLogoutURIs)
	cs.SkipConsent = boolean("skip-consent", s.skipConsent)
	cs.BackchannelLogoutURI = str("backchannel-logout-uri", s.backchannelLogoutURI)
	cs.WeChatApps = list("wechat-app", s.weChatApps)
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
		return printJSONList(w, cs)
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "CLIENT ID\tAUTH\tAPPID\tGRANTS\tSCOPES\tID TOKEN ALG\tDISABLED\tREDIRECT URIS\tWECHAT APPS")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\t%s\t%s\n", c.ID, c.TokenEndpointAuthMethod, orDash(c.WeChatAppID),
			orDash(strings.Join(c.GrantTypes, ",")), orDash(strings.Join(c.Scopes, ",")), c.IDTokenSignedResponseAlg, c.Disabled,
			orDash(strings.Join(c.RedirectURIs, " ")), orDash(strings.Join(c.WeChatApps, ",")))
	}
	return tw.Flush()
}

// printClient prints one client: the list's row and, for a browser
// sign-in client, all its browser fields, one a line.
func printClient(w io.Writer, c admin.ClientView) error {
	if err := printClients(w, []admin.ClientView{c}, false); err != nil {
		return err
	}
	if len(c.RedirectURIs)+len(c.PostLogoutRedirectURIs)+len(c.WeChatApps) == 0 && !c.SkipConsent && c.BackchannelLogoutURI == "" {
		return nil
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintf(tw, "redirect_uris:\t%s\n", orDash(strings.Join(c.RedirectURIs, " ")))
	fmt.Fprintf(tw, "post_logout_redirect_uris:\t%s\n", orDash(strings.Join(c.PostLogoutRedirectURIs, " ")))
	fmt.Fprintf(tw, "backchannel_logout_uri:\t%s\n", orDash(c.BackchannelLogoutURI))
	fmt.Fprintf(tw, "skip_consent:\t%v\n", c.SkipConsent)
	fmt.Fprintf(tw, "wechat_apps:\t%s\n", orDash(strings.Join(c.WeChatApps, " ")))
	return tw.Flush()
}
