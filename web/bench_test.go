package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// benchKeys serves a JWKS of about the size of the default key set (one
// RSA-2048, one P-256 and one Ed25519 key, current and next).
type benchKeys struct {
	body []byte
	etag string
}

func (k benchKeys) JWKS() ([]byte, string) { return k.body, k.etag }
func (benchKeys) MaxAge() time.Duration    { return 30 * time.Second }

func newBenchKeys() benchKeys {
	var ks []map[string]string
	for range 2 {
		ks = append(ks,
			map[string]string{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": strings.Repeat("r", 22), "e": "AQAB", "n": strings.Repeat("n", 342)},
			map[string]string{"kty": "EC", "alg": "ES256", "use": "sig", "kid": strings.Repeat("e", 22), "crv": "P-256", "x": strings.Repeat("x", 43), "y": strings.Repeat("y", 43)},
			map[string]string{"kty": "OKP", "alg": "EdDSA", "use": "sig", "kid": strings.Repeat("d", 22), "crv": "Ed25519", "x": strings.Repeat("x", 43)})
	}
	body, _ := json.Marshal(map[string]any{"keys": ks})
	return benchKeys{body: body, etag: `"0123456789abcdef"`}
}

// discardWriter is a reusable ResponseWriter, so the benchmark measures the
// handler rather than a recorder.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

func (w *discardWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

// BenchmarkJWKSHandler is the JWKS handler alone: pre-built bytes and ETag
// from the key manager, headers, write. The HTTP server's own cost is in
// cmd/wxoidc-bench's figures.
func BenchmarkJWKSHandler(b *testing.B) {
	s := &server{cfg: Config{Keys: newBenchKeys()}}
	for _, c := range []struct {
		name, inm string
		status    int
	}{
		{"full", "", http.StatusOK},
		{"not-modified", `"0123456789abcdef"`, http.StatusNotModified},
	} {
		b.Run(c.name, func(b *testing.B) {
			r, _ := http.NewRequest(http.MethodGet, PathJWKS, nil)
			if c.inm != "" {
				r.Header.Set("If-None-Match", c.inm)
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				s.handleJWKS(w, r)
			}
			if w.status != 0 && w.status != c.status {
				b.Fatalf("status %d, want %d", w.status, c.status)
			}
		})
	}
}

// BenchmarkDiscoveryHandler is the discovery handler alone: the document is
// encoded once, at start.
func BenchmarkDiscoveryHandler(b *testing.B) {
	doc, err := json.Marshal(discoveryDocument(testMetadata(), []string{"RS256", "ES256", "EdDSA"}))
	if err != nil {
		b.Fatal(err)
	}
	s := &server{discovery: doc}
	r, _ := http.NewRequest(http.MethodGet, PathDiscovery, nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		s.handleDiscovery(w, r)
	}
	if w.n != len(doc) {
		b.Fatalf("wrote %d bytes, want %d", w.n, len(doc))
	}
}
