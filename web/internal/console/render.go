package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/wxoidc/wxoidc/web/internal/pages"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/console.css
var consoleCSS []byte

// view is what every page template gets; Data is the page's own.
type view struct {
	Loc       pages.Locale
	Now       time.Time
	Title     string
	Nav       string // the active section
	TokenName string // "" on the sign-in page
	CSRF      string
	Flash     *flash
	CSS       string // the stylesheet's URL
	Prefix    string
	Path      string // this page's path, for the language switch
	OtherLang string // the language the switch leads to
	Data      any
}

// T is the template's shorthand for the page's words.
func (v view) T(key string, args ...any) string { return text(v.Loc, key, args...) }

// Rel says when t is, relative to the page's now.
func (v view) Rel(t time.Time) string { return relative(v.Loc, v.Now, t) }

// Dur says d in words.
func (v view) Dur(d time.Duration) string { return duration(v.Loc, d) }

var funcs = template.FuncMap{
	"stamp":   stamp,
	"join":    strings.Join,
	"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"percent": percent,
	"spark":   spark,
}

// renderer holds one template set per page (the layout plus the page's
// "content") and the stylesheet.
type renderer struct {
	pages  map[string]*template.Template
	cssURL string
	css    []byte
}

func newRenderer() (*renderer, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: list templates: %w", err)
	}
	r := &renderer{pages: map[string]*template.Template{}, css: consoleCSS}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Option("missingkey=error").Funcs(funcs).
			ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", base, err)
		}
		r.pages[strings.TrimSuffix(base, ".html")] = t
	}
	sum := sha256.Sum256(consoleCSS)
	r.cssURL = Prefix + "/assets/console." + hex.EncodeToString(sum[:5]) + ".css"
	return r, nil
}

// render writes page name with status. It renders into a buffer first so a
// template error becomes a plain 500 rather than half a page.
func (r *renderer) render(w http.ResponseWriter, status int, name string, v view) error {
	t, ok := r.pages[name]
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return fmt.Errorf("console: no page %q", name)
	}
	v.CSS = r.cssURL
	v.Prefix = Prefix
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return fmt.Errorf("console: render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// serveCSS serves the stylesheet under its hashed name, cacheable forever.
func (r *renderer) serveCSS(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != r.cssURL && Prefix+req.URL.Path != r.cssURL {
		http.NotFound(w, req)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	http.ServeContent(w, req, "console.css", time.Time{}, bytes.NewReader(r.css))
}
