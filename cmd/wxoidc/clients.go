package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
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
	path := fs.String("config", "", "YAML config file")
	data := fs.String("data", "", "dev-mode data directory (instead of --config)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	var spec clientSpec
	if sub == "create" || sub == "update" {
		spec.register(fs)
	}
	switch sub {
	case "create", "list", "show", "update", "delete":
	default:
		return usagef("unknown subcommand %q", sub)
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
	needID := func() (string, error) {
		if fs.NArg() != 1 {
			return "", usagef("%s takes exactly one client ID", sub)
		}
		return fs.Arg(0), nil
	}

	switch sub {
	case "list":
		cs, err := store.ListClients(ctx)
		if err != nil {
			return err
		}
		return printClients(env.stdout, cs, *asJSON)
	case "show":
		id, err := needID()
		if err != nil {
			return err
		}
		c, err := store.GetClient(ctx, id)
		if err != nil {
			return notFound(err, id)
		}
		return printClients(env.stdout, []storage.Client{c}, *asJSON)
	case "delete":
		id, err := needID()
		if err != nil {
			return err
		}
		if err := store.DeleteClient(ctx, id); err != nil {
			return notFound(err, id)
		}
		fmt.Fprintf(env.stdout, "client %s deleted\n", id)
		return nil
	case "create":
		if fs.NArg() > 0 {
			return usagef("unexpected argument %q (use --id)", fs.Arg(0))
		}
		now := time.Now().UTC()
		c := storage.Client{ID: spec.id, CreatedAt: now, UpdatedAt: now}
		if c.ID == "" {
			c.ID = randomID()
		}
		if err := spec.apply(&c, fs, true, cfg.Issuer); err != nil {
			return err
		}
		secret := ""
		if c.TokenEndpointAuthMethod == provider.AuthMethodClientSecretBasic || c.TokenEndpointAuthMethod == provider.AuthMethodClientSecretPost {
			secret = provider.GenerateSecret()
			cipher, err := app.Cipher(cfg)
			if err != nil {
				return err
			}
			h, err := app.SecretHasher(cfg, cipher)
			if err != nil {
				return err
			}
			hash, err := h.Hash(ctx, []byte(secret))
			if err != nil {
				return err
			}
			c.SecretHash = string(hash)
		}
		if err := store.CreateClient(ctx, c); err != nil {
			if errors.Is(err, storage.ErrAlreadyExists) {
				return fmt.Errorf("client %s already exists", c.ID)
			}
			return err
		}
		if err := printClients(env.stdout, []storage.Client{c}, *asJSON); err != nil {
			return err
		}
		if secret != "" {
			fmt.Fprintf(env.stdout, "\nclient_secret: %s\n(shown once; only its hash is stored)\n", secret)
		}
		return nil
	default: // update
		id, err := needID()
		if err != nil {
			return err
		}
		c, err := store.UpdateClient(ctx, id, func(c storage.Client) (storage.Client, error) {
			if err := spec.apply(&c, fs, false, cfg.Issuer); err != nil {
				return c, err
			}
			c.UpdatedAt = time.Now().UTC()
			return c, nil
		})
		if err != nil {
			return notFound(err, id)
		}
		return printClients(env.stdout, []storage.Client{c}, *asJSON)
	}
}

func notFound(err error, id string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("client %s not found", id)
	}
	return err
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// clientSpec holds the create/update flags; only flags actually set change a
// client on update.
type clientSpec struct {
	id, name, appID, authMethod, defaultAudience, idTokenAlg, jwksFile string
	grants, scopes, audiences                                          listFlag
	requirePhone, disabled                                             bool
}

func (s *clientSpec) register(fs *flag.FlagSet) {
	fs.StringVar(&s.id, "id", "", "client ID (create; default random)")
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
}

func (s *clientSpec) apply(c *storage.Client, fs *flag.FlagSet, creating bool, issuer string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["name"] {
		c.Name = s.name
	}
	if set["appid"] {
		c.WeChatAppID = s.appID
	}
	if set["auth-method"] {
		c.TokenEndpointAuthMethod = s.authMethod
	}
	if creating && c.TokenEndpointAuthMethod == "" {
		if c.WeChatAppID != "" {
			c.TokenEndpointAuthMethod = provider.AuthMethodNone
		} else {
			c.TokenEndpointAuthMethod = provider.AuthMethodClientSecretBasic
		}
	}
	if set["grant"] {
		c.GrantTypes = s.grants
	} else if creating {
		if c.WeChatAppID != "" {
			c.GrantTypes = []string{provider.GrantTypeWeChat, provider.GrantTypeRefreshToken}
		} else {
			c.GrantTypes = []string{provider.GrantTypeClientCredentials}
		}
	}
	if set["scope"] {
		c.Scopes = s.scopes
	} else if creating && c.WeChatAppID != "" {
		c.Scopes = []string{provider.ScopeOpenID, provider.ScopePhone, provider.ScopeOfflineAccess}
	}
	if set["audience"] {
		c.Audiences = s.audiences
	}
	if set["default-audience"] {
		c.DefaultAudience = s.defaultAudience
	} else if c.DefaultAudience == "" {
		c.DefaultAudience = issuer
	}
	if set["require-phone"] {
		c.RequirePhone = s.requirePhone
	}
	if set["id-token-alg"] {
		c.IDTokenSignedResponseAlg = s.idTokenAlg
	}
	if set["disabled"] {
		c.Disabled = s.disabled
	}
	if set["jwks-file"] {
		raw, err := os.ReadFile(s.jwksFile)
		if err != nil {
			return err
		}
		if err := provider.ValidateClientJWKS(raw); err != nil {
			return err
		}
		c.JWKS = raw
	}
	return provider.ValidateClient(*c)
}

func printClients(w io.Writer, cs []storage.Client, asJSON bool) error {
	if asJSON {
		type out struct {
			ID                       string   `json:"client_id"`
			Name                     string   `json:"name,omitempty"`
			TokenEndpointAuthMethod  string   `json:"token_endpoint_auth_method"`
			WeChatAppID              string   `json:"wechat_appid,omitempty"`
			GrantTypes               []string `json:"grant_types"`
			Scopes                   []string `json:"scopes"`
			Audiences                []string `json:"audiences,omitempty"`
			DefaultAudience          string   `json:"default_audience"`
			RequirePhone             bool     `json:"require_phone"`
			IDTokenSignedResponseAlg string   `json:"id_token_signed_response_alg,omitempty"`
			Disabled                 bool     `json:"disabled"`
		}
		list := make([]out, 0, len(cs))
		for _, c := range cs {
			list = append(list, out{c.ID, c.Name, c.TokenEndpointAuthMethod, c.WeChatAppID, c.GrantTypes, c.Scopes, c.Audiences, c.DefaultAudience, c.RequirePhone, c.IDTokenSignedResponseAlg, c.Disabled})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tAUTH\tAPPID\tGRANTS\tSCOPES\tDISABLED")
	for _, c := range cs {
		appid := c.WeChatAppID
		if appid == "" {
			appid = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", c.ID, c.TokenEndpointAuthMethod, appid, strings.Join(c.GrantTypes, ","), strings.Join(c.Scopes, ","), c.Disabled)
	}
	return tw.Flush()
}
