package console

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/web/internal/pages"
)

// Prefix is where the admin listener mounts the console.
const Prefix = "/admin/ui"

// Cookie names. Both are scoped to Prefix.
const (
	sessionCookie = "wxoidc_console"
	loginCookie   = "wxoidc_console_login" // the sign-in form's CSRF token (double submit)
	langCookie    = "wxoidc_console_lang"
)

// Defaults of Config's zero fields.
const (
	DefaultSessionIdle = 30 * time.Minute
	DefaultSessionMax  = 12 * time.Hour
	DefaultMaxSessions = 1000
)

// Config configures the console.
type Config struct {
	// Service runs every action; required.
	Service *admin.Service
	// Authenticate returns the name of the admin token tok, or "" when tok
	// is not one; required. It must compare in constant time.
	Authenticate func(tok string) string
	// Health, if set, feeds the health page.
	Health HealthSource
	// SessionIdle and SessionMax end a session unused for SessionIdle, or
	// SessionMax after sign-in.
	SessionIdle, SessionMax time.Duration
	// MaxSessions bounds the sessions held in memory.
	MaxSessions int
	Now         func() time.Time
	Logger      *slog.Logger
}

// Console serves the console's pages.
type Console struct {
	svc      *admin.Service
	auth     func(string) string
	health   HealthSource
	sessions *sessions
	pages    *renderer
	now      func() time.Time
	log      *slog.Logger
	router   chi.Router
}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.Service == nil || cfg.Authenticate == nil {
		return nil, errors.New("console: the admin service and the token check are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = DefaultSessionMax
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	r, err := newRenderer()
	if err != nil {
		return nil, err
	}
	c := &Console{
		svc: cfg.Service, auth: cfg.Authenticate, health: cfg.Health,
		sessions: newSessions(cfg.Now, cfg.SessionIdle, cfg.SessionMax, cfg.MaxSessions),
		pages:    r, now: cfg.Now, log: cfg.Logger,
	}
	c.router = c.routes()
	return c, nil
}

// ServeHTTP serves the console; mount it at Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.router.ServeHTTP(w, r) }

func (c *Console) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(pageHeaders)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, nil, http.StatusNotFound, "error.not_found")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, nil, http.StatusMethodNotAllowed, "error.not_found")
	})
	r.Get("/assets/*", c.pages.serveCSS)
	r.Get("/login", c.loginForm)
	r.Post("/login", c.login)
	r.Get("/lang", c.switchLanguage)
	r.Group(func(r chi.Router) {
		r.Use(c.requireSession)
		r.Get("/", redirectTo("/keys"))
		r.Post("/logout", c.logout)
		c.keyRoutes(r)
		c.clientRoutes(r)
		c.accountRoutes(r)
		c.auditRoutes(r)
		c.healthRoutes(r)
	})
	return r
}

// pageHeaders sets the headers of every console response: never cached,
// never framed, no third-party anything, no script.
func pageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

func redirectTo(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+path, http.StatusSeeOther)
	}
}

type sessionKey struct{}

// requireSession admits requests of a signed-in admin. A page asked for
// without one leads to the sign-in form (and back afterwards); a POST
// without the session's CSRF token, or sent by another site, is refused.
func (c *Console) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s *session
		if ck, err := r.Cookie(sessionCookie); err == nil {
			s, _ = c.sessions.get(ck.Value)
		}
		if s == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				q := url.Values{"next": {r.URL.RequestURI()}}
				if _, err := r.Cookie(sessionCookie); err == nil {
					q.Set("expired", "1")
				}
				http.Redirect(w, r, Prefix+"/login?"+q.Encode(), http.StatusSeeOther)
				return
			}
			c.errorPage(w, r, nil, http.StatusForbidden, "error.forbidden")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameSite(r) || !s.validCSRF(formValue(w, r, "csrf")) {
				c.log.WarnContext(r.Context(), "console: request refused (CSRF)", "path", r.URL.Path, "actor", admin.ConsoleActor(s.tokenName).Name)
				c.errorPage(w, r, s, http.StatusForbidden, "error.forbidden")
				return
			}
		}
		ctx := context.WithValue(r.Context(), sessionKey{}, s)
		ctx = admin.WithActor(ctx, admin.ConsoleActor(s.tokenName))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// sessionOf returns the request's session (set by requireSession).
func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	return s
}

// sameSite refuses requests a browser marks as sent by another site. Older
// browsers send no Sec-Fetch-Site; the CSRF token still protects them.
func sameSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// maxFormBytes bounds a console form (the largest is a client's JWKS).
const maxFormBytes = 256 << 10

// formValue reads a field of a bounded urlencoded body.
func formValue(w http.ResponseWriter, r *http.Request, name string) string {
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return ""
		}
	}
	return r.PostForm.Get(name)
}

// locale picks the page language: the console's language cookie, else
// Accept-Language.
func locale(r *http.Request) pages.Locale {
	pref := ""
	if ck, err := r.Cookie(langCookie); err == nil {
		pref = ck.Value
	}
	return pages.Negotiate(pref, r.Header.Get("Accept-Language"))
}

// newView starts the view of a page for request r.
func (c *Console) newView(r *http.Request, s *session, nav, titleKey string) view {
	loc := locale(r)
	v := view{Loc: loc, Now: c.now(), Nav: nav, Path: r.URL.RequestURI(), OtherLang: string(pages.ZhCN)}
	if loc == pages.ZhCN {
		v.OtherLang = string(pages.En)
	}
	v.Title = text(loc, titleKey)
	if s != nil {
		v.TokenName = s.tokenName
		v.CSRF = s.csrf
		v.Flash = s.takeFlash()
	}
	return v
}

// show renders a page, logging a failure to render.
func (c *Console) show(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	if err := c.pages.render(w, status, name, v); err != nil {
		c.log.ErrorContext(r.Context(), "console: render", "page", name, "error", err.Error())
	}
}

// errorPage renders a page that says what went wrong, in words.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, s *session, status int, key string) {
	v := c.newView(r, s, "", "error.title")
	v.Data = text(v.Loc, key)
	c.show(w, r, status, "error", v)
}

// fail answers a failed admin operation: bad input and conflicts go back to
// the page as a message, storage trouble and the unexpected get an error
// page (and the log, for the unexpected).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, back string, err error) {
	s := sessionOf(r)
	switch {
	case errors.Is(err, admin.ErrInvalid), errors.Is(err, admin.ErrConflict), errors.Is(err, admin.ErrNotFound):
		if s != nil {
			s.setFlash(true, err.Error())
		}
		http.Redirect(w, r, Prefix+back, http.StatusSeeOther)
	case errors.Is(err, admin.ErrUnavailable):
		c.errorPage(w, r, s, http.StatusServiceUnavailable, "error.unavailable")
	default:
		c.log.ErrorContext(r.Context(), "console: action failed", "path", r.URL.Path, "error", err.Error())
		c.errorPage(w, r, s, http.StatusInternalServerError, "error.internal")
	}
}

// done ends a successful action: a message for the next page, then the
// page (post/redirect/get, so a reload does not repeat the action).
func (c *Console) done(w http.ResponseWriter, r *http.Request, back, message string) {
	if s := sessionOf(r); s != nil {
		s.setFlash(false, message)
	}
	http.Redirect(w, r, Prefix+back, http.StatusSeeOther)
}

// confirmed checks the typed confirmation of a dangerous action (the form's
// "confirm" field must be want, spaces around it aside); on a mismatch it
// says so and sends the admin back to the console path back.
func confirmed(w http.ResponseWriter, r *http.Request, want, back string) bool {
	if strings.TrimSpace(r.PostForm.Get("confirm")) == want {
		return true
	}
	sessionOf(r).setFlash(true, text(locale(r), "confirm.mismatch"))
	http.Redirect(w, r, Prefix+back, http.StatusSeeOther)
	return false
}

// cookie returns a console cookie: HttpOnly, SameSite=Strict, scoped to
// the console, Secure when the admin listener is served over TLS.
func cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	}
}

type loginData struct {
	LoginCSRF string
	Next      string
	Message   string
	Error     bool
}

// loginForm shows the sign-in form. Its CSRF token is a random value in a
// cookie and in the form (double submit): there is no session yet.
func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	loc := locale(r)
	d := loginData{Next: safeNext(r.URL.Query().Get("next"))}
	switch {
	case r.URL.Query().Get("signed_out") == "1":
		d.Message = text(loc, "login.signed_out")
	case r.URL.Query().Get("expired") == "1":
		d.Message, d.Error = text(loc, "login.expired"), true
	}
	c.showLogin(w, r, http.StatusOK, d)
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	d.LoginCSRF = randomToken()
	http.SetCookie(w, cookie(r, loginCookie, d.LoginCSRF, 3600))
	v := c.newView(r, nil, "", "login.title")
	v.Data = d
	c.show(w, r, status, "login", v)
}

// login checks the pasted token and starts a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	loc := locale(r)
	tok := strings.TrimSpace(formValue(w, r, "token"))
	next := safeNext(r.PostForm.Get("next"))
	ck, err := r.Cookie(loginCookie)
	if err != nil || !sameSite(r) || !(&session{csrf: ck.Value}).validCSRF(r.PostForm.Get("login_csrf")) {
		c.showLogin(w, r, http.StatusForbidden, loginData{Next: next, Message: text(loc, "login.stale_form"), Error: true})
		return
	}
	if tok == "" {
		c.showLogin(w, r, http.StatusBadRequest, loginData{Next: next, Message: text(loc, "login.no_token"), Error: true})
		return
	}
	name := c.auth(tok)
	if name == "" {
		c.log.WarnContext(r.Context(), "console: sign-in with a wrong admin token")
		c.showLogin(w, r, http.StatusUnauthorized, loginData{Next: next, Message: text(loc, "login.bad_token"), Error: true})
		return
	}
	id, _ := c.sessions.create(name)
	http.SetCookie(w, cookie(r, loginCookie, "", -1))
	http.SetCookie(w, cookie(r, sessionCookie, id, 0))
	ctx := admin.WithActor(r.Context(), admin.ConsoleActor(name))
	_ = c.svc.RecordConsoleSignIn(ctx, true)
	if next == "" {
		next = Prefix + "/keys"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.end(ck.Value)
	}
	_ = c.svc.RecordConsoleSignIn(r.Context(), false)
	http.SetCookie(w, cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, Prefix+"/login?signed_out=1", http.StatusSeeOther)
}

// switchLanguage remembers the chosen language and goes back.
func (c *Console) switchLanguage(w http.ResponseWriter, r *http.Request) {
	to := pages.Negotiate(r.URL.Query().Get("to"), "")
	http.SetCookie(w, cookie(r, langCookie, string(to), 365*24*3600))
	next := safeNext(r.URL.Query().Get("next"))
	if next == "" {
		next = Prefix + "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext keeps a return path only when it stays inside the console (no
// open redirect: not another host, not a scheme-relative //host).
func safeNext(p string) string {
	if !strings.HasPrefix(p, Prefix+"/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return ""
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return ""
	}
	return p
}

// pathEscape escapes one path segment of a console URL.
func pathEscape(s string) string { return url.PathEscape(s) }
