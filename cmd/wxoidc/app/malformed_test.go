package app_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/config"
)

// malformedBodyLimit is the stack's http.max_body_bytes in these tests,
// small so oversized bodies stay cheap.
const malformedBodyLimit = 8 << 10

// malformed is one hostile or broken request.
type malformed struct {
	name   string
	method string
	path   string
	query  string
	ctype  string // Content-Type; "" sends none
	body   string
	header http.Header
	// want is the exact status, or 0 for "any 4xx".
	want int
}

// postEndpoint describes a form-encoded endpoint: a minimal valid-looking
// form and the credentials it needs, so each variant breaks one thing.
type postEndpoint struct {
	path   string
	form   url.Values
	header http.Header
	// dup is a parameter that must not be repeated.
	dup string
}

func malformedCases(s *stack) []malformed {
	bearer := http.Header{"Authorization": {"Bearer not-a-token"}}
	endpoints := []postEndpoint{
		{path: "/oauth2/token", form: url.Values{"grant_type": {"client_credentials"}}, header: basicAuth(backend, backendPw), dup: "grant_type"},
		{path: "/oauth2/token", form: wechatForm(miniA, "some-code-value"), dup: "code"},
		{path: "/oauth2/introspect", form: url.Values{"token": {"some-token"}}, header: basicAuth(backend, backendPw), dup: "token"},
		{path: "/oauth2/revoke", form: url.Values{"token": {"some-token"}, "client_id": {miniA}}, dup: "token"},
		{path: "/userinfo", form: url.Values{"access_token": {"some-token"}}, dup: "access_token"},
	}
	form := "application/x-www-form-urlencoded"
	var out []malformed
	for _, ep := range endpoints {
		add := func(name, query, ctype, body string, h http.Header, want int) {
			hdr := http.Header{}
			for k, v := range ep.header {
				hdr[k] = v
			}
			for k, v := range h {
				hdr[k] = v
			}
			label := ep.path
			if ep.dup == "code" {
				label += " (wechat grant)"
			}
			out = append(out, malformed{name: label + ": " + name, method: http.MethodPost, path: ep.path, query: query, ctype: ctype, body: body, header: hdr, want: want})
		}
		enc := ep.form.Encode()
		add("empty body", "", form, "", nil, 0)
		add("no parameters but junk", "", form, "&&&", nil, 0)
		add("duplicated "+ep.dup, "", form, enc+"&"+url.Values{ep.dup: {ep.form.Get(ep.dup) + "2"}}.Encode(), nil, 400)
		add("duplicated client_id", "", form, enc+"&client_id=a&client_id=b", nil, 400)
		add("oversized body", "", form, enc+"&pad="+strings.Repeat("a", malformedBodyLimit), nil, http.StatusRequestEntityTooLarge)
		add("oversized body, far over the limit", "", form, enc+"&pad="+strings.Repeat("a", 16*malformedBodyLimit), nil, http.StatusRequestEntityTooLarge)
		add("non-UTF-8 value (percent-encoded)", "", form, enc+"&scope=%FF%FE", nil, 400)
		add("non-UTF-8 value (raw bytes)", "", form, enc+"&scope=\xff\xfe", nil, 400)
		add("non-UTF-8 parameter name", "", form, enc+"&%C3%28=1", nil, 400)
		add("invalid percent-encoding", "", form, enc+"&scope=%zz", nil, 400)
		add("too many parameters", "", form, enc+manyParams(40), nil, 400)
		add("credential in the query string", "client_secret=x", form, enc, nil, 400)
		add("token in the query string", "token=x", form, enc, nil, 400)
		add("JSON body", "", "application/json", jsonOf(ep.form), nil, 400)
		add("multipart body", "", "multipart/form-data; boundary=XyZ", multipartOf(ep.form, "XyZ"), nil, 400)
		add("text/plain body", "", "text/plain", enc, nil, 400)
		add("no content type", "", "", enc, nil, 400)
		add("unparsable content type", "", "application/x-www-form-urlencoded; ;;=", enc, nil, 400)
		if ep.path != "/userinfo" {
			add("Basic auth not base64", "", form, enc, http.Header{"Authorization": {"Basic %%%not-base64"}}, 0)
			add("Basic auth without colon", "", form, enc, http.Header{"Authorization": {"Basic " + b64("nocolon")}}, 0)
			add("Basic auth bad percent-encoding", "", form, enc, http.Header{"Authorization": {"Basic " + b64("%zz:secret")}}, 0)
			add("Basic auth non-UTF-8", "", form, enc, http.Header{"Authorization": {"Basic " + b64("\xff\xfe:\xff")}}, 0)
			add("Basic auth huge", "", form, enc, http.Header{"Authorization": {"Basic " + b64(strings.Repeat("u", 4000)+":"+strings.Repeat("p", 4000))}}, 0)
		}
	}
	// Token endpoint specifics.
	cc := basicAuth(backend, backendPw)
	tok := func(name, body string, h http.Header, want int) {
		out = append(out, malformed{name: "/oauth2/token: " + name, method: http.MethodPost, path: "/oauth2/token", ctype: form, body: body, header: h, want: want})
	}
	tok("missing grant_type", "client_id="+miniA, nil, 400)
	tok("empty grant_type", "grant_type=&client_id="+miniA, nil, 400)
	tok("two grant types in one", "grant_type=client_credentials+refresh_token", cc, 400)
	tok("unknown grant type", "grant_type=password&username=a&password=b", cc, 400)
	tok("garbage refresh token", "grant_type=refresh_token&client_id="+miniA+"&refresh_token=garbage", nil, 400)
	tok("refresh without refresh_token", "grant_type=refresh_token&client_id="+miniA, nil, 400)
	tok("unknown scope", "grant_type=client_credentials&scope=admin", cc, 400)
	tok("foreign audience", "grant_type=client_credentials&audience=https://evil.example", cc, 400)
	tok("audience repeated too often", "grant_type=client_credentials"+strings.Repeat("&audience=a", 40), cc, 400)
	tok("client_assertion garbage", "grant_type=client_credentials&client_id="+backend+"&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=a.b.c", nil, 0)
	tok("client_assertion with wrong type", "grant_type=client_credentials&client_assertion_type=foo&client_assertion=a.b.c", nil, 0)
	tok("no client at all", "grant_type=client_credentials", nil, 0)
	tok("wechat grant: oversized iv", url.Values{"grant_type": {grantType}, "client_id": {miniA}, "code": {"c"}, "encrypted_data": {"AAAA"}, "iv": {strings.Repeat("B", 100)}}.Encode(), nil, 400)

	// UserInfo: broken bearer tokens (GET and POST).
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		ui := func(name string, h http.Header, ctype, body string, want int) {
			out = append(out, malformed{name: m + " /userinfo: " + name, method: m, path: "/userinfo", ctype: ctype, body: body, header: h, want: want})
		}
		ui("no token", nil, "", "", 401)
		ui("empty bearer", http.Header{"Authorization": {"Bearer "}}, "", "", 401)
		ui("garbage bearer", bearer, "", "", 401)
		ui("JWT-shaped garbage", http.Header{"Authorization": {"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}}, "", "", 401)
		ui("non-UTF-8 bearer", http.Header{"Authorization": {"Bearer \xff\xfe\xfd"}}, "", "", 401)
		ui("huge bearer", http.Header{"Authorization": {"Bearer " + strings.Repeat("x", 16<<10)}}, "", "", 401)
		ui("Basic instead of Bearer", basicAuth(backend, backendPw), "", "", 401)
	}
	out = append(out,
		malformed{name: "POST /userinfo: token in header and body", method: http.MethodPost, path: "/userinfo", ctype: form, body: "access_token=x", header: bearer, want: 400},
		malformed{name: "POST /userinfo: JSON body", method: http.MethodPost, path: "/userinfo", ctype: "application/json", body: `{"access_token":"x"}`, want: 400},
	)

	// Wrong methods, everywhere.
	all := []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/userinfo", "/.well-known/jwks.json", "/.well-known/openid-configuration", "/healthz", "/readyz"}
	for _, p := range all {
		for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
			out = append(out, malformed{name: m + " " + p, method: m, path: p, ctype: form, body: "a=b", want: 405})
		}
	}
	for _, p := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"} {
		out = append(out, malformed{name: "GET " + p, method: http.MethodGet, path: p, want: 405},
			malformed{name: "GET " + p + " with credentials in the query", method: http.MethodGet, path: p, query: "grant_type=client_credentials&client_id=" + backend + "&client_secret=" + backendPw, want: 405})
	}
	for _, p := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration", "/healthz", "/readyz"} {
		out = append(out, malformed{name: "POST " + p, method: http.MethodPost, path: p, ctype: form, body: "a=b", want: 405})
	}
	out = append(out, malformed{name: "unknown path", method: http.MethodGet, path: "/oauth2/device", want: 404},
		malformed{name: "unknown path under .well-known", method: http.MethodGet, path: "/.well-known/oauth-authorization-server/x", want: 404})
	return out
}

func manyParams(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "&p%d=v", i)
	}
	return b.String()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func jsonOf(v url.Values) string {
	m := map[string]string{}
	for k := range v {
		m[k] = v.Get(k)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func multipartOf(v url.Values, boundary string) string {
	var b strings.Builder
	for k := range v {
		fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=%q\r\n\r\n%s\r\n", boundary, k, v.Get(k))
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.String()
}

// Every endpoint answers malformed input with a 4xx and an RFC 6749 JSON
// error body, never a 5xx, an HTML page or an empty body.
func TestMalformedInputEveryEndpoint(t *testing.T) {
	s := newStack(t, func(c *config.Config) { c.HTTP.MaxBodyBytes = malformedBodyLimit })
	for _, c := range malformedCases(s) {
		t.Run(c.name, func(t *testing.T) {
			u := s.URL + c.path
			if c.query != "" {
				u += "?" + c.query
			}
			var body io.Reader
			if c.body != "" {
				body = bytes.NewReader([]byte(c.body))
			}
			req, err := http.NewRequest(c.method, u, body)
			if err != nil {
				t.Fatal(err)
			}
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			for k, v := range c.header {
				req.Header[k] = v
			}
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("status %d, want 4xx: %s", resp.StatusCode, raw)
			}
			if c.want != 0 && resp.StatusCode != c.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, c.want, raw)
			}
			assertOAuthErrorShape(t, resp, raw)
			if c.want == http.StatusUnauthorized && c.path == "/userinfo" && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// The stack still works afterwards.
	mustToken(t, s.token(wechatForm(miniA, s.login(appA, "after-malformed"))))
}

// The server survives requests whose parameters are individually valid but
// pathological in combination, and answers them as client errors.
func TestMalformedParametersAtTheLimit(t *testing.T) {
	s := newStack(t, func(c *config.Config) { c.HTTP.MaxBodyBytes = malformedBodyLimit })
	// Exactly at the body limit: parsed, then refused on its merits.
	base := wechatForm(miniA, "code-at-the-limit").Encode() + "&pad="
	body := base + strings.Repeat("a", malformedBodyLimit-len(base))
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth2/token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusRequestEntityTooLarge || resp.StatusCode >= 500 || resp.StatusCode < 400 {
		t.Fatalf("body of exactly max_body_bytes: %d %s", resp.StatusCode, raw)
	}
	assertOAuthErrorShape(t, resp, raw)
}
