// Package provider composes fosite into wxoidc's OAuth 2.0 / OpenID Connect
// provider: the WeChat mini-program grant, refresh, client credentials,
// introspection, revocation and UserInfo. It knows nothing of SQL (storage is
// an interface) nor of routing (web calls it with *http.Request values).
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/token/hmac"
	"github.com/ory/fosite/token/jwt"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
)

// Access-token formats.
const (
	FormatJWT    = "jwt"
	FormatOpaque = "opaque"
)

// Config wires a Provider.
type Config struct {
	Issuer string
	Store  Store
	Sealer Sealer
	// PhoneIndexKey keys the phone blind index (≥ 32 bytes).
	PhoneIndexKey []byte
	// HMACSecret signs opaque tokens, refresh tokens and codes (≥ 32 bytes).
	HMACSecret []byte
	// AccessTokenSigner and IDTokenSigner sign JWTs (keys.Manager's signers).
	AccessTokenSigner jwt.Signer
	IDTokenSigner     jwt.Signer
	// AccessTokenVerifier (keys.Manager), when set, lets introspection check
	// JWT access tokens itself, once, instead of through fosite's parser
	// (introspect.go). It must accept exactly the keys AccessTokenSigner's
	// Decode accepts: the published ones.
	AccessTokenVerifier TokenVerifier
	WeChat              WeChat
	// Apps holds the secret of every mini-program appid clients may be bound to.
	Apps                 map[string]wechat.App
	AccessTokenFormat    string // FormatJWT (default) or FormatOpaque
	AccessTokenLifetime  time.Duration
	IDTokenLifetime      time.Duration
	RefreshTokenLifetime time.Duration
	RefreshTokenGrace    time.Duration
	// AuthorizationCodeLifetime bounds browser sign-in codes (default 60 s).
	AuthorizationCodeLifetime time.Duration
	// DefaultAudience is the `aud` of access tokens for clients without a
	// default audience of their own (default: the issuer).
	DefaultAudience string
	SecretHasher    fosite.Hasher
	Now             func() time.Time
	Logger          *slog.Logger
	// Metrics, if set, is told about every token issued.
	Metrics TokenObserver

	// Browser sign-in (docs/contract.md §1.5). AppKinds gives the kind
	// (AppKind*) of every configured WeChat app; Apps must hold the secret
	// of every app a client may sign in with. WeChatWeb exchanges web
	// OAuth codes (nil: Config.WeChat, when it implements WeChatWeb).
	AppKinds map[string]string
	// BrowserBaseURL is WeChat's browser-facing host (open.weixin.qq.com,
	// or the emulator in dev mode).
	BrowserBaseURL string
	WeChatWeb      WeChatWeb
	// LoginLifetime and LoginIdleTimeout bound a browser login session
	// (defaults 7 days and 12 hours).
	LoginLifetime    time.Duration
	LoginIdleTimeout time.Duration
	// Backchannel tunes back-channel logout delivery (provider/backchannel.go).
	Backchannel BackchannelConfig
	// PC sign-in by scanning a mini-program code (docs/contract.md §1.6).
	// WeChatCode makes the codes (nil: Config.WeChat, when it implements
	// WeChatCode); ScanCodes says, per mini-program appid, which page they
	// open. ScanPollInterval is how often an instance with waiting browsers
	// looks for changes other instances made (default 1 s).
	WeChatCode       WeChatCode
	ScanCodes        map[string]ScanCode
	ScanPollInterval time.Duration
}

// TokenVerifier verifies a compact JWS against the published signing keys
// and returns its payload and protected header (keys.Manager.Verify).
type TokenVerifier interface {
	Verify(token string) (payload []byte, header jose.Header, err error)
}

// Provider is the OAuth 2.0 / OIDC engine.
type Provider struct {
	oauth    *fosite.Fosite
	store    *fositeStore
	accounts accountCrypto
	issuer   string
	now      func() time.Time
	log      *slog.Logger
	format   string
	metrics  TokenObserver
	verifier TokenVerifier

	apps          map[string]wechat.App
	appKinds      map[string]string
	browserBase   string
	web           WeChatWeb
	loginLifetime time.Duration
	loginIdle     time.Duration
	csrfKey       []byte
	idSigner      jwt.Signer
	backchannel   *backchannel

	codes      WeChatCode
	scanCodes  map[string]ScanCode
	scans      *scanHub
	scanImages *scanImageCache
}

// New validates cfg and composes fosite with wxoidc's handlers, in a fixed,
// tested order (rather than compose.Compose's interface{} factories).
func New(cfg Config) (*Provider, error) {
	var problems []error
	if cfg.Issuer == "" {
		problems = append(problems, errors.New("issuer is required"))
	}
	if cfg.Store == nil || cfg.Sealer == nil || cfg.AccessTokenSigner == nil || cfg.IDTokenSigner == nil || cfg.WeChat == nil || cfg.SecretHasher == nil {
		problems = append(problems, errors.New("store, sealer, both signers, wechat and secret hasher are required"))
	}
	if len(cfg.HMACSecret) < 32 {
		problems = append(problems, errors.New("hmac secret must be at least 32 bytes"))
	}
	if len(cfg.PhoneIndexKey) < 32 {
		problems = append(problems, errors.New("phone index key must be at least 32 bytes"))
	}
	if cfg.RefreshTokenGrace < 0 || cfg.RefreshTokenGrace > 5*time.Minute {
		problems = append(problems, errors.New("refresh token grace must be between 0 and 5m"))
	}
	switch cfg.AccessTokenFormat {
	case "":
		cfg.AccessTokenFormat = FormatJWT
	case FormatJWT, FormatOpaque:
	default:
		problems = append(problems, fmt.Errorf("unknown access token format %q", cfg.AccessTokenFormat))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AccessTokenLifetime <= 0 {
		cfg.AccessTokenLifetime = time.Hour
	}
	if cfg.IDTokenLifetime <= 0 {
		cfg.IDTokenLifetime = time.Hour
	}
	if cfg.AuthorizationCodeLifetime <= 0 {
		cfg.AuthorizationCodeLifetime = time.Minute // docs/contract.md §1.5
	}
	if cfg.LoginLifetime <= 0 {
		cfg.LoginLifetime = defaultLoginLifetime
	}
	if cfg.LoginIdleTimeout <= 0 {
		cfg.LoginIdleTimeout = defaultLoginIdle
	}
	if cfg.WeChatWeb == nil {
		cfg.WeChatWeb, _ = cfg.WeChat.(WeChatWeb)
	}
	if cfg.WeChatCode == nil {
		cfg.WeChatCode, _ = cfg.WeChat.(WeChatCode)
	}
	if cfg.BrowserBaseURL == "" {
		cfg.BrowserBaseURL = "https://open.weixin.qq.com"
	}
	if cfg.RefreshTokenLifetime <= 0 {
		cfg.RefreshTokenLifetime = 30 * 24 * time.Hour
	}

	fc := &fosite.Config{
		AccessTokenLifespan:      cfg.AccessTokenLifetime,
		RefreshTokenLifespan:     cfg.RefreshTokenLifetime,
		IDTokenLifespan:          cfg.IDTokenLifetime,
		AuthorizeCodeLifespan:    cfg.AuthorizationCodeLifetime,
		AccessTokenIssuer:        cfg.Issuer,
		IDTokenIssuer:            cfg.Issuer,
		TokenURL:                 cfg.Issuer + "/oauth2/token",
		ScopeStrategy:            fosite.ExactScopeStrategy,
		AudienceMatchingStrategy: fosite.ExactAudienceMatchingStrategy,
		GlobalSecret:             cfg.HMACSecret,
		JWTScopeClaimKey:         jwt.JWTScopeFieldString,
		ClientSecretsHasher:      cfg.SecretHasher,
		RefreshTokenScopes:       []string{ScopeOfflineAccess, "offline"},
		MinParameterEntropy:      fosite.MinParameterEntropy,
		TokenEntropy:             32,
		// Public clients must use PKCE, with S256 only (RFC 9700 §2.1.1).
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		AllowedPromptValues:            []string{"login", "none", "consent"},
		// The redirect URI is checked before fosite sees a request
		// (ParseAuthorize); fosite's own check would allow http on any
		// *.localhost name.
		RedirectSecureChecker: func(context.Context, *url.URL) bool { return true },
	}
	if cfg.DefaultAudience == "" {
		cfg.DefaultAudience = cfg.Issuer
	}
	store := &fositeStore{db: cfg.Store, sealer: cfg.Sealer, grace: cfg.RefreshTokenGrace, now: cfg.Now, defaultAudience: cfg.DefaultAudience}

	hmacStrategy := oauth2.NewHMACSHAStrategyUnPrefixed(&hmac.HMACStrategy{Config: fc}, fc)
	var core oauth2.CoreStrategy = hmacStrategy
	if cfg.AccessTokenFormat == FormatJWT {
		core = &oauth2.DefaultJWTStrategy{Signer: cfg.AccessTokenSigner, HMACSHAStrategy: hmacStrategy, Config: fc}
	}
	idStrategy := &openid.DefaultStrategy{Signer: cfg.IDTokenSigner, Config: fc}
	issuer := &idTokenIssuer{strategy: idStrategy, now: cfg.Now}
	accounts := accountCrypto{sealer: cfg.Sealer, phoneKey: cfg.PhoneIndexKey}
	helper := &oauth2.HandleHelper{AccessTokenStrategy: core, AccessTokenStorage: store, Config: fc}

	grant := &wechatGrant{
		HandleHelper:    helper,
		refreshStrategy: core,
		store:           store,
		accounts:        accounts,
		wechat:          cfg.WeChat,
		grantType:       GrantTypeWeChat,
		appKind:         AppKindMiniProgram,
		web:             cfg.WeChatWeb,
		apps:            cfg.Apps,
		kinds:           cfg.AppKinds,
		idTokens:        issuer,
		lifetimes:       lifetimes{access: cfg.AccessTokenLifetime, refresh: cfg.RefreshTokenLifetime, idToken: cfg.IDTokenLifetime},
		now:             cfg.Now,
		log:             cfg.Logger,
	}
	codeGrant := &oauth2.AuthorizeExplicitGrantHandler{
		AccessTokenStrategy:    core,
		RefreshTokenStrategy:   core,
		AuthorizeCodeStrategy:  hmacStrategy,
		CoreStorage:            store,
		TokenRevocationStorage: store,
		Config:                 fc,
	}
	pkceHandler := &pkce.Handler{AuthorizeCodeStrategy: hmacStrategy, Storage: store, Config: fc}
	appGrant := *grant
	appGrant.grantType, appGrant.appKind = GrantTypeWeChatApp, AppKindMobileApp
	fc.TokenEndpointHandlers = fosite.TokenEndpointHandlers{
		grant,
		&appGrant,
		onlyItsGrant{&oauth2.RefreshTokenGrantHandler{
			AccessTokenStrategy:    core,
			RefreshTokenStrategy:   core,
			TokenRevocationStorage: store,
			Config:                 fc,
		}},
		&refreshIDToken{issuer: issuer, lifespan: cfg.IDTokenLifetime},
		onlyItsGrant{&clientCredentialsGrant{&oauth2.ClientCredentialsGrantHandler{HandleHelper: helper, Config: fc}}},
		onlyItsGrant{codeGrant},
		pkceHandler,
		&codeIDToken{issuer: issuer, lifespan: cfg.IDTokenLifetime},
	}
	fc.AuthorizeEndpointHandlers = fosite.AuthorizeEndpointHandlers{
		codeGrant,
		&openid.OpenIDConnectExplicitHandler{
			OpenIDConnectRequestStorage:   store,
			OpenIDConnectRequestValidator: openid.NewOpenIDConnectRequestValidator(cfg.IDTokenSigner, fc),
			IDTokenHandleHelper:           &openid.IDTokenHandleHelper{IDTokenStrategy: idStrategy},
			Config:                        fc,
		},
		pkceHandler,
	}
	fc.TokenIntrospectionHandlers = fosite.TokenIntrospectionHandlers{
		&oauth2.CoreValidator{CoreStrategy: core, CoreStorage: store, Config: fc},
	}
	fc.RevocationHandlers = fosite.RevocationHandlers{
		&oauth2.TokenRevocationHandler{TokenRevocationStorage: store, AccessTokenStrategy: core, RefreshTokenStrategy: core},
	}
	oauth := fosite.NewOAuth2Provider(store, fc)
	fc.ClientAuthenticationStrategy = clientAuthStrategy(oauth)
	p := &Provider{
		oauth:    oauth,
		store:    store,
		accounts: accounts,
		issuer:   cfg.Issuer,
		now:      cfg.Now,
		log:      cfg.Logger,
		format:   cfg.AccessTokenFormat,
		metrics:  cfg.Metrics,
		verifier: cfg.AccessTokenVerifier,

		apps:          cfg.Apps,
		appKinds:      cfg.AppKinds,
		browserBase:   strings.TrimRight(cfg.BrowserBaseURL, "/"),
		web:           cfg.WeChatWeb,
		loginLifetime: cfg.LoginLifetime,
		loginIdle:     cfg.LoginIdleTimeout,
		csrfKey:       derivedKey(cfg.HMACSecret, "wxoidc consent csrf"),
		idSigner:      cfg.IDTokenSigner,

		codes:      cfg.WeChatCode,
		scanCodes:  cfg.ScanCodes,
		scanImages: newScanImageCache(scanImageBudget),
	}
	p.scans = newScanHub(cfg.Store.ListScanTicketsUpdatedSince, cfg.ScanPollInterval, cfg.Now, cfg.Logger)
	observer, _ := cfg.Metrics.(BackchannelObserver)
	p.backchannel = newBackchannel(cfg.Backchannel, cfg.Logger, observer)
	p.backchannel.deliver = p.deliverLogout
	return p, nil
}

// Token runs the token endpoint (RFC 6749 §3.2) for r, a parsed POST
// form: fosite's request handling, wxoidc's checks between request and
// response (account state, fresh claims, audiences), then issuance. It
// returns the JSON body of the successful response (RFC 6749 §5.1).
func (p *Provider) Token(ctx context.Context, r *http.Request) (map[string]interface{}, error) {
	if err := checkGrantType(r); err != nil {
		return nil, err
	}
	if err := checkIDTokenParams(r.PostForm); err != nil {
		return nil, err
	}
	ctx = withRequestMemo(ctx)
	req, err := p.oauth.NewAccessRequest(ctx, r, newSession())
	if err != nil {
		return nil, answer(err)
	}
	if err := p.beforeIssue(ctx, req); err != nil {
		return nil, answer(err)
	}
	resp, err := p.oauth.NewAccessResponse(ctx, req)
	if err != nil {
		// fosite's code handler answers any failure to store the tokens
		// as server_error; the token store's refusals say more.
		if errors.Is(err, errAccountInactive) || errors.Is(err, errClientGone) {
			return nil, answer(tokenStoreError(err))
		}
		if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			// Another request spent the code between this one's checks and
			// its write: a replay, answered as one (RFC 6749 §4.1.2).
			return nil, answer(p.codeReplayed(ctx, req.GetID(), err))
		}
		return nil, answer(err)
	}
	p.observeIssued(req.GetGrantTypes(), req.GetClient().GetID())
	return resp.ToMap(), nil
}

// checkGrantType answers a missing or unknown grant type before fosite
// does: fosite would call either invalid_request, while RFC 6749 §5.2 has
// unsupported_grant_type for the latter.
func checkGrantType(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return answer(fosite.ErrInvalidRequest.WithWrap(err))
	}
	gt := r.PostForm.Get("grant_type")
	if gt == "" {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The 'grant_type' parameter is required."}
	}
	if !slices.Contains(grantTypes, gt) {
		return &Error{Status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: "The grant type is not supported by this server."}
	}
	return nil
}

// authorizationOnlyParams are OIDC authorization-request parameters that
// fosite's ID-token signer acts on when a token request carries them. The
// WeChat grant refuses them: it has no authorization request they could
// refer to, prompt and max_age ask for a re-authentication it cannot
// offer, and fosite would check them only when it signs the ID token, after
// the WeChat code is spent (a junk id_token_hint answered 500 there).
var authorizationOnlyParams = []string{"id_token_hint", "prompt", "max_age"}

// checkIDTokenParams validates, before anything has a side effect, the
// token-request parameters that fosite checks only when it signs the ID
// token, at the very end: by then the WeChat grant has spent the one-use
// wx.login code and committed the account, and the refresh grant has
// rotated the refresh token, so a client could not retry with the same
// credential. A nonce must have fosite's minimum length
// (fosite.MinParameterEntropy, 8 characters).
func checkIDTokenParams(form url.Values) error {
	gt := form.Get("grant_type")
	if gt != GrantTypeWeChat && gt != GrantTypeWeChatApp && gt != GrantTypeRefreshToken {
		return nil // no ID token
	}
	if n := form.Get("nonce"); n != "" && len(n) < fosite.MinParameterEntropy {
		return answer(fosite.ErrInsufficientEntropy.WithHintf("Parameter 'nonce' is set but does not satisfy the minimum entropy of %d characters.", fosite.MinParameterEntropy))
	}
	if gt == GrantTypeWeChat || gt == GrantTypeWeChatApp {
		for _, k := range authorizationOnlyParams {
			if form.Has(k) {
				return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The '" + k + "' parameter belongs to an authorization request; the token endpoint does not accept it with this grant."}
			}
		}
	}
	return nil
}

// beforeIssue applies what fosite's stock handlers leave to the embedder.
func (p *Provider) beforeIssue(ctx context.Context, req fosite.AccessRequester) error {
	sess, ok := req.GetSession().(*session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	client, ok := req.GetClient().(*fositeClient)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected client type")
	}
	switch {
	case req.GetGrantTypes().ExactOne(GrantTypeRefreshToken):
		// Narrowed first: the fresh claims follow the narrowed scopes.
		if err := narrowRefreshScope(ctx, req); err != nil {
			return err
		}
		return p.refreshAccount(ctx, req, sess, client)
	case req.GetGrantTypes().ExactOne(GrantTypeAuthorizationCode):
		// Nothing: fosite reloads the session stored with the code before
		// it issues the tokens, so claims set now would be lost
		// (CompleteAuthorize computed them), and the token store refuses
		// a disabled or deleted account in the transaction that writes
		// the tokens (CreateTokenSessions; Token maps that to invalid_grant).
		return nil
	case req.GetGrantTypes().ExactOne(GrantTypeClientCredentials):
		// RFC 9068 §2.2: for client credentials the subject is the client.
		sess.ClientID = client.ID
		sess.setSubject(client.ID)
	}
	// Every other grant (client credentials, the WeChat grants) starts a
	// token chain of its own.
	req.SetID(newRequestID())
	return nil
}

// newRequestID names the token chain a grant or an authorization request
// starts (the ID its refresh tokens and revocation by request follow).
// fosite draws random v4 UUIDs; a time-ordered v7 UUID puts each new
// token's entry of the request index at the end of that B-tree, on the page
// the batch's other new tokens also write, instead of on a random page of
// its own: one page fewer per token in every group commit
// (docs/performance.md). Refresh and code exchange keep the ID of the chain
// or authorization they continue.
func newRequestID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// narrowRefreshScope applies a refresh request's scope parameter (RFC 6749
// §6), which fosite v0.49 ignores (ory/fosite#696). Omitted or empty, the
// new tokens have the refresh token's scopes. Otherwise every scope it names
// must be one the refresh token was granted (compared exactly: scopes are
// case-sensitive, RFC 6749 §3.3), or the request fails with invalid_scope
// before anything is rotated; the new access token and ID token then have
// only those scopes and their claims, and the new refresh token keeps the
// scopes of the one it replaces ("the refresh token scope MUST be identical
// to that of the refresh token included by the client in the request").
func narrowRefreshScope(ctx context.Context, req fosite.AccessRequester) error {
	asked := strings.Fields(req.GetRequestForm().Get("scope"))
	if len(asked) == 0 {
		return nil
	}
	// fosite's refresh handler has set the refresh token's scopes.
	granted := req.GetGrantedScopes()
	narrowed := make(fosite.Arguments, 0, len(asked))
	for _, s := range asked {
		if !slices.Contains(granted, s) {
			return fosite.ErrInvalidScope.WithHintf("The refresh token was not granted scope '%s'. A refresh may ask for the scopes originally granted or fewer.", s)
		}
		if !slices.Contains(narrowed, s) {
			narrowed = append(narrowed, s)
		}
	}
	if len(narrowed) == len(unique(granted)) {
		return nil // all of them: nothing narrows
	}
	ar, ok := req.(*fosite.AccessRequest)
	memo := requestMemoFrom(ctx)
	if !ok || memo == nil {
		return fosite.ErrServerError.WithDebugf("narrowing a refresh of %T", req)
	}
	memo.refreshScopes = &scopeGrant{requested: slices.Clone(ar.RequestedScope), granted: slices.Clone(granted)}
	ar.RequestedScope, ar.GrantedScope = narrowed, narrowed
	return nil
}

// refreshAccount refuses refresh for disabled or deleted accounts and brings
// the claims up to date (a phone verified since, a new ID-token algorithm).
func (p *Provider) refreshAccount(ctx context.Context, req fosite.AccessRequester, sess *session, client *fositeClient) error {
	sess.IDTokenAlg = client.idTokenAlg()
	if sess.GetSubject() == client.ID && len(sess.Claims.AuthenticationMethodsReferences) == 0 {
		return nil // a client's own token, no account behind it
	}
	appID := client.WeChatAppID
	if appID == "" {
		appID = sess.AppID // a browser sign-in: the app the person used
	}
	var (
		acc   storage.Account
		ident storage.WeChatIdentity
		err   error
	)
	if login, ok := memoLogin(ctx, client.ID, sess.GetSubject()); ok && client.WeChatAppID != "" {
		// Read with the refresh token, in the client's app: appID.
		acc, ident = login.Account, login.Identity
		if acc.ID == "" {
			err = storage.ErrNotFound
		}
	} else {
		acc, ident, err = p.store.db.GetAccountIdentity(ctx, sess.GetSubject(), appID)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return fosite.ErrInvalidGrant.WithHint("The account no longer exists.")
	}
	if err != nil {
		return storageError(err)
	}
	if acc.Disabled {
		return fosite.ErrInvalidGrant.WithHint("The account is disabled.")
	}
	sess.Claims.Extra = identityClaims(req.GetGrantedScopes(), client.ID, acc, phoneFor(p.accounts, acc), ident)
	if sess.SID != "" {
		sess.Claims.Extra["sid"] = sess.SID
	}
	return nil
}

// Introspect runs RFC 7662 introspection for r, a parsed POST form. RFC
// 7662 §2.1 leaves the authorization policy to us: only confidential clients
// may introspect (fosite would also accept any bearer token).
func (p *Provider) Introspect(ctx context.Context, r *http.Request) (map[string]interface{}, error) {
	client, err := p.authenticateClient(ctx, r)
	if err != nil {
		return nil, answer(err)
	}
	if client.IsPublic() {
		return nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "Only confidential clients may introspect tokens."}
	}
	token := r.PostForm.Get("token")
	if token == "" {
		return nil, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The 'token' parameter is required."}
	}
	out, err := p.introspectToken(ctx, token, r.PostForm.Get("token_type_hint"))
	if errors.Is(err, storage.ErrUnavailable) {
		return nil, ErrorOf(err)
	}
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "Introspection failed.", Cause: ErrorOf(err).Cause}
	}
	return out, nil
}

// Revoke runs RFC 7009 revocation.
func (p *Provider) Revoke(ctx context.Context, r *http.Request) error {
	return answer(p.oauth.NewRevocationRequest(ctx, r))
}

// UserInfo returns the claims of the account behind a valid access token,
// for the scopes that token was granted (OIDC Core §5.3).
func (p *Provider) UserInfo(ctx context.Context, accessToken string) (map[string]interface{}, error) {
	claims, err := p.userInfo(ctx, accessToken)
	return claims, answer(err)
}

func (p *Provider) userInfo(ctx context.Context, accessToken string) (map[string]interface{}, error) {
	if p.verifier != nil && p.format == FormatJWT && strings.Count(accessToken, ".") == 2 {
		return p.userInfoJWT(ctx, accessToken)
	}
	return p.userInfoFosite(ctx, accessToken)
}

// userInfoJWT is UserInfo for a JWT access token, checked as introspection
// checks it (liveAccessJWT): the signature verified once with go-jose v4,
// the row read without decrypting its session. It answers what
// userInfoFosite answers for every token we issue (the same claims, or an
// error of the same kind; TestIntrospectJWTMatchesFosite compares them).
func (p *Provider) userInfoJWT(ctx context.Context, accessToken string) (map[string]interface{}, error) {
	t, ok, err := p.liveAccessJWT(ctx, accessToken, true)
	switch {
	case err != nil:
		return nil, err // a server error (ErrorOf), 503 when storage is unavailable
	case !ok:
		return nil, fosite.ErrRequestUnauthorized.WithHint("The access token is invalid, expired or revoked.")
	}
	scopes := fosite.Arguments(unique(t.rec.GrantedScopes))
	if !scopes.Has(ScopeOpenID) {
		return nil, errInsufficientScope.WithHint("The access token was not granted the 'openid' scope.")
	}
	person, err := p.personsToken(t.rec, t.key)
	if err != nil {
		return nil, err
	}
	if !person {
		return nil, fosite.ErrRequestUnauthorized.WithHint("The access token was not issued to a user.")
	}
	// The account and its identity in the client's app were read with the
	// row: what userClaims would read (a client without an app reads no
	// identity either way).
	if t.login.Account.ID == "" {
		return nil, errAccountGone()
	}
	return accountClaims(scopes, p.accounts, t.login.Account, t.login.Identity)
}

// userInfoFosite is UserInfo through fosite's validator: the token's row is
// read and its session decrypted and decoded; a JWT is parsed and verified
// by fosite. Opaque access tokens take it.
func (p *Provider) userInfoFosite(ctx context.Context, accessToken string) (map[string]interface{}, error) {
	tu, req, err := p.oauth.IntrospectToken(ctx, accessToken, fosite.AccessToken, newSession())
	if err != nil {
		return nil, err
	}
	// fosite's validator falls back to a refresh-token lookup whatever use
	// it is asked for; refresh tokens go only to the token endpoint (RFC
	// 6749 §10.4), so anything but an access token is an invalid token here.
	if tu != fosite.AccessToken {
		return nil, fosite.ErrRequestUnauthorized.WithHint("Only access tokens are accepted.")
	}
	if !req.GetGrantedScopes().Has(ScopeOpenID) {
		return nil, errInsufficientScope.WithHint("The access token was not granted the 'openid' scope.")
	}
	sess, ok := req.GetSession().(*session)
	if !ok {
		return nil, fosite.ErrServerError.WithDebug("unexpected session type")
	}
	// A client's own token (client_credentials) names the client as its
	// subject; it must not be read as an account id that happens to match.
	if !sess.authenticatedUser() {
		return nil, fosite.ErrRequestUnauthorized.WithHint("The access token was not issued to a user.")
	}
	appID := ""
	if c, ok := req.GetClient().(*fositeClient); ok {
		appID = c.WeChatAppID
	}
	return p.userClaims(ctx, req.GetGrantedScopes(), sess.GetSubject(), appID)
}

// userClaims are UserInfo's claims for the account subject, as the scopes
// allow, with the identity of the client's WeChat app appID.
func (p *Provider) userClaims(ctx context.Context, scopes fosite.Arguments, subject, appID string) (map[string]interface{}, error) {
	acc, ident, err := p.store.db.GetAccountIdentity(ctx, subject, appID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errAccountGone()
	}
	if err != nil {
		return nil, storageError(err)
	}
	return accountClaims(scopes, p.accounts, acc, ident)
}

// errAccountGone answers UserInfo for a token whose account was deleted.
func errAccountGone() error {
	return fosite.ErrRequestUnauthorized.WithHint("The account no longer exists.")
}

// accountClaims are UserInfo's claims of an account, refused when it is
// disabled.
func accountClaims(scopes fosite.Arguments, accounts accountCrypto, acc storage.Account, ident storage.WeChatIdentity) (map[string]interface{}, error) {
	if acc.Disabled {
		return nil, fosite.ErrRequestUnauthorized.WithHint("The account is disabled.")
	}
	claims := identityClaims(scopes, "", acc, phoneFor(accounts, acc), ident)
	claims["sub"] = acc.ID
	return claims, nil
}

// authenticateClient authenticates the client of r with fosite's rules.
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request) (*fositeClient, error) {
	if err := r.ParseForm(); err != nil {
		return nil, fosite.ErrInvalidRequest.WithWrap(err)
	}
	c, err := p.oauth.AuthenticateClient(ctx, r, r.PostForm)
	if err != nil {
		return nil, err
	}
	client, ok := c.(*fositeClient)
	if !ok {
		return nil, fosite.ErrServerError.WithDebug("unexpected client type")
	}
	return client, nil
}

// errInsufficientScope is RFC 6750 §3.1's error, which fosite lacks.
var errInsufficientScope = &fosite.RFC6749Error{
	ErrorField:       "insufficient_scope",
	DescriptionField: "The request requires higher privileges than provided by the access token.",
	CodeField:        403,
}
