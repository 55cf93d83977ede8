package pages

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets/*
var assetFS embed.FS

// AssetPrefix is where the web router mounts AssetHandler.
const AssetPrefix = "/assets/"

// asset is one embedded file under its content-hashed name.
type asset struct {
	body        []byte
	contentType string
}

// assets maps logical names ("app.css") to hashed URLs and serves the
// hashed names. A hash in the name lets the files be cached forever: a new
// release has new names.
type assets struct {
	urls   map[string]string // "app.css" → "/assets/app.3f2a1c9d0b.css"
	byName map[string]asset  // "app.3f2a1c9d0b.css" → file
}

func loadAssets() (*assets, error) {
	a := &assets{urls: map[string]string{}, byName: map[string]asset{}}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("pages: read embedded assets: %w", err)
	}
	for _, e := range entries {
		body, err := assetFS.ReadFile("assets/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("pages: read asset %s: %w", e.Name(), err)
		}
		ext := path.Ext(e.Name())
		ctype := mime.TypeByExtension(ext)
		if ctype == "" {
			return nil, fmt.Errorf("pages: asset %s has no known content type", e.Name())
		}
		sum := sha256.Sum256(body)
		hashed := strings.TrimSuffix(e.Name(), ext) + "." + hex.EncodeToString(sum[:5]) + ext
		a.urls[e.Name()] = AssetPrefix + hashed
		a.byName[hashed] = asset{body: body, contentType: ctype}
	}
	return a, nil
}

// AssetHandler serves the embedded CSS and images under their hashed names
// with a year-long immutable cache. It accepts the request path with or
// without AssetPrefix, so the router may mount it either way.
func (r *Renderer) AssetHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(strings.TrimPrefix(req.URL.Path, AssetPrefix), "/")
		a, ok := r.assets.byName[name]
		if !ok {
			http.NotFound(w, req)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("X-Content-Type-Options", "nosniff")
		// An SVG opened on its own is a document: it may run nothing.
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("ETag", `"`+name+`"`)
		http.ServeContent(w, req, name, time.Time{}, bytes.NewReader(a.body))
	})
}
