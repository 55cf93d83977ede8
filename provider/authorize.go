package provider

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/storage"
)

// WeChat app kinds a client may sign people in with (docs/contract.md §1.5).
const (
	AppKindMiniProgram     = "miniprogram"
	AppKindWebsite         = "website"
	AppKindOfficialAccount = "official_account"
	AppKindMobileApp       = "mobile_app"
)

// Login methods a relying party may preselect with login_method (our
// extension of the authorization request).
const (
	LoginMethodWebsiteQR       = "website_qr"
	LoginMethodOfficialAccount = "official_account"
	LoginMethodMiniProgramScan = "miniprogram_scan"
)

// Bounds on authorization-request parameters: a request is a URL, and
// browsers and proxies cut long ones anyway.
const (
	maxAuthorizeParamLen = 2048
	maxStateLen          = 512
	maxNonceLen          = 512
)

// BrowserApp is a WeChat app a client's users may sign in with in a browser.
type BrowserApp struct {
	AppID string
	Kind  string
}

// AuthorizeRequest is a validated authorization request (OIDC Core
// §3.1.2.1). Only the fields web needs to pick a page are exported; the
// fosite request rides along for CompleteAuthorize.
type AuthorizeRequest struct {
	ClientID    string
	ClientName  string
	RedirectURI string
	State       string
	Scopes      []string
	Prompt      []string
	// MaxAge is max_age; negative when the request has none.
	MaxAge      time.Duration
	UILocales   string
	LoginMethod string
	SkipConsent bool
	// Apps are the client's browser sign-in apps, in registration order.
	Apps []BrowserApp
	// Query holds the request's parameters, to resume it after sign-in.
	Query url.Values
	// RequestedAt is when the person first made this request (kept across
	// the trip to WeChat: prompt=login and max_age are measured from it).
	RequestedAt time.Time

	ar     fosite.AuthorizeRequester
	client *fositeClient
}

// HasPrompt reports whether the request's prompt names p.
func (r *AuthorizeRequest) HasPrompt(p string) bool { return slices.Contains(r.Prompt, p) }

// App returns the client's app of the given kind, if it has one.
func (r *AuthorizeRequest) App(kind string) (BrowserApp, bool) {
	for _, a := range r.Apps {
		if a.Kind == kind {
			return a, true
		}
	}
	return BrowserApp{}, false
}

// AuthorizeError is an authorization request that failed. With RedirectURL
// set, the browser goes back to the client with the error (OIDC Core
// §3.1.2.6); without, the redirect URI could not be trusted and the person
// gets an error page (RFC 6749 §4.1.2.1: never redirect to an unverified URI).
type AuthorizeError struct {
	Code        string
	Description string
	RedirectURL string
	// ClientName is set when the client is known, for the error page.
	ClientName string
}

func (e *AuthorizeError) Error() string { return "authorize: " + e.Code + ": " + e.Description }

// Page-only error codes (never sent to a client).
const (
	ErrCodeUnknownClient  = "unknown_client"
	ErrCodeBadRedirectURI = "bad_redirect_uri"
)

// singleParams may appear at most once (RFC 6749 §3.1).
var singleParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "max_age", "ui_locales", "login_method",
	"response_mode", "id_token_hint", "login_hint", "acr_values", "display", "claims_locales"}

var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// ParseAuthorize validates an authorization request's parameters. The
// first failures (client, redirect URI) give an error page; every later
// one an error redirect to the client. requestedAt is when the request was
// first made (now, or when a resumed flow started).
func (p *Provider) ParseAuthorize(ctx context.Context, form url.Values, requestedAt time.Time) (*AuthorizeRequest, error) {
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(form[k]) > 1 {
			return nil, &AuthorizeError{Code: "invalid_request", Description: "The '" + k + "' parameter is repeated."}
		}
	}
	clientID := form.Get("client_id")
	if clientID == "" || len(clientID) > maxAuthorizeParamLen {
		return nil, &AuthorizeError{Code: "invalid_request", Description: "The 'client_id' parameter is missing or invalid."}
	}
	fc, err := p.store.GetClient(ctx, clientID)
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, &AuthorizeError{Code: ErrCodeUnknownClient, Description: "The client is not registered or is disabled."}
	}
	if err != nil {
		return nil, answer(storageError(err))
	}
	client := fc.(*fositeClient)
	req := &AuthorizeRequest{
		ClientID:    client.ID,
		ClientName:  client.displayName(),
		SkipConsent: client.SkipConsent,
		Query:       form,
		RequestedAt: requestedAt,
		MaxAge:      -1,
		client:      client,
	}
	raw := form.Get("redirect_uri")
	if raw == "" || len(raw) > maxAuthorizeParamLen || !client.redirectURIAllowed(raw) {
		return nil, &AuthorizeError{Code: ErrCodeBadRedirectURI, Description: "The 'redirect_uri' parameter is missing or is not registered for this client.", ClientName: req.ClientName}
	}
	req.RedirectURI = raw
	if len(form["state"]) == 1 && len(form.Get("state")) <= maxStateLen {
		req.State = form.Get("state") // echoed in error redirects too
	}
	fail := func(code, desc string) error {
		return &AuthorizeError{Code: code, Description: desc, RedirectURL: p.errorRedirect(raw, req.State, code, desc), ClientName: req.ClientName}
	}
	for k, v := range form {
		if len(v) > 1 && slices.Contains(singleParams, k) {
			return nil, fail("invalid_request", "The '"+k+"' parameter is repeated.")
		}
		limit := maxAuthorizeParamLen
		switch k {
		case "state":
			limit = maxStateLen
		case "nonce":
			limit = maxNonceLen
		}
		if len(v[0]) > limit {
			return nil, fail("invalid_request", "The '"+k+"' parameter is too long.")
		}
	}
	if form.Has("request") {
		return nil, fail("request_not_supported", "Request objects are not supported.")
	}
	if form.Has("request_uri") {
		return nil, fail("request_uri_not_supported", "The 'request_uri' parameter is not supported.")
	}
	if form.Has("registration") {
		return nil, fail("registration_not_supported", "The 'registration' parameter is not supported.")
	}
	if rt := form.Get("response_type"); rt != "code" {
		if rt == "" {
			return nil, fail("invalid_request", "The 'response_type' parameter is required.")
		}
		return nil, fail("unsupported_response_type", "Only response_type=code is supported.")
	}
	if m := form.Get("response_mode"); m != "" && m != "query" {
		return nil, fail("invalid_request", "Only response_mode=query is supported.")
	}
	if !client.GetGrantTypes().Has(GrantTypeAuthorizationCode) {
		return nil, fail("unauthorized_client", "The client may not use the authorization code flow.")
	}
	if len(req.State) < fosite.MinParameterEntropy {
		return nil, fail("invalid_request", "The 'state' parameter is required and must be at least "+strconv.Itoa(fosite.MinParameterEntropy)+" characters long.")
	}
	if n := form.Get("nonce"); n != "" && len(n) < fosite.MinParameterEntropy {
		return nil, fail("invalid_request", "The 'nonce' parameter must be at least "+strconv.Itoa(fosite.MinParameterEntropy)+" characters long.")
	}
	req.Scopes = fosite.RemoveEmpty(strings.Split(form.Get("scope"), " "))
	for _, s := range req.Scopes {
		if !client.GetScopes().Has(s) {
			return nil, fail("invalid_scope", "The client may not request scope '"+s+"'.")
		}
	}
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return nil, fail("invalid_request", "The 'code_challenge_method' parameter needs a 'code_challenge'.")
	case challenge == "" && client.IsPublic():
		return nil, fail("invalid_request", "Public clients must use PKCE (RFC 7636) with code_challenge_method=S256.")
	case challenge != "" && method != "S256":
		return nil, fail("invalid_request", "The only code_challenge_method supported is S256.")
	case challenge != "" && !pkceChallenge.MatchString(challenge):
		return nil, fail("invalid_request", "The 'code_challenge' parameter must be 43 to 128 characters of [A-Za-z0-9._~-].")
	}
	req.Prompt = fosite.RemoveEmpty(strings.Split(form.Get("prompt"), " "))
	for _, pr := range req.Prompt {
		if pr != "none" && pr != "login" && pr != "consent" {
			return nil, fail("invalid_request", "Unsupported prompt value '"+pr+"'.")
		}
	}
	if req.HasPrompt("none") && len(req.Prompt) > 1 {
		return nil, fail("invalid_request", "prompt=none cannot be combined with other values.")
	}
	if v := form.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return nil, fail("invalid_request", "The 'max_age' parameter must be a non-negative integer.")
		}
		req.MaxAge = time.Duration(n) * time.Second
	}
	req.UILocales = form.Get("ui_locales")
	if m := form.Get("login_method"); m == LoginMethodWebsiteQR || m == LoginMethodOfficialAccount || m == LoginMethodMiniProgramScan {
		req.LoginMethod = m
	}
	for _, id := range client.WeChatApps {
		if kind, ok := p.appKinds[id]; ok {
			req.Apps = append(req.Apps, BrowserApp{AppID: id, Kind: kind})
		}
	}

	// fosite parses the request again into its own type, for its handlers.
	hr := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/oauth2/authorize", RawQuery: form.Encode()}, Header: http.Header{}}
	ar, err := p.oauth.NewAuthorizeRequest(ctx, hr)
	if err != nil {
		e := fosite.ErrorToRFC6749Error(err)
		return nil, fail(e.ErrorField, e.GetDescription())
	}
	// The authorization starts the token chain of its code (newRequestID).
	ar.SetID(newRequestID())
	req.ar = ar
	return req, nil
}

// redirectURIAllowed applies docs/contract.md §1.5: an exact match with a
// registered URI; for public clients, a loopback URI that differs only in
// port (RFC 8252 §7.3).
func (c *fositeClient) redirectURIAllowed(raw string) bool {
	if slices.Contains(c.RedirectURIs, raw) {
		return true
	}
	if !c.IsPublic() {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.RawFragment != "" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return false
	}
	for _, reg := range c.RedirectURIs {
		r, err := url.Parse(reg)
		if err == nil && r.Scheme == "http" && r.Hostname() == u.Hostname() && r.Path == u.Path && r.RawQuery == u.RawQuery && r.User == nil {
			return true
		}
	}
	return false
}

// displayName is the client's name for pages: its name, else its ID.
func (c *fositeClient) displayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// errorRedirect builds an error response to the client's redirect URI (OIDC
// Core §3.1.2.6) with RFC 9207's iss.
func (p *Provider) errorRedirect(redirectURI, state, code, desc string) string {
	params := url.Values{"error": {code}, "iss": {p.issuer}}
	if desc != "" {
		params.Set("error_description", desc)
	}
	if state != "" {
		params.Set("state", state)
	}
	return addQuery(redirectURI, params)
}

// ErrorRedirect is the URL that sends the person back to the client with
// an error: access_denied, login_required, consent_required.
func (p *Provider) ErrorRedirect(r *AuthorizeRequest, code, desc string) string {
	return p.errorRedirect(r.RedirectURI, r.State, code, desc)
}

func addQuery(base string, params url.Values) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Login is a signed-in browser session as the authorization endpoint sees it.
type Login struct {
	// SessionID is OIDC's sid: it names the login session to clients
	// (back-channel logout). It is the storage ID, a hash of the cookie.
	SessionID string
	AccountID string
	AuthTime  time.Time
	AMR       []string
	AppID     string
	// account is the account as CurrentLogin read it in this request, so
	// that CompleteAuthorize need not read it again.
	account *storage.Account
}

// CompleteAuthorize issues the authorization code for a signed-in person
// who consented to the request's scopes, and returns the URL that sends
// the browser back to the client with code, state and iss (RFC 9207).
func (p *Provider) CompleteAuthorize(ctx context.Context, r *AuthorizeRequest, login Login) (string, error) {
	acc, err := login.account, error(nil)
	if acc == nil || acc.ID != login.AccountID {
		var a storage.Account
		a, err = p.store.db.GetAccount(ctx, login.AccountID)
		acc = &a
	}
	if errors.Is(err, storage.ErrNotFound) || (err == nil && acc.Disabled) {
		return "", &AuthorizeError{Code: "account_disabled", Description: "The account is disabled.", ClientName: r.ClientName}
	}
	if err != nil {
		return "", answer(storageError(err))
	}
	sess := newSession()
	sess.setSubject(acc.ID)
	sess.ClientID = r.ClientID
	sess.IDTokenAlg = r.client.idTokenAlg()
	sess.SID = login.SessionID
	sess.AppID = login.AppID
	sess.Claims.AuthTime = login.AuthTime.UTC().Truncate(time.Second)
	sess.Claims.RequestedAt = r.RequestedAt.UTC().Truncate(time.Second)
	sess.Claims.AuthenticationMethodsReferences = append([]string(nil), login.AMR...)
	sess.Claims.Nonce = r.Query.Get("nonce")
	sess.PKCEChallenge, sess.PKCEMethod = r.Query.Get("code_challenge"), r.Query.Get("code_challenge_method")
	var ident storage.WeChatIdentity
	if slices.Contains(r.Scopes, ScopeWeChat) { // the only scope that shows the identity
		if _, ident, err = p.store.db.GetAccountIdentity(ctx, acc.ID, login.AppID); err != nil {
			return "", answer(storageError(err))
		}
	}
	sess.Claims.Extra = identityClaims(fosite.Arguments(r.Scopes), r.ClientID, *acc, phoneFor(p.accounts, *acc), ident)
	if login.SessionID != "" {
		sess.Claims.Extra["sid"] = login.SessionID
	}
	for _, s := range r.Scopes {
		r.ar.GrantScope(s)
	}
	for _, a := range r.ar.GetRequestedAudience() {
		r.ar.GrantAudience(a)
	}
	if len(r.ar.GetRequestedAudience()) == 0 && r.client.DefaultAudience != "" {
		r.ar.GrantAudience(r.client.DefaultAudience)
	}
	resp, err := p.oauth.NewAuthorizeResponse(ctx, r.ar, sess)
	if err != nil {
		e := fosite.ErrorToRFC6749Error(err)
		if e.CodeField >= 500 {
			return "", answer(err)
		}
		return "", &AuthorizeError{Code: e.ErrorField, Description: e.GetDescription(), RedirectURL: p.errorRedirect(r.RedirectURI, r.State, e.ErrorField, e.GetDescription()), ClientName: r.ClientName}
	}
	params := resp.GetParameters()
	params.Set("iss", p.issuer)
	return addQuery(r.RedirectURI, params), nil
}
