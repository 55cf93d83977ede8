package pages

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

// Renderer draws the pages. It is safe for concurrent use.
type Renderer struct {
	tmpl   *template.Template
	assets *assets
}

// New parses the embedded templates and hashes the embedded assets.
func New() (*Renderer, error) {
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"app.css", "scan.js", "favicon.svg", "warn.svg", "info.svg", "success.svg"} {
		if a.urls[name] == "" {
			return nil, fmt.Errorf("pages: embedded asset %s is missing", name)
		}
	}
	t, err := template.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("pages: parse templates: %w", err)
	}
	return &Renderer{tmpl: t, assets: a}, nil
}

// Render writes page p with status and the page security headers. The page
// is rendered into a buffer first, so a template error becomes a plain 500
// instead of half a page; the error is returned for the caller to log.
func (r *Renderer) Render(w http.ResponseWriter, status int, p Page) error {
	nonce, err := newNonce()
	if err != nil {
		plain500(w)
		return fmt.Errorf("pages: CSP nonce: %w", err)
	}
	v, err := r.viewOf(p)
	if err != nil {
		plain500(w)
		return err
	}
	v.Nonce = nonce
	var buf bytes.Buffer
	if err := r.tmpl.ExecuteTemplate(&buf, "page.html", v); err != nil {
		plain500(w)
		return fmt.Errorf("pages: render %T: %w", p, err)
	}
	h := w.Header()
	setNoStore(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; "+connectSrc(p)+"script-src 'nonce-"+nonce+"'; form-action 'self'"+formActionSources(formTargets(p))+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, err = w.Write(buf.Bytes())
	return err
}

// connectSrc lets the scan page's script ask our own server for the code's
// status; the other pages run no script and keep default-src 'none'.
func connectSrc(p Page) string {
	switch p.(type) {
	case ScanPage, *ScanPage:
		return "connect-src 'self'; "
	}
	return ""
}

// formTargets are the URLs a page's form answer may redirect to.
func formTargets(p Page) []string {
	switch p := p.(type) {
	case ConsentPage:
		return p.FormTargets
	case LogoutConfirmPage:
		return p.FormTargets
	}
	return nil
}

// formActionSources turns redirect targets into CSP form-action sources:
// browsers apply form-action to the redirects that follow a form's POST
// too (CSP Level 3 §6.3.2), so the client a consent or logout form sends
// the person back to must be listed. http(s) targets give their origin, a
// private-use scheme (RFC 8252 §7.1) its scheme; anything else is left
// out rather than risk a malformed policy.
func formActionSources(targets []string) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil || u.Scheme == "" {
			continue
		}
		src := strings.ToLower(u.Scheme) + ":"
		if u.Scheme == "http" || u.Scheme == "https" {
			if u.Host == "" {
				continue
			}
			src = strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
		}
		if seen[src] || strings.ContainsFunc(src, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(".+-:/[]", r))
		}) {
			continue
		}
		seen[src] = true
		b.WriteString(" " + src)
	}
	return b.String()
}

// setNoStore sets the headers every response of a page carries, error or
// not: sign-in state must not be cached, sniffed or leak through Referer.
func setNoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

func plain500(w http.ResponseWriter) {
	setNoStore(w.Header())
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// newNonce returns 128 random bits for the CSP script nonce, fresh per page.
func newNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
