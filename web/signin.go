package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/web/internal/pages"
	"github.com/wxoidc/wxoidc/wechat"
)

// Browser sign-in paths (docs/contract.md §1.5).
const (
	PathAuthorize      = "/oauth2/authorize"
	PathLoginStart     = "/oauth2/login"
	PathWeChatCallback = "/oauth2/wechat/callback"
	PathConsent        = "/oauth2/consent"
	PathLogout         = "/oauth2/logout"
)

// Cookies: the login session, and the browser-binding secret that ties a
// trip to WeChat to the browser that started it (login CSRF).
const (
	cookieSession = "wxoidc_session"
	cookieBrowser = "wxoidc_browser"
)

// Form fields our own forms add to an authorization request.
const (
	fieldCSRF     = "csrf"
	fieldDecision = "decision"
)

// maxBrowserParams bounds the number of parameters on browser endpoints.
const maxBrowserParams = 40

// SignIn is what the browser sign-in endpoints need from the provider;
// *provider.Provider implements it.
type SignIn interface {
	ParseAuthorize(ctx context.Context, form url.Values, requestedAt time.Time) (*provider.AuthorizeRequest, error)
	ErrorRedirect(r *provider.AuthorizeRequest, code, desc string) string
	CompleteAuthorize(ctx context.Context, r *provider.AuthorizeRequest, login provider.Login) (string, error)
	CurrentLogin(ctx context.Context, cookie string) (provider.Login, error)
	StartLogin(ctx context.Context, accountID, appID string) (string, provider.Login, error)
	EndLogin(ctx context.Context, cookie string) (provider.Login, []string, error)
	NeedsConsent(ctx context.Context, r *provider.AuthorizeRequest, login provider.Login) (bool, error)
	RememberConsent(ctx context.Context, r *provider.AuthorizeRequest, login provider.Login) error
	LinkLogin(ctx context.Context, r *provider.AuthorizeRequest, login provider.Login) error
	ConsentToken(r *provider.AuthorizeRequest, login provider.Login) string
	CheckConsentToken(tok string, r *provider.AuthorizeRequest, login provider.Login) bool
	StartWeChat(ctx context.Context, r *provider.AuthorizeRequest, app provider.BrowserApp, scope, browserSecret, lang string) (string, error)
	ResumeWeChat(ctx context.Context, state, browserSecret string) (*provider.AuthorizeRequest, provider.BrowserApp, error)
	WeChatWebLogin(ctx context.Context, app provider.BrowserApp, code string) (string, error)
	StartScan(ctx context.Context, r *provider.AuthorizeRequest, app provider.BrowserApp, browserSecret string) (provider.ScanTicket, error)
	ScanImage(ctx context.Context, id, browserSecret string) (wechat.CodeImage, error)
	ScanStatus(ctx context.Context, id, browserSecret string, wait time.Duration) (string, error)
	WatchScan(id, seen string, wait time.Duration, watch provider.ScanWatch)
	ScanAction(ctx context.Context, id, action, accessToken string) (provider.ScanState, error)
	FinishScan(ctx context.Context, id, browserSecret string) (*provider.AuthorizeRequest, string, string, error)
	ParseLogout(ctx context.Context, form url.Values) (*provider.LogoutRequest, error)
	LogoutToken(login provider.Login) string
	CheckLogoutToken(tok string, login provider.Login) bool
}

type signin struct {
	p     SignIn
	pages *pages.Renderer
	log   interface {
		logError(r *http.Request, msg string, err error)
	}
	secure bool // Secure cookies (an https issuer)
	now    func() time.Time
}

func (s *server) mountSignIn(r chi.Router) error {
	rend, err := pages.New()
	if err != nil {
		return err
	}
	u, err := url.Parse(s.cfg.Provider.Metadata().Issuer)
	if err != nil {
		return err
	}
	si := &signin{p: s.cfg.SignIn, pages: rend, log: s, secure: u.Scheme == "https", now: time.Now}
	r.Group(func(r chi.Router) {
		// Every answer here may carry a code, a state or a cookie: none
		// may be cached (the pages set the same headers themselves).
		r.Use(noStore)
		r.Get(PathAuthorize, si.handleAuthorize)
		r.Post(PathAuthorize, si.handleAuthorize)
		r.Get(PathLoginStart, si.handleLoginStart)
		r.Get(PathWeChatCallback, si.handleCallback)
		r.Post(PathConsent, si.handleConsent)
		r.Get(PathLogout, si.handleLogout)
		r.Post(PathLogout, si.handleLogout)
		si.mountScan(r)
	})
	r.Handle(pages.AssetPrefix+"*", http.StripPrefix(strings.TrimSuffix(pages.AssetPrefix, "/"), rend.AssetHandler()))
	return nil
}

func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		next.ServeHTTP(w, r)
	})
}

func (s *server) logError(r *http.Request, msg string, err error) {
	s.log.ErrorContext(r.Context(), msg, "path", r.URL.Path, "err", err.Error())
}

// form returns the request's parameters: the query for GET, the body for
// POST (OIDC Core §3.1.2.1 allows both), bounded in number.
func browserForm(r *http.Request) (url.Values, bool) {
	if err := r.ParseForm(); err != nil {
		return nil, false
	}
	f := r.Form
	if r.Method == http.MethodPost {
		f = r.PostForm
	}
	if len(f) > maxBrowserParams {
		return nil, false
	}
	return f, true
}

func (si *signin) locale(r *http.Request, uiLocales string) pages.Locale {
	return pages.Negotiate(uiLocales, r.Header.Get("Accept-Language"))
}

func (si *signin) render(w http.ResponseWriter, r *http.Request, status int, p pages.Page) {
	if err := si.pages.Render(w, status, p); err != nil {
		si.log.logError(r, "render page", err)
	}
}

func (si *signin) errorPage(w http.ResponseWriter, r *http.Request, status int, kind pages.ErrorKind, loc pages.Locale, clientName, code string) {
	si.render(w, r, status, pages.ErrorPage{Locale: loc, Kind: kind, ClientName: clientName, Code: code})
}

// authorizeFailed answers an *provider.AuthorizeError: back to the client
// when its redirect URI is trusted, an error page otherwise.
func (si *signin) authorizeFailed(w http.ResponseWriter, r *http.Request, loc pages.Locale, err error) {
	var ae *provider.AuthorizeError
	if errors.As(err, &ae) {
		if ae.RedirectURL != "" {
			http.Redirect(w, r, ae.RedirectURL, http.StatusSeeOther)
			return
		}
		kind := pages.ErrBadRequest
		switch ae.Code {
		case provider.ErrCodeUnknownClient:
			kind = pages.ErrUnknownClient
		case provider.ErrCodeBadRedirectURI:
			kind = pages.ErrBadRedirectURI
		case "account_disabled":
			kind = pages.ErrAccountDisabled
		}
		si.errorPage(w, r, http.StatusBadRequest, kind, loc, ae.ClientName, ae.Code)
		return
	}
	e := provider.ErrorOf(err)
	if e.Status >= 500 {
		if e.Status == http.StatusServiceUnavailable {
			setRetryAfter(w.Header(), e.RetryAfter)
			si.errorPage(w, r, http.StatusServiceUnavailable, pages.ErrWeChatUnavailable, loc, "", e.Code)
			return
		}
		si.log.logError(r, "browser sign-in failed", fmt.Errorf("%s: %s", e.Code, e.Cause))
	}
	si.errorPage(w, r, http.StatusInternalServerError, pages.ErrServerError, loc, "", "server_error")
}

func (si *signin) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	loc := si.locale(r, r.URL.Query().Get("ui_locales"))
	form, ok := browserForm(r)
	if !ok {
		si.errorPage(w, r, http.StatusBadRequest, pages.ErrBadRequest, loc, "", "invalid_request")
		return
	}
	req, err := si.p.ParseAuthorize(r.Context(), form, si.now())
	if err != nil {
		si.authorizeFailed(w, r, loc, err)
		return
	}
	loc = si.locale(r, req.UILocales)
	login, err := si.p.CurrentLogin(r.Context(), cookieValue(r, cookieSession))
	switch {
	case errors.Is(err, provider.ErrNoLogin):
		si.needLogin(w, r, req, loc)
		return
	case err != nil:
		si.authorizeFailed(w, r, loc, err)
		return
	}
	if req.HasPrompt("login") || (req.MaxAge >= 0 && si.now().Sub(login.AuthTime) > req.MaxAge) {
		si.needLogin(w, r, req, loc)
		return
	}
	si.finish(w, r, req, login, loc)
}

// needLogin sends a person who must sign in to WeChat: straight to the
// official account's OAuth inside WeChat's browser, or to the website QR
// page when the client asked for it; otherwise to our login page.
func (si *signin) needLogin(w http.ResponseWriter, r *http.Request, req *provider.AuthorizeRequest, loc pages.Locale) {
	if req.HasPrompt("none") {
		http.Redirect(w, r, si.p.ErrorRedirect(req, "login_required", "The person is not signed in."), http.StatusSeeOther)
		return
	}
	inWeChat := strings.Contains(r.UserAgent(), "MicroMessenger")
	if oa, ok := req.App(provider.AppKindOfficialAccount); ok && inWeChat && (req.LoginMethod == "" || req.LoginMethod == provider.LoginMethodOfficialAccount) {
		si.goToWeChat(w, r, req, oa, provider.ScopeSNSBase, loc)
		return
	}
	if web, ok := req.App(provider.AppKindWebsite); ok && req.LoginMethod == provider.LoginMethodWebsiteQR {
		si.goToWeChat(w, r, req, web, "", loc)
		return
	}
	if mp, ok := req.App(provider.AppKindMiniProgram); ok && !inWeChat && req.LoginMethod == provider.LoginMethodMiniProgramScan {
		si.showScan(w, r, req, mp, loc)
		return
	}
	methods := si.loginMethods(r, req)
	if len(methods) == 0 {
		si.errorPage(w, r, http.StatusBadRequest, pages.ErrBadRequest, loc, req.ClientName, "no_login_method")
		return
	}
	si.render(w, r, http.StatusOK, pages.LoginPage{Locale: loc, ClientName: req.ClientName, Methods: methods, Scopes: req.Scopes})
}

// loginMethods are the ways in the client offers on this browser: scanning
// the mini-program code first (what people on a PC expect most), then
// WeChat's website QR page; inside WeChat's own browser, the official
// account (a phone cannot scan its own screen).
func (si *signin) loginMethods(r *http.Request, req *provider.AuthorizeRequest) []pages.LoginMethod {
	inWeChat := strings.Contains(r.UserAgent(), "MicroMessenger")
	var methods []pages.LoginMethod
	if _, ok := req.App(provider.AppKindMiniProgram); ok && !inWeChat {
		methods = append(methods, pages.LoginMethod{Kind: pages.MethodMiniProgramScan, URL: loginStartURL(provider.LoginMethodMiniProgramScan, req)})
	}
	if _, ok := req.App(provider.AppKindWebsite); ok {
		methods = append(methods, pages.LoginMethod{Kind: pages.MethodWebsiteQR, URL: loginStartURL(provider.LoginMethodWebsiteQR, req)})
	}
	if _, ok := req.App(provider.AppKindOfficialAccount); ok && inWeChat {
		methods = append(methods, pages.LoginMethod{Kind: pages.MethodOfficialAccount, URL: loginStartURL(provider.LoginMethodOfficialAccount, req)})
	}
	return methods
}

func loginStartURL(method string, req *provider.AuthorizeRequest) string {
	q := url.Values{}
	for k, v := range req.Query {
		q[k] = v
	}
	q.Set("method", method)
	return PathLoginStart + "?" + q.Encode()
}

// handleLoginStart is a login page's method link: it starts the chosen
// WeChat sign-in for the authorization request it carries.
func (si *signin) handleLoginStart(w http.ResponseWriter, r *http.Request) {
	loc := si.locale(r, r.URL.Query().Get("ui_locales"))
	form, ok := browserForm(r)
	if !ok {
		si.errorPage(w, r, http.StatusBadRequest, pages.ErrBadRequest, loc, "", "invalid_request")
		return
	}
	method := form.Get("method")
	form.Del("method")
	req, err := si.p.ParseAuthorize(r.Context(), form, si.now())
	if err != nil {
		si.authorizeFailed(w, r, loc, err)
		return
	}
	loc = si.locale(r, req.UILocales)
	kind, scope := "", ""
	switch method {
	case provider.LoginMethodWebsiteQR:
		kind = provider.AppKindWebsite
	case provider.LoginMethodOfficialAccount:
		kind, scope = provider.AppKindOfficialAccount, provider.ScopeSNSBase
	case provider.LoginMethodMiniProgramScan:
		kind = provider.AppKindMiniProgram
	}
	app, ok := req.App(kind)
	if !ok {
		si.errorPage(w, r, http.StatusBadRequest, pages.ErrBadRequest, loc, req.ClientName, "invalid_request")
		return
	}
	if kind == provider.AppKindMiniProgram {
		si.showScan(w, r, req, app, loc)
		return
	}
	si.goToWeChat(w, r, req, app, scope, loc)
}

// browserSecret returns the secret of the browser-binding cookie, setting a
// fresh one when the browser has none.
func (si *signin) browserSecret(w http.ResponseWriter, r *http.Request) string {
	secret := cookieValue(r, cookieBrowser)
	if secret == "" || len(secret) > 128 {
		secret = provider.BrowserSecret()
		http.SetCookie(w, &http.Cookie{Name: cookieBrowser, Value: secret, Path: "/oauth2/", MaxAge: 3600, HttpOnly: true, Secure: si.secure, SameSite: http.SameSiteLaxMode})
	}
	return secret
}

// goToWeChat records the flow, bound to this browser, and redirects to
// WeChat's page.
func (si *signin) goToWeChat(w http.ResponseWriter, r *http.Request, req *provider.AuthorizeRequest, app provider.BrowserApp, scope string, loc pages.Locale) {
	secret := si.browserSecret(w, r)
	lang := "cn"
	if loc == pages.En {
		lang = "en"
	}
	target, err := si.p.StartWeChat(r.Context(), req, app, scope, secret, lang)
	if err != nil {
		si.authorizeFailed(w, r, loc, err)
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// handleCallback is where WeChat sends the browser back with a code.
func (si *signin) handleCallback(w http.ResponseWriter, r *http.Request) {
	loc := si.locale(r, "")
	q := r.URL.Query()
	if len(q) > maxBrowserParams || len(q["state"]) > 1 || len(q["code"]) > 1 {
		si.errorPage(w, r, http.StatusBadRequest, pages.ErrBadRequest, loc, "", "invalid_request")
		return
	}
	req, app, err := si.p.ResumeWeChat(r.Context(), q.Get("state"), cookieValue(r, cookieBrowser))
	switch {
	case errors.Is(err, provider.ErrFlowNotFound):
		si.errorPage(w, r, http.StatusBadRequest, pages.ErrFlowExpired, loc, "", "invalid_request")
		return
	case errors.Is(err, provider.ErrFlowBrowser):
		si.errorPage(w, r, http.StatusBadRequest, pages.ErrBrowserMismatch, loc, "", "invalid_request")
		return
	case err != nil:
		si.authorizeFailed(w, r, loc, err)
		return
	}
	loc = si.locale(r, req.UILocales)
	code := q.Get("code")
	if code == "" {
		// WeChat sends the browser back without a code when the person
		// declines (docs/wechat.md §6.1).
		http.Redirect(w, r, si.p.ErrorRedirect(req, "access_denied", "The person declined to sign in with WeChat."), http.StatusSeeOther)
		return
	}
	accountID, err := si.p.WeChatWebLogin(r.Context(), app, code)
	switch {
	case errors.Is(err, provider.ErrNeedUserInfo):
		si.goToWeChat(w, r, req, app, provider.ScopeSNSUserInfo, loc)
		return
	case errors.Is(err, provider.ErrSnapshotUser):
		si.errorPage(w, r, http.StatusForbidden, pages.ErrSnapshotUser, loc, req.ClientName, "access_denied")
		return
	case errors.Is(err, provider.ErrAccountDisabled):
		si.errorPage(w, r, http.StatusForbidden, pages.ErrAccountDisabled, loc, req.ClientName, "access_denied")
		return
	case errors.Is(err, provider.ErrWeChatCode):
		si.render(w, r, http.StatusBadRequest, pages.ErrorPage{Locale: loc, Kind: pages.ErrFlowExpired, ClientName: req.ClientName, RetryURL: PathAuthorize + "?" + req.Query.Encode(), Code: "invalid_grant"})
		return
	case errors.Is(err, provider.ErrWeChatUnavailable):
		w.Header().Set("Retry-After", "5")
		si.render(w, r, http.StatusServiceUnavailable, pages.ErrorPage{Locale: loc, Kind: pages.ErrWeChatUnavailable, ClientName: req.ClientName, RetryURL: PathAuthorize + "?" + req.Query.Encode(), Code: "temporarily_unavailable"})
		return
	case errors.Is(err, provider.ErrWeChatFailed):
		si.errorPage(w, r, http.StatusBadGateway, pages.ErrWeChatError, loc, req.ClientName, "server_error")
		return
	case err != nil:
		si.authorizeFailed(w, r, loc, err)
		return
	}
	si.signedIn(w, r, req, accountID, app.AppID, loc)
}

// signedIn starts the login session of a person who just signed in with
// WeChat app appID, and goes on with the authorization request.
func (si *signin) signedIn(w http.ResponseWriter, r *http.Request, req *provider.AuthorizeRequest, accountID, appID string, loc pages.Locale) {
	// A sign-in replaces whatever session this browser had.
	if old := cookieValue(r, cookieSession); old != "" {
		if _, _, err := si.p.EndLogin(r.Context(), old); err != nil && !errors.Is(err, provider.ErrNoLogin) {
			si.log.logError(r, "end previous login session", err)
		}
	}
	cookie, login, err := si.p.StartLogin(r.Context(), accountID, appID)
	if err != nil {
		si.authorizeFailed(w, r, loc, err)
		return
	}
	si.setSessionCookie(w, cookie)
	si.finish(w, r, req, login, loc)
}

func (si *signin) setSessionCookie(w http.ResponseWriter, value string) {
	c := &http.Cookie{Name: cookieSession, Value: value, Path: "/", HttpOnly: true, Secure: si.secure, SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// finish continues a request for a signed-in person: consent when needed,
// then the code.
func (si *signin) finish(w http.ResponseWriter, r *http.Request, req *provider.AuthorizeRequest, login provider.Login, loc pages.Locale) {
	need, err := si.p.NeedsConsent(r.Context(), req, login)
	if err != nil {
		si.authorizeFailed(w, r, loc, err)
		return
	}
	if need {
		if req.HasPrompt("none") {
			http.Redirect(w, r, si.p.ErrorRedirect(req, "consent_required", "The person has not consented to this client."), http.StatusSeeOther)
			return
		}
		si.render(w, r, http.StatusOK, pages.ConsentPage{
			Locale:      loc,
			ClientName:  req.ClientName,
			Scopes:      req.Scopes,
			Action:      PathConsent,
			Fields:      consentFields(req, si.p.ConsentToken(req, login)),
			FormTargets: []string{req.RedirectURI},
		})
		return
	}
	si.issue(w, r, req, login, loc)
}

// consentFields carries the request through the consent form. prompt and
// max_age are dropped: the sign-in they asked for has happened, and the
// form is bound to this login session by its CSRF token.
func consentFields(req *provider.AuthorizeRequest, csrf string) []pages.Field {
	var out []pages.Field
	for k, v := range req.Query {
		if k == "prompt" || k == "max_age" || k == fieldCSRF || k == fieldDecision {
			continue
		}
		out = append(out, pages.Field{Name: k, Value: v[0]})
	}
	out = append(out, pages.Field{Name: fieldCSRF, Value: csrf})
	return out
}

func (si *signin) issue(w http.ResponseWriter, r *http.Request, req *provider.AuthorizeRequest, login provider.Login, loc pages.Locale) {
	if err := si.p.LinkLogin(r.Context(), req, login); err != nil && !errors.Is(err, provider.ErrNoLogin) {
		si.authorizeFailed(w, r, loc, err)
		return
	}
	target, err := si.p.CompleteAuthorize(r.Context(), req, login)
	if err != nil {
		si.authorizeFailed(w, r, loc, err)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// handleConsent takes the consent form's answer.
func (si *signin) handleConsent(w http.ResponseWriter, r *http.Request) {
	loc := si.locale(r, "")
	form, ok := browserForm(r)
	if !ok {
		si.errorPage(w, r, http.StatusBadRequest, pages.ErrBadRequest, loc, "", "invalid_request")
		return
	}
	csrf, decision := form.Get(fieldCSRF), form.Get(fieldDecision)
	form.Del(fieldCSRF)
	form.Del(fieldDecision)
	req, err := si.p.ParseAuthorize(r.Context(), form, si.now())
	if err != nil {
		si.authorizeFailed(w, r, loc, err)
		return
	}
	loc = si.locale(r, req.UILocales)
	retry := PathAuthorize + "?" + req.Query.Encode()
	login, err := si.p.CurrentLogin(r.Context(), cookieValue(r, cookieSession))
	if errors.Is(err, provider.ErrNoLogin) {
		si.render(w, r, http.StatusForbidden, pages.ErrorPage{Locale: loc, Kind: pages.ErrFlowExpired, ClientName: req.ClientName, RetryURL: retry, Code: "login_required"})
		return
	}
	if err != nil {
		si.authorizeFailed(w, r, loc, err)
		return
	}
	if !si.p.CheckConsentToken(csrf, req, login) {
		si.render(w, r, http.StatusForbidden, pages.ErrorPage{Locale: loc, Kind: pages.ErrFlowExpired, ClientName: req.ClientName, RetryURL: retry, Code: "invalid_request"})
		return
	}
	switch decision {
	case "allow":
	case "deny":
		http.Redirect(w, r, si.p.ErrorRedirect(req, "access_denied", "The person declined the request."), http.StatusSeeOther)
		return
	default:
		si.errorPage(w, r, http.StatusBadRequest, pages.ErrBadRequest, loc, req.ClientName, "invalid_request")
		return
	}
	if err := si.p.RememberConsent(r.Context(), req, login); err != nil {
		si.authorizeFailed(w, r, loc, err)
		return
	}
	si.issue(w, r, req, login, loc)
}

// handleLogout is OpenID Connect RP-Initiated Logout 1.0's end-session
// endpoint. A request naming the signed-in person (id_token_hint) signs
// them out at once; any other asks them to confirm, so that a third-party
// page cannot sign people out.
func (si *signin) handleLogout(w http.ResponseWriter, r *http.Request) {
	loc := si.locale(r, "")
	form, ok := browserForm(r)
	if !ok {
		si.errorPage(w, r, http.StatusBadRequest, pages.ErrBadRequest, loc, "", "invalid_request")
		return
	}
	csrf := form.Get(fieldCSRF)
	form.Del(fieldCSRF)
	lr, err := si.p.ParseLogout(r.Context(), form)
	if err != nil {
		si.authorizeFailed(w, r, loc, err)
		return
	}
	loc = si.locale(r, lr.UILocales)
	cookie := cookieValue(r, cookieSession)
	login, err := si.p.CurrentLogin(r.Context(), cookie)
	switch {
	case errors.Is(err, provider.ErrNoLogin):
		// Nobody to sign out: say so, or go back to the client.
	case err != nil:
		si.authorizeFailed(w, r, loc, err)
		return
	default:
		confirmed := lr.HintSubject != "" && lr.HintSubject == login.AccountID
		if !confirmed && r.Method == http.MethodPost && si.p.CheckLogoutToken(csrf, login) {
			confirmed = true
		}
		if !confirmed {
			var fields []pages.Field
			for k, v := range form {
				fields = append(fields, pages.Field{Name: k, Value: v[0]})
			}
			fields = append(fields, pages.Field{Name: fieldCSRF, Value: si.p.LogoutToken(login)})
			page := pages.LogoutConfirmPage{Locale: loc, ClientName: lr.ClientName, Action: PathLogout, Fields: fields}
			if lr.RedirectURL != "" {
				page.FormTargets = []string{lr.RedirectURL}
				page.ReturnURL = lr.RedirectURL
			}
			si.render(w, r, http.StatusOK, page)
			return
		}
		if _, _, err := si.p.EndLogin(r.Context(), cookie); err != nil && !errors.Is(err, provider.ErrNoLogin) {
			si.authorizeFailed(w, r, loc, err)
			return
		}
	}
	if cookie != "" {
		si.setSessionCookie(w, "")
	}
	if lr.RedirectURL != "" {
		http.Redirect(w, r, lr.RedirectURL, http.StatusSeeOther)
		return
	}
	si.render(w, r, http.StatusOK, pages.LoggedOutPage{Locale: loc, ClientName: lr.ClientName})
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}
