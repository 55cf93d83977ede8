package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// config is what the relying party needs to know.
type config struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	Addr         string // listen address (main only)
	// BaseURL is where the browser reaches this app; the redirect URI is
	// BaseURL/callback and the post-logout redirect URI BaseURL/.
	BaseURL string
}

const (
	cookieSession = "webrp_session"
	cookieLogin   = "webrp_login"
	// loginLifetime bounds a sign-in in progress (WeChat's QR code itself
	// lives 10 minutes).
	loginLifetime = 10 * time.Minute
	// sessionLifetime bounds a signed-in session of this app.
	sessionLifetime = 8 * time.Hour
)

// server is the relying party's HTTP handler.
type server struct {
	oauth      oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string // the provider's end_session_endpoint, "" if none
	formAction string // the CSP's form-action sources
	baseURL    string
	secure     bool // cookies only over https
	logins     *store[pendingLogin]
	sessions   *store[session]
	mux        *http.ServeMux
}

// pendingLogin is a sign-in in progress: what /callback must check.
type pendingLogin struct {
	State, Nonce, Verifier string
}

// session is a signed-in person.
type session struct {
	IDToken string         // raw, for id_token_hint at logout
	Claims  map[string]any // the verified ID token's claims
}

// newServer discovers the provider and returns the relying party's handler.
func newServer(ctx context.Context, cfg config) (http.Handler, error) {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("base URL %q: want http(s)://host[:port]", cfg.BaseURL)
	}
	op, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", cfg.Issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := op.Claims(&meta); err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	baseURL := strings.TrimSuffix(base.String(), "/")
	// The logout form's answer redirects to the provider: the CSP's
	// form-action must allow its origin.
	formAction := "'self'"
	if u, err := url.Parse(meta.EndSession); err == nil && meta.EndSession != "" {
		formAction += " " + u.Scheme + "://" + u.Host
	}
	s := &server{
		oauth: oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: op.Endpoint(),
			RedirectURL: baseURL + "/callback",
			Scopes:      []string{oidc.ScopeOpenID, "phone", "wechat"},
		},
		verifier:   op.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
		endSession: meta.EndSession,
		formAction: formAction,
		baseURL:    baseURL,
		secure:     base.Scheme == "https",
		logins:     newStore[pendingLogin](loginLifetime, time.Now),
		sessions:   newStore[session](sessionLifetime, time.Now),
		mux:        http.NewServeMux(),
	}
	s.mux.HandleFunc("GET /{$}", s.handleHome)
	s.mux.HandleFunc("GET /login", s.handleLogin)
	s.mux.HandleFunc("GET /callback", s.handleCallback)
	s.mux.HandleFunc("POST /logout", s.handleLogout)
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action "+s.formAction+"; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}

func (s *server) handleHome(w http.ResponseWriter, r *http.Request) {
	sess, _ := s.sessions.get(cookieOf(r, cookieSession))
	render(w, http.StatusOK, homePage{Claims: claimRows(sess.Claims), SignedIn: sess.Claims != nil})
}

// handleLogin starts the authorization code flow with PKCE (S256), a state
// and a nonce, all kept server-side under a short-lived cookie.
func (s *server) handleLogin(w http.ResponseWriter, r *http.Request) {
	p := pendingLogin{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier()}
	id := s.logins.put(p)
	s.setCookie(w, cookieLogin, id, loginLifetime)
	http.Redirect(w, r, s.oauth.AuthCodeURL(p.State, oauth2.S256ChallengeOption(p.Verifier), oidc.Nonce(p.Nonce)), http.StatusFound)
}

// handleCallback finishes the flow: state, code exchange, ID token
// verification, nonce; then a new session.
func (s *server) handleCallback(w http.ResponseWriter, r *http.Request) {
	id := cookieOf(r, cookieLogin)
	p, ok := s.logins.take(id)
	s.setCookie(w, cookieLogin, "", -1)
	q := r.URL.Query()
	switch {
	case !ok:
		failPage(w, http.StatusBadRequest, "This sign-in expired or was started in another browser. Please sign in again.")
		return
	case q.Get("state") != p.State:
		failPage(w, http.StatusBadRequest, "The sign-in answer does not match the request (state). Please sign in again.")
		return
	case q.Get("error") != "":
		// access_denied when the person declined, login_required, …
		failPage(w, http.StatusForbidden, "Sign-in did not complete: "+q.Get("error")+" "+q.Get("error_description"))
		return
	}
	ctx := r.Context()
	tok, err := s.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		log.Printf("web-rp: code exchange: %v", err)
		failPage(w, http.StatusBadGateway, "The provider refused the sign-in code. Please sign in again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := s.verifier.Verify(ctx, raw)
	if err != nil {
		log.Printf("web-rp: ID token: %v", err)
		failPage(w, http.StatusBadGateway, "The provider's ID token did not verify.")
		return
	}
	if idt.Nonce != p.Nonce {
		failPage(w, http.StatusBadRequest, "The ID token is not for this sign-in (nonce).")
		return
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		failPage(w, http.StatusBadGateway, "The ID token's claims are unreadable.")
		return
	}
	// A new session ID at every sign-in (no session fixation).
	if old := cookieOf(r, cookieSession); old != "" {
		s.sessions.take(old)
	}
	s.setCookie(w, cookieSession, s.sessions.put(session{IDToken: raw, Claims: claims}), sessionLifetime)
	http.Redirect(w, r, s.baseURL+"/", http.StatusSeeOther)
}

// handleLogout ends this app's session, then the provider's login session
// (OpenID Connect RP-Initiated Logout 1.0), which sends the browser back
// to the post-logout redirect URI. A POST: a cross-site page cannot sign
// the person out (the session cookie is SameSite=Lax).
func (s *server) handleLogout(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.sessions.take(cookieOf(r, cookieSession))
	s.setCookie(w, cookieSession, "", -1)
	if !ok || s.endSession == "" {
		http.Redirect(w, r, s.baseURL+"/", http.StatusSeeOther)
		return
	}
	q := url.Values{"id_token_hint": {sess.IDToken}, "post_logout_redirect_uri": {s.baseURL + "/"}}
	http.Redirect(w, r, s.endSession+"?"+q.Encode(), http.StatusSeeOther)
}

func (s *server) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

func cookieOf(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if errors.Is(err, http.ErrNoCookie) {
		return ""
	}
	return c.Value
}

// randomString is 32 random bytes, base64url: a state, a nonce, a cookie.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
