package web

import (
	"bytes"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseOAuthForm checks the edge rules of every OAuth endpoint against
// arbitrary content types, bodies and query strings: no panic, a clean 400
// or 413 with a description on refusal, and on acceptance a form that obeys
// every rule the parser promises.
func FuzzParseOAuthForm(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	f.Add(form, []byte("grant_type=client_credentials&client_id=c"), "")
	f.Add(form, []byte("audience=a&audience=b&resource=r"), "")
	f.Add(form, []byte("code=a&code=b"), "")
	f.Add(form, []byte("a=%ff&b=%zz"), "x=1")
	f.Add(form+"; charset=utf-8", []byte(strings.Repeat("k=v&", 40)), "")
	f.Add(form, []byte("token=t"), "client_secret=s")
	f.Add("application/json", []byte(`{"a":1}`), "")
	f.Add("multipart/form-data; boundary=x", []byte("--x--"), "")
	f.Add(form, bytes.Repeat([]byte("a"), 70000), "")
	f.Fuzz(func(t *testing.T, contentType string, body []byte, rawQuery string) {
		s := &server{cfg: Config{MaxBodyBytes: 64 << 10}, log: slog.New(slog.DiscardHandler)}
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", bytes.NewReader(body))
		r.URL.RawQuery = rawQuery
		r.Header.Set("Content-Type", contentType)
		status, desc := s.parseOAuthForm(httptest.NewRecorder(), r)
		if status != 0 {
			if (status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge) || desc == "" {
				t.Fatalf("refusal %d %q", status, desc)
			}
			if !utf8.ValidString(desc) {
				t.Fatalf("description is not UTF-8: %q", desc)
			}
			return
		}
		if ct, _, err := mime.ParseMediaType(contentType); err != nil || ct != form {
			t.Fatalf("accepted content type %q", contentType)
		}
		if int64(len(body)) > s.cfg.MaxBodyBytes {
			t.Fatalf("accepted a %d-byte body", len(body))
		}
		if len(r.PostForm) > maxParams {
			t.Fatalf("accepted %d parameters", len(r.PostForm))
		}
		for k, vs := range r.PostForm {
			if !utf8.ValidString(k) {
				t.Fatalf("accepted key %q", k)
			}
			if len(vs) > 1 && !repeatable[k] {
				t.Fatalf("accepted repeated %q", k)
			}
			for _, v := range vs {
				if !utf8.ValidString(v) {
					t.Fatalf("accepted value %q", v)
				}
			}
		}
		q := r.URL.Query()
		for _, k := range []string{"client_secret", "code", "refresh_token", "token", "phone_code", "encrypted_data"} {
			if q.Has(k) {
				t.Fatalf("accepted %s in the URL", k)
			}
		}
	})
}

// FuzzAuthorizationHeader feeds arbitrary Authorization headers to every
// parser that reads one: Basic (net/http, the malformed-header check, the
// client named for rate limiting) and Bearer (RFC 6750).
func FuzzAuthorizationHeader(f *testing.F) {
	for _, h := range []string{
		"Basic bWluaTpzZWNyZXQ=", "Basic " + "JXp6OiV6eg==", "Basic", "Basic ", "basic Og==", "Basic !!!",
		"Bearer abc", "bearer   ", "Bearer eyJhbGciOiJub25lIn0.e30.", "BEARER x y", "Digest x", "",
	} {
		f.Add(h, "client_id=c")
	}
	f.Fuzz(func(t *testing.T, header, body string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header["Authorization"] = []string{header}
		_ = r.ParseForm()
		_, _, basicOK := r.BasicAuth()
		malformed := malformedBasicAuth(r)
		if malformed && basicOK {
			t.Fatal("a header both valid and malformed Basic")
		}
		if len(header) >= 6 && strings.EqualFold(header[:6], "basic ") && !malformed && !basicOK {
			t.Fatal("a Basic header neither valid nor malformed")
		}
		tok, isBearer := bearerToken(r)
		if tok != "" && (!isBearer || !isB64Token(tok)) {
			t.Fatalf("bearer token %q from %q", tok, header)
		}
		if isBearer && !strings.EqualFold(strings.Trim(header, " \t")[:6], "bearer") {
			t.Fatalf("the Bearer scheme in %q", header)
		}
	})
}

// FuzzClientIP feeds arbitrary peers and X-Forwarded-For values to the
// client-IP rules: an untrusted peer is always the client, and a forwarded
// address is taken only from a trusted peer.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:80", "198.51.100.1, 10.0.0.2")
	f.Add("203.0.113.5:1", "10.0.0.1")
	f.Add("[fd00::1]:443", "2001:db8::1,,, ,junk")
	f.Add("garbage", "1.1.1.1")
	f.Add("10.0.0.1:80", strings.Repeat("10.0.0.3,", 100))
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header["X-Forwarded-For"] = []string{xff}
		got := clientIP(r, trusted)
		peer := peerAddr(remote)
		if !isTrusted(peer, trusted) && got != peer {
			t.Fatalf("untrusted peer %v, client %v", peer, got)
		}
		if got != peer {
			found := false
			for _, hop := range forwardedFor([]string{xff}) {
				if a, err := netip.ParseAddr(strings.TrimSpace(hop)); err == nil && a.Unmap() == got {
					found = true
				}
			}
			if !found {
				t.Fatalf("client %v is neither the peer nor in X-Forwarded-For %q", got, xff)
			}
		}
		_ = rateKey(got)
	})
}
