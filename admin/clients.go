package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

// ClientSpec is a client registration as the admin API (JSON) and the CLI
// (flags) take it. A nil field keeps the current value on update and takes
// the default on create.
type ClientSpec struct {
	ID                       *string          `json:"client_id,omitempty"` // create only; default random
	Name                     *string          `json:"name,omitempty"`
	WeChatAppID              *string          `json:"wechat_appid,omitempty"`
	TokenEndpointAuthMethod  *string          `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes               *[]string        `json:"grant_types,omitempty"`
	Scopes                   *[]string        `json:"scopes,omitempty"`
	Audiences                *[]string        `json:"audiences,omitempty"`
	DefaultAudience          *string          `json:"default_audience,omitempty"`
	RequirePhone             *bool            `json:"require_phone,omitempty"`
	IDTokenSignedResponseAlg *string          `json:"id_token_signed_response_alg,omitempty"`
	JWKS                     *json.RawMessage `json:"jwks,omitempty"` // public JWK set for private_key_jwt
	Disabled                 *bool            `json:"disabled,omitempty"`
	// Browser sign-in, named as in OIDC Dynamic Client Registration 1.0
	// §2 and OIDC Back-Channel Logout 1.0 §2.2. An empty list clears one.
	RedirectURIs           *[]string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris,omitempty"`
	SkipConsent            *bool     `json:"skip_consent,omitempty"`
	BackchannelLogoutURI   *string   `json:"backchannel_logout_uri,omitempty"`
	// WeChatApps are the configured appids (wechat.apps) a person may sign
	// in with through the browser.
	WeChatApps *[]string `json:"wechat_apps,omitempty"`
	// RotateSecret replaces the secret of a client_secret_* client (update
	// only); the new secret is returned once.
	RotateSecret bool `json:"rotate_secret,omitempty"`
}

// ClientView is a client as the API and the CLI show it: never its secret
// or secret hash.
type ClientView struct {
	ID                       string          `json:"client_id"`
	Name                     string          `json:"name,omitempty"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method"`
	WeChatAppID              string          `json:"wechat_appid,omitempty"`
	GrantTypes               []string        `json:"grant_types"`
	Scopes                   []string        `json:"scopes"`
	Audiences                []string        `json:"audiences"`
	DefaultAudience          string          `json:"default_audience"`
	RequirePhone             bool            `json:"require_phone"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
	JWKS                     json.RawMessage `json:"jwks,omitempty"`
	Disabled                 bool            `json:"disabled"`
	RedirectURIs             []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris"`
	SkipConsent              bool            `json:"skip_consent"`
	BackchannelLogoutURI     string          `json:"backchannel_logout_uri,omitempty"`
	WeChatApps               []string        `json:"wechat_apps"`
	CreatedAt                time.Time       `json:"created_at"`
	UpdatedAt                time.Time       `json:"updated_at"`
	// ClientSecret is set only in the answer that created it.
	ClientSecret string `json:"client_secret,omitempty"`
}

// NewClientView renders c.
func NewClientView(c storage.Client) ClientView {
	v := ClientView{
		ID: c.ID, Name: c.Name, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, WeChatAppID: c.WeChatAppID,
		GrantTypes: orEmpty(c.GrantTypes), Scopes: orEmpty(c.Scopes), Audiences: orEmpty(c.Audiences),
		DefaultAudience: c.DefaultAudience, RequirePhone: c.RequirePhone,
		IDTokenSignedResponseAlg: provider.IDTokenAlg(c), Disabled: c.Disabled, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		RedirectURIs: orEmpty(c.RedirectURIs), PostLogoutRedirectURIs: orEmpty(c.PostLogoutRedirectURIs),
		SkipConsent: c.SkipConsent, BackchannelLogoutURI: c.BackchannelLogoutURI, WeChatApps: orEmpty(c.WeChatApps),
	}
	if len(c.JWKS) > 0 {
		v.JWKS = json.RawMessage(c.JWKS)
	}
	return v
}

// nilIfEmpty stores an emptied list as none, as a list never given is.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ListClients returns every client, ordered by ID.
func (s *Service) ListClients(ctx context.Context) ([]ClientView, error) {
	cs, err := s.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing clients: %w", err)
	}
	out := make([]ClientView, 0, len(cs))
	for _, c := range cs {
		out = append(out, NewClientView(c))
	}
	return out, nil
}

// Limits of one page of clients.
const (
	DefaultClientPageLimit = 50
	MaxClientPageLimit     = 500
)

// ClientPage is one page of the clients, ordered by ID.
type ClientPage struct {
	Clients []ClientView `json:"clients"`
	// NextAfter, when set, is the after of the next page: more clients
	// follow.
	NextAfter string `json:"next_after,omitempty"`
}

// ListClientsPage returns up to limit clients whose ID starts with prefix
// ("" for all) and sorts after after ("" for the first page), ordered by
// ID. A zero limit is DefaultClientPageLimit. Unlike ListClients it reads
// only the page (and one more row, to know whether another page follows).
func (s *Service) ListClientsPage(ctx context.Context, prefix, after string, limit int) (ClientPage, error) {
	if limit == 0 {
		limit = DefaultClientPageLimit
	}
	if limit < 0 || limit > MaxClientPageLimit {
		return ClientPage{}, fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalid, MaxClientPageLimit)
	}
	cs, err := s.store.ListClientsPage(ctx, prefix, after, limit+1)
	if err != nil {
		return ClientPage{}, fmt.Errorf("listing clients: %w", err)
	}
	page := ClientPage{Clients: make([]ClientView, 0, min(len(cs), limit))}
	for i, c := range cs {
		if i == limit {
			page.NextAfter = cs[i-1].ID
			break
		}
		page.Clients = append(page.Clients, NewClientView(c))
	}
	return page, nil
}

// GetClient returns one client.
func (s *Service) GetClient(ctx context.Context, id string) (ClientView, error) {
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return ClientView{}, clientError(id, err)
	}
	return NewClientView(c), nil
}

func clientError(id string, err error) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%w: client %q", ErrNotFound, id)
	case errors.Is(err, storage.ErrAlreadyExists):
		return fmt.Errorf("%w: client %q already exists", ErrConflict, id)
	case errors.Is(err, ErrInvalid):
		return err
	}
	return fmt.Errorf("client %q: %w", id, err)
}

// CreateClient registers a client. Confidential clients with a
// client_secret_* method get a generated secret, returned once in
// ClientSecret and stored only as a hash.
func (s *Service) CreateClient(ctx context.Context, spec ClientSpec) (ClientView, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return ClientView{}, err
	}
	if spec.RotateSecret {
		return ClientView{}, fmt.Errorf("%w: rotate_secret applies to updates only", ErrInvalid)
	}
	now := s.now().UTC()
	c := storage.Client{CreatedAt: now, UpdatedAt: now}
	if spec.ID != nil {
		c.ID = *spec.ID
	} else {
		c.ID = randomClientID()
	}
	if err := validClientID(c.ID); err != nil {
		return ClientView{}, err
	}
	if err := s.applyClientSpec(&c, spec, true); err != nil {
		return ClientView{}, err
	}
	secret, err := s.ensureSecret(ctx, &c, false)
	if err != nil {
		return ClientView{}, err
	}
	if err := s.store.CreateClient(ctx, c); err != nil {
		return ClientView{}, clientError(c.ID, err)
	}
	s.clientUpdated(c.ID)
	s.record(ctx, actor, "clients.create", c.ID, clientAuditDetails(c, secret != ""))
	v := NewClientView(c)
	v.ClientSecret = secret
	return v, nil
}

// UpdateClient changes the fields spec sets, atomically. A change to a
// client_secret_* method from one without a secret, or RotateSecret,
// returns a new secret once.
func (s *Service) UpdateClient(ctx context.Context, id string, spec ClientSpec) (ClientView, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return ClientView{}, err
	}
	if spec.ID != nil && *spec.ID != id {
		return ClientView{}, fmt.Errorf("%w: client_id cannot be changed", ErrInvalid)
	}
	var secret string
	c, err := s.store.UpdateClient(ctx, id, func(c storage.Client) (storage.Client, error) {
		if err := s.applyClientSpec(&c, spec, false); err != nil {
			return c, err
		}
		var err error
		if secret, err = s.ensureSecret(ctx, &c, spec.RotateSecret); err != nil {
			return c, err
		}
		c.UpdatedAt = s.now().UTC()
		return c, nil
	})
	if err != nil {
		return ClientView{}, clientError(id, err)
	}
	s.clientUpdated(id)
	s.record(ctx, actor, "clients.update", c.ID, clientAuditDetails(c, secret != ""))
	v := NewClientView(c)
	v.ClientSecret = secret
	return v, nil
}

// DeleteClient removes a client and revokes its tokens in the same
// transaction, so re-creating the client ID brings none of them back.
func (s *Service) DeleteClient(ctx context.Context, id string) error {
	actor, err := actorOf(ctx)
	if err != nil {
		return err
	}
	if err := s.store.DeleteClient(ctx, id); err != nil {
		return clientError(id, err)
	}
	s.clientUpdated(id)
	s.record(ctx, actor, "clients.delete", id, nil)
	return nil
}

// RevokeClientTokens revokes every token issued to client id and keeps
// the client (a leaked client credential, a compromised app release). It
// returns how many were revoked.
func (s *Service) RevokeClientTokens(ctx context.Context, id string) (int64, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := s.store.GetClient(ctx, id); err != nil {
		return 0, clientError(id, err)
	}
	n, err := s.store.RevokeClientTokens(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("revoking the tokens of client %q: %w", id, err)
	}
	s.record(ctx, actor, "clients.revoke_tokens", id, map[string]any{"tokens_revoked": n})
	return n, nil
}

// clientUpdated makes a client change take effect at once on this server
// (other instances see it within their client cache's lifetime).
func (s *Service) clientUpdated(id string) {
	if s.clientChanged != nil {
		s.clientChanged(id)
	}
}

// clientAuditDetails is what the audit log keeps of a registration: no
// secret, no hash.
func clientAuditDetails(c storage.Client, newSecret bool) map[string]any {
	return map[string]any{
		"token_endpoint_auth_method": c.TokenEndpointAuthMethod, "wechat_appid": c.WeChatAppID,
		"grant_types": orEmpty(c.GrantTypes), "scopes": orEmpty(c.Scopes),
		"id_token_signed_response_alg": provider.IDTokenAlg(c), "disabled": c.Disabled, "new_secret": newSecret,
		"redirect_uris": orEmpty(c.RedirectURIs), "post_logout_redirect_uris": orEmpty(c.PostLogoutRedirectURIs),
		"skip_consent": c.SkipConsent, "backchannel_logout_uri": c.BackchannelLogoutURI, "wechat_apps": orEmpty(c.WeChatApps),
	}
}

func randomClientID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// MaxClientNameLength bounds a client's display name (characters): it is
// shown on consent pages and in lists, not stored as a document.
const MaxClientNameLength = 200

// validClientID accepts printable ASCII without spaces (client IDs travel
// in forms, Basic credentials and logs).
func validClientID(id string) error {
	if id == "" || len(id) > 255 {
		return fmt.Errorf("%w: client_id must be 1 to 255 characters", ErrInvalid)
	}
	for _, r := range id {
		if r <= ' ' || r > '~' {
			return fmt.Errorf("%w: client_id must be printable ASCII without spaces", ErrInvalid)
		}
	}
	return nil
}

func usesSecret(method string) bool {
	return method == provider.AuthMethodClientSecretBasic || method == provider.AuthMethodClientSecretPost
}

// ensureSecret generates a secret when c needs one and has none, or when
// rotate asks, and drops the hash when c's method uses no secret. It
// returns the new secret, or "".
func (s *Service) ensureSecret(ctx context.Context, c *storage.Client, rotate bool) (string, error) {
	if !usesSecret(c.TokenEndpointAuthMethod) {
		if rotate {
			return "", fmt.Errorf("%w: client %q authenticates with %s, which uses no secret", ErrInvalid, c.ID, c.TokenEndpointAuthMethod)
		}
		c.SecretHash = ""
		return "", nil
	}
	if c.SecretHash != "" && !rotate {
		return "", nil
	}
	secret := provider.GenerateSecret()
	hash, err := s.hasher.Hash(ctx, []byte(secret))
	if err != nil {
		return "", fmt.Errorf("hashing the client secret: %w", err)
	}
	c.SecretHash = string(hash)
	return secret, nil
}

// applyClientSpec applies spec to c, with create-time defaults when
// creating: a client bound to an appid is a public app client (the
// mini-program or, for a mobile_app, the mobile app grant, and refresh),
// any other a confidential client_credentials client. The result is validated as a whole.
func (s *Service) applyClientSpec(c *storage.Client, spec ClientSpec, creating bool) error {
	if spec.Name != nil {
		if n := utf8.RuneCountInString(*spec.Name); n > MaxClientNameLength {
			return fmt.Errorf("%w: name must be at most %d characters, got %d", ErrInvalid, MaxClientNameLength, n)
		}
		c.Name = *spec.Name
	}
	if spec.WeChatAppID != nil {
		c.WeChatAppID = *spec.WeChatAppID
	}
	if spec.TokenEndpointAuthMethod != nil {
		c.TokenEndpointAuthMethod = *spec.TokenEndpointAuthMethod
	} else if creating {
		c.TokenEndpointAuthMethod = provider.AuthMethodClientSecretBasic
		if c.WeChatAppID != "" {
			c.TokenEndpointAuthMethod = provider.AuthMethodNone
		}
	}
	if spec.GrantTypes != nil {
		c.GrantTypes = slices.Clone(*spec.GrantTypes)
	} else if creating {
		c.GrantTypes = []string{provider.GrantTypeClientCredentials}
		if c.WeChatAppID != "" {
			// The app's kind picks the grant: a mobile app's codes come
			// from the Open SDK, anything else is taken as a mini-program
			// (and checked below).
			grant := provider.GrantTypeWeChat
			if s.appKinds[c.WeChatAppID] == config.WeChatKindMobileApp {
				grant = provider.GrantTypeWeChatApp
			}
			c.GrantTypes = []string{grant, provider.GrantTypeRefreshToken}
		}
	}
	if spec.Scopes != nil {
		c.Scopes = slices.Clone(*spec.Scopes)
	} else if creating && c.WeChatAppID != "" {
		c.Scopes = []string{provider.ScopeOpenID, provider.ScopePhone, provider.ScopeOfflineAccess}
	}
	if spec.Audiences != nil {
		c.Audiences = slices.Clone(*spec.Audiences)
	}
	if spec.DefaultAudience != nil {
		c.DefaultAudience = *spec.DefaultAudience
	}
	if c.DefaultAudience == "" {
		c.DefaultAudience = s.issuer
	}
	if spec.RequirePhone != nil {
		c.RequirePhone = *spec.RequirePhone
	}
	if spec.IDTokenSignedResponseAlg != nil {
		c.IDTokenSignedResponseAlg = *spec.IDTokenSignedResponseAlg
	} else if creating && c.WeChatAppID != "" && slices.Contains(s.Algorithms(), keys.ES256) {
		// An app's ID tokens are signed with ES256 unless its creator asks
		// for another: an RS256-2048 signature costs about twenty times the
		// CPU of an ES256 one, and the ID token is signed on every sign-in
		// (docs/performance.md, "ID token algorithm"). OIDC's RS256 default
		// is for clients that do not say; a client created here says.
		c.IDTokenSignedResponseAlg = keys.ES256
	}
	if spec.Disabled != nil {
		c.Disabled = *spec.Disabled
	}
	if spec.RedirectURIs != nil {
		c.RedirectURIs = nilIfEmpty(*spec.RedirectURIs)
	}
	if spec.PostLogoutRedirectURIs != nil {
		c.PostLogoutRedirectURIs = nilIfEmpty(*spec.PostLogoutRedirectURIs)
	}
	if spec.SkipConsent != nil {
		c.SkipConsent = *spec.SkipConsent
	}
	if spec.BackchannelLogoutURI != nil {
		c.BackchannelLogoutURI = *spec.BackchannelLogoutURI
	}
	if spec.WeChatApps != nil {
		c.WeChatApps = nilIfEmpty(*spec.WeChatApps)
	}
	if spec.JWKS != nil {
		raw := []byte(*spec.JWKS)
		if string(raw) == "null" || len(raw) == 0 {
			raw = nil
		} else if err := provider.ValidateClientJWKS(raw); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		c.JWKS = raw
	}
	if err := s.checkAppKinds(c.WeChatAppID, c.GrantTypes, c.WeChatApps); err != nil {
		return err
	}
	if c.IDTokenSignedResponseAlg != "" && !slices.Contains(s.Algorithms(), c.IDTokenSignedResponseAlg) {
		return fmt.Errorf("%w: id_token_signed_response_alg %q is not one of keys.algorithms %v", ErrInvalid, c.IDTokenSignedResponseAlg, s.Algorithms())
	}
	if err := provider.ValidateClient(*c); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}
