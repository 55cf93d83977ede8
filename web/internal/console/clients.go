package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/provider"
)

func init() { addWords(clientWords) }

func (c *Console) clientRoutes(r chi.Router) {
	r.Get("/clients", c.clientsPage)
	r.Get("/clients/new", c.newClientForm)
	r.Post("/clients", c.createClient)
	r.Get("/clients/{id}", c.clientPage)
	r.Post("/clients/{id}", c.updateClient)
	r.Post("/clients/{id}/secret", c.rotateClientSecret)
	r.Post("/clients/{id}/disable", c.setClientDisabled)
	r.Post("/clients/{id}/revoke-tokens", c.revokeClientTokens)
	r.Post("/clients/{id}/delete", c.deleteClient)
}

// clientsPageSize is the console's page of clients.
const clientsPageSize = 50

// maxClientIDParam bounds the id prefix and page marker taken from a URL
// (client IDs are at most 255 characters).
const maxClientIDParam = 255

// Kinds of client the create form offers; each picks sensible defaults.
const (
	kindApp     = "app"     // public client bound to a mini-program or mobile app
	kindWeb     = "web"     // confidential browser sign-in client
	kindService = "service" // client_credentials
)

var clientKinds = []string{kindApp, kindWeb, kindService}

// clientPath is the console path of client id. An ID that is also a fixed
// route ("new") is escaped so it still reaches the client's page.
func clientPath(id string) string {
	if id == "new" {
		return "/clients/%6Eew"
	}
	return "/clients/" + pathEscape(id)
}

// clientIDParam reads the {id} of the request path. chi matches the raw
// (escaped) path when it differs from the decoded one, as it does for an
// ID holding "/" or "%", so the segment is unescaped then.
func clientIDParam(r *http.Request) string {
	id := chi.URLParam(r, "id")
	if r.URL.RawPath != "" {
		if u, err := url.PathUnescape(id); err == nil {
			return u
		}
	}
	return id
}

// secretKey names a client's new secret in the session's once map.
func secretKey(id string) string { return "client-secret:" + id }

// clientRow is one line of the client list.
type clientRow struct {
	admin.ClientView
	Path   string
	Grants []string
	Apps   []string
}

type clientsData struct {
	Rows      []clientRow
	Query     string
	After     string
	NextURL   string
	FirstURL  string
	NewURL    string
	Filtering bool
}

func (c *Console) clientsPage(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	after := r.URL.Query().Get("after")
	if len(q) > maxClientIDParam || len(after) > maxClientIDParam {
		c.errorPage(w, r, sessionOf(r), http.StatusBadRequest, "clients.bad_query")
		return
	}
	page, err := c.svc.ListClientsPage(r.Context(), q, after, clientsPageSize)
	if err != nil {
		c.fail(w, r, "/keys", err)
		return
	}
	v := c.newView(r, sessionOf(r), "clients", "clients.title")
	d := clientsData{Query: q, After: after, Filtering: q != "", NewURL: Prefix + "/clients/new"}
	for _, cv := range page.Clients {
		d.Rows = append(d.Rows, clientRow{ClientView: cv, Path: Prefix + clientPath(cv.ID), Grants: grantLabels(v, cv.GrantTypes), Apps: boundApps(cv)})
	}
	if page.NextAfter != "" {
		d.NextURL = Prefix + "/clients?" + pageQuery(q, page.NextAfter)
	}
	if after != "" {
		d.FirstURL = Prefix + "/clients?" + pageQuery(q, "")
	}
	v.Data = d
	c.show(w, r, http.StatusOK, "clients", v)
}

func pageQuery(q, after string) string {
	vals := url.Values{}
	if q != "" {
		vals.Set("q", q)
	}
	if after != "" {
		vals.Set("after", after)
	}
	return vals.Encode()
}

// boundApps lists the WeChat apps of a client: the one it is bound to and
// those people sign in to it with.
func boundApps(cv admin.ClientView) []string {
	var out []string
	if cv.WeChatAppID != "" {
		out = append(out, cv.WeChatAppID)
	}
	for _, a := range cv.WeChatApps {
		if a != cv.WeChatAppID {
			out = append(out, a)
		}
	}
	return out
}

// grantTypes are the grants a client may be registered for, in the order
// the forms show them.
var grantTypes = []string{provider.GrantTypeWeChat, provider.GrantTypeWeChatApp, provider.GrantTypeAuthorizationCode,
	provider.GrantTypeRefreshToken, provider.GrantTypeClientCredentials}

func grantLabel(v view, g string) string {
	switch g {
	case provider.GrantTypeWeChat:
		return v.T("clients.grant.wechat")
	case provider.GrantTypeWeChatApp:
		return v.T("clients.grant.wechat_app")
	case provider.GrantTypeAuthorizationCode:
		return v.T("clients.grant.code")
	case provider.GrantTypeRefreshToken:
		return v.T("clients.grant.refresh")
	case provider.GrantTypeClientCredentials:
		return v.T("clients.grant.client_credentials")
	}
	return g
}

func grantLabels(v view, gs []string) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, grantLabel(v, g))
	}
	return out
}

var authMethods = []string{provider.AuthMethodClientSecretBasic, provider.AuthMethodClientSecretPost,
	provider.AuthMethodPrivateKeyJWT, provider.AuthMethodNone}

// clientForm is what the create and edit forms hold, as typed.
type clientForm struct {
	Kind            string
	ID              string
	Name            string
	AppID           string
	AuthMethod      string
	Grants          []string
	Scopes          string
	RedirectURIs    string
	PostLogoutURIs  string
	BackchannelURI  string
	SkipConsent     bool
	RequirePhone    bool
	WeChatApps      []string
	IDTokenAlg      string
	Audiences       string
	DefaultAudience string
	JWKS            string
}

// kindDefaults is the create form of a kind before anything is typed: the
// defaults admin.CreateClient and the CLI use for such a client.
func kindDefaults(kind string) clientForm {
	switch kind {
	case kindApp:
		return clientForm{Kind: kind, AuthMethod: provider.AuthMethodNone,
			Scopes: strings.Join([]string{provider.ScopeOpenID, provider.ScopePhone, provider.ScopeOfflineAccess}, " ")}
	case kindWeb:
		return clientForm{Kind: kind, AuthMethod: provider.AuthMethodClientSecretBasic,
			Grants: []string{provider.GrantTypeAuthorizationCode, provider.GrantTypeRefreshToken},
			Scopes: strings.Join([]string{provider.ScopeOpenID, provider.ScopePhone, provider.ScopeOfflineAccess}, " ")}
	default:
		return clientForm{Kind: kindService, AuthMethod: provider.AuthMethodClientSecretBasic,
			Grants: []string{provider.GrantTypeClientCredentials}}
	}
}

// formFromView fills the edit form with a client as stored.
func formFromView(cv admin.ClientView) clientForm {
	return clientForm{
		ID: cv.ID, Name: cv.Name, AppID: cv.WeChatAppID, AuthMethod: cv.TokenEndpointAuthMethod,
		Grants: cv.GrantTypes, Scopes: strings.Join(cv.Scopes, " "),
		RedirectURIs: strings.Join(cv.RedirectURIs, "\n"), PostLogoutURIs: strings.Join(cv.PostLogoutRedirectURIs, "\n"),
		BackchannelURI: cv.BackchannelLogoutURI, SkipConsent: cv.SkipConsent, RequirePhone: cv.RequirePhone,
		WeChatApps: cv.WeChatApps, IDTokenAlg: cv.IDTokenSignedResponseAlg,
		Audiences: strings.Join(cv.Audiences, " "), DefaultAudience: cv.DefaultAudience,
	}
}

// formFromPost reads a submitted form.
func formFromPost(f url.Values) clientForm {
	return clientForm{
		Kind: f.Get("kind"), ID: strings.TrimSpace(f.Get("id")), Name: strings.TrimSpace(f.Get("name")),
		AppID: f.Get("appid"), AuthMethod: f.Get("auth_method"), Grants: f["grant"],
		Scopes: f.Get("scopes"), RedirectURIs: f.Get("redirect_uris"), PostLogoutURIs: f.Get("post_logout_redirect_uris"),
		BackchannelURI: strings.TrimSpace(f.Get("backchannel_logout_uri")), SkipConsent: f.Get("skip_consent") == "on",
		RequirePhone: f.Get("require_phone") == "on", WeChatApps: f["wechat_app"], IDTokenAlg: f.Get("id_token_alg"),
		Audiences: f.Get("audiences"), DefaultAudience: strings.TrimSpace(f.Get("default_audience")),
		JWKS: strings.TrimSpace(f.Get("jwks")),
	}
}

// words splits a space- or comma-separated field.
func fieldWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\r' || r == '\t' })
}

// lines splits a one-per-line field, dropping blank lines. URIs may hold
// commas, so only line breaks separate them.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// createSpec turns the create form into a ClientSpec. Fields that do not
// apply to the form's kind are left out, so admin.CreateClient decides
// their defaults (an app client's grant follows its app's kind).
func (f clientForm) createSpec() admin.ClientSpec {
	var s admin.ClientSpec
	if f.ID != "" {
		s.ID = &f.ID
	}
	s.Name = &f.Name
	scopes := fieldWords(f.Scopes)
	s.Scopes = &scopes
	s.RequirePhone = &f.RequirePhone
	if f.IDTokenAlg != "" {
		s.IDTokenSignedResponseAlg = &f.IDTokenAlg
	}
	switch f.Kind {
	case kindApp:
		s.WeChatAppID = &f.AppID
	case kindWeb:
		s.TokenEndpointAuthMethod = &f.AuthMethod
		grants := slices.Clone(f.Grants)
		s.GrantTypes = &grants
		redirect, postLogout, apps := lines(f.RedirectURIs), lines(f.PostLogoutURIs), slices.Clone(f.WeChatApps)
		s.RedirectURIs, s.PostLogoutRedirectURIs, s.WeChatApps = &redirect, &postLogout, &apps
		s.SkipConsent = &f.SkipConsent
		if f.BackchannelURI != "" {
			s.BackchannelLogoutURI = &f.BackchannelURI
		}
	default:
		s.TokenEndpointAuthMethod = &f.AuthMethod
		grants := []string{provider.GrantTypeClientCredentials}
		s.GrantTypes = &grants
	}
	f.advanced(&s)
	return s
}

// advanced adds the fields of the form's "advanced" part.
func (f clientForm) advanced(s *admin.ClientSpec) {
	if aud := fieldWords(f.Audiences); len(aud) > 0 || s.Audiences != nil {
		s.Audiences = &aud
	}
	if f.DefaultAudience != "" {
		s.DefaultAudience = &f.DefaultAudience
	}
	if f.JWKS != "" {
		raw := json.RawMessage(f.JWKS)
		s.JWKS = &raw
	}
}

// updateSpec turns the edit form into a ClientSpec: every field it shows is
// written as shown. The ID token algorithm is sent only when changed, so
// a client naming none keeps naming none (OIDC's default).
func (f clientForm) updateSpec(cur admin.ClientView) admin.ClientSpec {
	grants, scopes := slices.Clone(f.Grants), fieldWords(f.Scopes)
	redirect, postLogout, apps := lines(f.RedirectURIs), lines(f.PostLogoutURIs), slices.Clone(f.WeChatApps)
	if grants == nil {
		grants = []string{}
	}
	if apps == nil {
		apps = []string{}
	}
	s := admin.ClientSpec{
		Name: &f.Name, GrantTypes: &grants, Scopes: &scopes,
		RedirectURIs: &redirect, PostLogoutRedirectURIs: &postLogout, WeChatApps: &apps,
		SkipConsent: &f.SkipConsent, RequirePhone: &f.RequirePhone, BackchannelLogoutURI: &f.BackchannelURI,
	}
	if f.AuthMethod != "" && f.AuthMethod != cur.TokenEndpointAuthMethod {
		s.TokenEndpointAuthMethod = &f.AuthMethod
	}
	if f.IDTokenAlg != "" && f.IDTokenAlg != cur.IDTokenSignedResponseAlg {
		s.IDTokenSignedResponseAlg = &f.IDTokenAlg
	}
	aud := fieldWords(f.Audiences)
	s.Audiences = &aud
	f.advanced(&s)
	return s
}

// option is one choice of a select, a radio group or a checkbox list.
type option struct {
	Value, Label, Hint string
	On                 bool
}

type clientFormData struct {
	Creating    bool
	Action      string
	Form        clientForm
	Error       string
	KindTabs    []option // Value: the URL of the kind's form
	BindApps    []option
	BrowserApps []option
	Grants      []option
	AuthMethods []option
	Algs        []option
	// The create form's kind.
	IsApp, IsWeb, IsService bool
}

// formData builds the options of the form f.
func (c *Console) formData(v view, f clientForm, creating bool) clientFormData {
	d := clientFormData{Creating: creating, Form: f, IsApp: f.Kind == kindApp, IsWeb: f.Kind == kindWeb, IsService: f.Kind == kindService}
	if creating {
		d.Action = Prefix + "/clients"
		for _, k := range clientKinds {
			d.KindTabs = append(d.KindTabs, option{Value: Prefix + "/clients/new?kind=" + k, Label: v.T("clients.kind." + k), Hint: v.T("clients.kind." + k + ".hint"), On: k == f.Kind})
		}
	} else {
		d.Action = Prefix + clientPath(f.ID)
	}
	for _, app := range c.svc.WeChatApps() {
		label := app.AppID + " · " + v.T("clients.app_kind."+app.Kind)
		if app.Kind == config.WeChatKindMiniProgram || app.Kind == config.WeChatKindMobileApp {
			d.BindApps = append(d.BindApps, option{Value: app.AppID, Label: label, On: app.AppID == f.AppID})
		}
		if app.Browser || slices.Contains(f.WeChatApps, app.AppID) {
			d.BrowserApps = append(d.BrowserApps, option{Value: app.AppID, Label: label, On: slices.Contains(f.WeChatApps, app.AppID)})
		}
	}
	for _, g := range grantTypes {
		appGrant := g == provider.GrantTypeWeChat || g == provider.GrantTypeWeChatApp
		if appGrant && f.AppID == "" && !slices.Contains(f.Grants, g) {
			continue // a grant of an app's login codes needs a bound app
		}
		d.Grants = append(d.Grants, option{Value: g, Label: grantLabel(v, g), On: slices.Contains(f.Grants, g)})
	}
	for _, m := range authMethods {
		d.AuthMethods = append(d.AuthMethods, option{Value: m, Label: m + " — " + v.T("clients.auth."+m), On: m == f.AuthMethod})
	}
	if creating {
		d.Algs = append(d.Algs, option{Value: "", Label: v.T("clients.alg.default"), On: f.IDTokenAlg == ""})
	}
	algs := c.svc.Algorithms()
	if f.IDTokenAlg != "" && !slices.Contains(algs, f.IDTokenAlg) {
		algs = append([]string{f.IDTokenAlg}, algs...) // the client's, even if no longer configured
	}
	for _, a := range algs {
		d.Algs = append(d.Algs, option{Value: a, Label: a, On: a == f.IDTokenAlg})
	}
	return d
}

func (c *Console) newClientForm(w http.ResponseWriter, r *http.Request) {
	kind := r.URL.Query().Get("kind")
	if !slices.Contains(clientKinds, kind) {
		kind = kindWeb
		for _, app := range c.svc.WeChatApps() {
			if app.Kind == config.WeChatKindMiniProgram || app.Kind == config.WeChatKindMobileApp {
				kind = kindApp
				break
			}
		}
	}
	c.showClientForm(w, r, http.StatusOK, kindDefaults(kind), true, "")
}

func (c *Console) showClientForm(w http.ResponseWriter, r *http.Request, status int, f clientForm, creating bool, errText string) {
	v := c.newView(r, sessionOf(r), "clients", "clients.new.title")
	d := c.formData(v, f, creating)
	d.Error = errText
	v.Data = clientPageData{Form: d}
	c.show(w, r, status, "client", v)
}

// inputError reports whether err is the admin's mistake, to be shown on
// the form with what they typed.
func inputError(err error) bool {
	return errors.Is(err, admin.ErrInvalid) || errors.Is(err, admin.ErrConflict)
}

func (c *Console) createClient(w http.ResponseWriter, r *http.Request) {
	f := formFromPost(r.PostForm)
	if !slices.Contains(clientKinds, f.Kind) {
		f.Kind = kindService
	}
	cv, err := c.svc.CreateClient(r.Context(), f.createSpec())
	if inputError(err) {
		c.showClientForm(w, r, http.StatusBadRequest, f, true, text(locale(r), "clients.not_saved", err.Error()))
		return
	}
	if err != nil {
		c.fail(w, r, "/clients/new?kind="+f.Kind, err)
		return
	}
	if cv.ClientSecret != "" {
		sessionOf(r).keepOnce(secretKey(cv.ID), cv.ClientSecret)
	}
	c.done(w, r, clientPath(cv.ID), text(locale(r), "clients.created", cv.ID))
}

// clientPageData is the client page: a client's facts, its edit form and
// its dangerous actions, or the create form alone.
type clientPageData struct {
	Client      admin.ClientView
	Secret      string
	Form        clientFormData
	Grants      []string
	Apps        []string
	Path        string
	UsesSecret  bool
	Consequence struct{ Disable, Enable, Revoke, Delete []string }
}

func (c *Console) clientPage(w http.ResponseWriter, r *http.Request) {
	id := clientIDParam(r)
	cv, err := c.svc.GetClient(r.Context(), id)
	if errors.Is(err, admin.ErrNotFound) {
		c.errorPage(w, r, sessionOf(r), http.StatusNotFound, "clients.not_found")
		return
	}
	if err != nil {
		c.fail(w, r, "/clients", err)
		return
	}
	c.showClient(w, r, http.StatusOK, cv, formFromView(cv), "")
}

func (c *Console) showClient(w http.ResponseWriter, r *http.Request, status int, cv admin.ClientView, f clientForm, errText string) {
	s := sessionOf(r)
	v := c.newView(r, s, "clients", "clients.title")
	v.Title = v.T("clients.client_title", cv.ID)
	d := clientPageData{Client: cv, Grants: grantLabels(v, cv.GrantTypes), Apps: boundApps(cv), Path: Prefix + clientPath(cv.ID),
		UsesSecret: cv.TokenEndpointAuthMethod == provider.AuthMethodClientSecretBasic || cv.TokenEndpointAuthMethod == provider.AuthMethodClientSecretPost}
	if status == http.StatusOK {
		// Taken only by the page that shows it: a reload no longer has it.
		d.Secret, _ = s.takeOnce(secretKey(cv.ID))
	}
	d.Form = c.formData(v, f, false)
	d.Form.Error = errText
	d.Consequence.Disable = []string{v.T("clients.disable.what"), v.T("clients.disable.jwt"), v.T("clients.disable.back")}
	d.Consequence.Enable = []string{v.T("clients.enable.what")}
	d.Consequence.Revoke = []string{v.T("clients.revoke.what")}
	d.Consequence.Delete = []string{v.T("clients.delete.what"), v.T("clients.delete.tokens"), v.T("clients.delete.again")}
	v.Data = d
	c.show(w, r, status, "client", v)
}

func (c *Console) updateClient(w http.ResponseWriter, r *http.Request) {
	id := clientIDParam(r)
	cur, err := c.svc.GetClient(r.Context(), id)
	if err != nil {
		c.failClient(w, r, id, err)
		return
	}
	f := formFromPost(r.PostForm)
	f.ID = id
	cv, err := c.svc.UpdateClient(r.Context(), id, f.updateSpec(cur))
	if inputError(err) {
		c.showClient(w, r, http.StatusBadRequest, cur, f, text(locale(r), "clients.not_saved", err.Error()))
		return
	}
	if err != nil {
		c.failClient(w, r, id, err)
		return
	}
	msg := text(locale(r), "clients.updated", id)
	if cv.ClientSecret != "" {
		sessionOf(r).keepOnce(secretKey(id), cv.ClientSecret)
		msg += text(locale(r), "clients.updated_secret")
	}
	c.done(w, r, clientPath(id), msg)
}

func (c *Console) rotateClientSecret(w http.ResponseWriter, r *http.Request) {
	id := clientIDParam(r)
	cv, err := c.svc.UpdateClient(r.Context(), id, admin.ClientSpec{RotateSecret: true})
	if err != nil {
		c.failClient(w, r, id, err)
		return
	}
	sessionOf(r).keepOnce(secretKey(id), cv.ClientSecret)
	c.done(w, r, clientPath(id), text(locale(r), "clients.rotated", id))
}

func (c *Console) setClientDisabled(w http.ResponseWriter, r *http.Request) {
	id := clientIDParam(r)
	disable := r.PostForm.Get("disabled") == "true"
	if disable && !confirmed(w, r, id, clientPath(id)) {
		return
	}
	if _, err := c.svc.UpdateClient(r.Context(), id, admin.ClientSpec{Disabled: &disable}); err != nil {
		c.failClient(w, r, id, err)
		return
	}
	key := "clients.enabled"
	if disable {
		key = "clients.disabled"
	}
	c.done(w, r, clientPath(id), text(locale(r), key, id))
}

func (c *Console) revokeClientTokens(w http.ResponseWriter, r *http.Request) {
	id := clientIDParam(r)
	if !confirmed(w, r, id, clientPath(id)) {
		return
	}
	n, err := c.svc.RevokeClientTokens(r.Context(), id)
	if err != nil {
		c.failClient(w, r, id, err)
		return
	}
	c.done(w, r, clientPath(id), text(locale(r), "clients.revoked", n, id))
}

func (c *Console) deleteClient(w http.ResponseWriter, r *http.Request) {
	id := clientIDParam(r)
	if !confirmed(w, r, id, clientPath(id)) {
		return
	}
	if err := c.svc.DeleteClient(r.Context(), id); err != nil {
		c.failClient(w, r, id, err)
		return
	}
	c.done(w, r, "/clients", text(locale(r), "clients.deleted", id))
}

// failClient answers a failed action on client id: back to its page, or to
// the list when it is gone.
func (c *Console) failClient(w http.ResponseWriter, r *http.Request, id string, err error) {
	back := clientPath(id)
	if errors.Is(err, admin.ErrNotFound) {
		back = "/clients"
	}
	c.fail(w, r, back, err)
}
