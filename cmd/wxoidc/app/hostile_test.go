package app_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/config"
)

// hostileRequests is how many generated requests the suite sends through an
// HTTP client (raw-socket cases come on top).
const hostileRequests = 600

var hostilePaths = []string{
	"/.well-known/openid-configuration", "/.well-known/jwks.json", "/oauth2/token", "/oauth2/introspect",
	"/oauth2/revoke", "/userinfo", "/healthz", "/readyz", "/", "/nope", "/oauth2/token/", "//oauth2/token",
	"/oauth2/../oauth2/token", "/admin/v1/clients", "/wechat-emulator/login", "/%2e%2e/%2e%2e/etc/passwd",
}

var oauthPaths = []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/userinfo"}

var hostileContentTypes = []string{
	"application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=UTF-8",
	"application/x-www-form-urlencoded; charset=ISO-8859-1", "APPLICATION/X-WWW-FORM-URLENCODED",
	"application/x-www-form-urlencoded;;;", "application/json", "text/plain", "multipart/form-data; boundary=xyz",
	"multipart/form-data", "", "*/*", "application/x-www-form-urlencoded; boundary=\"unterminated",
	"image/png", strings.Repeat("a", 2000),
}

// hostileGen makes the suite's requests from one seeded source.
type hostileGen struct {
	rng    *rand.Rand
	base   string
	tokens []string // real tokens to mutate
}

func (g *hostileGen) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *hostileGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.UintN(256))
	}
	return b
}

// junk is a random string: printable, binary, invalid UTF-8, or huge.
func (g *hostileGen) junk() string {
	switch g.rng.IntN(8) {
	case 0:
		return string(g.bytes(g.rng.IntN(64)))
	case 1:
		return "\xff\xfe\xc3\x28" + strings.Repeat("\xed\xa0\x80", g.rng.IntN(4))
	case 2:
		return strings.Repeat("A", 1+g.rng.IntN(70000))
	case 3:
		return base64.StdEncoding.EncodeToString(g.bytes(g.rng.IntN(300)))
	case 4:
		return "'; DROP TABLE accounts; --"
	case 5:
		return "%zz%00%" + strconv.Itoa(g.rng.IntN(100))
	case 6:
		return g.jwtish()
	}
	return strconv.FormatUint(g.rng.Uint64(), 36)
}

// jwtish is a token that looks like a JWT, or a real token mutated.
func (g *hostileGen) jwtish() string {
	seg := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	real := g.pick(g.tokens)
	switch g.rng.IntN(10) {
	case 0:
		return seg(map[string]any{"alg": "none", "typ": "at+jwt"}) + "." + seg(map[string]any{"sub": "x", "exp": 9999999999}) + "."
	case 1:
		return seg(map[string]any{"alg": "HS256", "kid": strings.Repeat("k", 5000)}) + "." + seg(map[string]any{}) + "." + base64.RawURLEncoding.EncodeToString(g.bytes(32))
	case 2:
		return seg(map[string]any{"alg": "RS256", "kid": 12, "crit": []string{"x"}}) + "." + seg([]any{1, 2}) + ".sig"
	case 3:
		return strings.Repeat(".", g.rng.IntN(10))
	case 4:
		b := []byte(real)
		b[g.rng.IntN(len(b))] ^= byte(1 + g.rng.IntN(255))
		return string(b)
	case 5:
		return real[:g.rng.IntN(len(real))]
	case 6:
		p := strings.Split(real, ".")
		slicesReverse(p)
		return strings.Join(p, ".")
	case 7:
		return seg(map[string]any{"alg": "ES256", "jku": "http://evil.example/jwks", "x5u": "http://evil.example"}) + "." + seg(map[string]any{"iss": g.base}) + "." + base64.RawURLEncoding.EncodeToString(g.bytes(64))
	case 8:
		return real + real
	}
	return "eyJ" + string(g.bytes(g.rng.IntN(100)))
}

func slicesReverse(s []string) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

var oauthParams = []string{
	"grant_type", "client_id", "client_secret", "code", "phone_code", "encrypted_data", "iv", "scope", "nonce",
	"audience", "resource", "refresh_token", "token", "token_type_hint", "access_token", "client_assertion",
	"client_assertion_type", "redirect_uri", "state",
}

var grantTypes = []string{
	"urn:wxoidc:params:oauth:grant-type:wechat-miniprogram", "refresh_token", "client_credentials",
	"authorization_code", "password", "urn:ietf:params:oauth:grant-type:jwt-bearer", "", "\x00",
}

// form is a plausible OAuth form with hostile values.
func (g *hostileGen) form() url.Values {
	f := url.Values{}
	f.Set("grant_type", g.pick(grantTypes))
	f.Set("client_id", g.pick([]string{miniA, miniB, backend, postCli, "", "nobody", "mini-a\x00"}))
	for range g.rng.IntN(6) {
		k := g.pick(oauthParams)
		v := g.junk()
		if g.rng.IntN(3) == 0 {
			v = g.pick(g.tokens)
		}
		f.Set(k, v)
	}
	return f
}

// authorization is a hostile Authorization header value.
func (g *hostileGen) authorization() string {
	switch g.rng.IntN(9) {
	case 0:
		return "Basic " + base64.StdEncoding.EncodeToString(g.bytes(g.rng.IntN(80)))
	case 1:
		return "Basic " + g.junk()
	case 2:
		return "Basic " + base64.StdEncoding.EncodeToString([]byte("%zz:%zz"))
	case 3:
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(backend+":"+strings.Repeat("x", 10000)))
	case 4:
		return "Basic"
	case 5:
		return "Bearer " + g.jwtish()
	case 6:
		return "bearer " + g.pick(g.tokens)
	case 7:
		return "DPoP " + g.jwtish()
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(":"))
}

// next returns one generated request and a label for failure messages.
func (g *hostileGen) next() (*http.Request, string) {
	kind := g.rng.IntN(12)
	path := g.pick(hostilePaths)
	opath := g.pick(oauthPaths)
	method := http.MethodPost
	var body []byte
	ct := "application/x-www-form-urlencoded"
	h := http.Header{}
	var label string
	switch kind {
	case 0: // random bytes, random content type, anywhere
		body, ct, label = g.bytes(g.rng.IntN(4096)), g.pick(hostileContentTypes), "random body"
		if g.rng.IntN(2) == 0 {
			path = opath
		}
	case 1: // one huge parameter, under or over the body limit
		f := g.form()
		f.Set(g.pick(oauthParams), strings.Repeat("x", 60000+g.rng.IntN(20000)))
		path, body, label = opath, []byte(f.Encode()), "huge parameter"
	case 2: // repeated parameters
		f := g.form()
		k := g.pick(oauthParams)
		for range 2 + g.rng.IntN(300) {
			f.Add(k, strconv.Itoa(g.rng.IntN(10)))
		}
		path, body, label = opath, []byte(f.Encode()), "repeated "+k
	case 3: // many parameters
		f := g.form()
		for i := range 30 + g.rng.IntN(3000) {
			f.Set("p"+strconv.Itoa(i), "v")
		}
		path, body, label = opath, []byte(f.Encode()), "many parameters"
	case 4: // a valid form under a wrong content type
		path, body, ct, label = opath, []byte(g.form().Encode()), g.pick(hostileContentTypes), "content type"
	case 5: // wrong methods everywhere
		method = g.pick([]string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, http.MethodTrace, http.MethodHead, "FOO", "PROPFIND"})
		body, label = []byte(g.form().Encode()), "method "+method
	case 6: // invalid UTF-8 and bad escapes in keys, values and the query
		raw := g.pick([]string{"grant_type=%ff%fe&client_id=" + miniA, "%c3%28=1&client_id=x", "code=%ed%a0%80", "a=%zz", "&&&=&=", "client_id=" + miniA + "&code=\xff"})
		path, body, label = opath+"?"+g.pick([]string{"x=%ff", "code=abc", "token=%00", "a=%zz", ""}), []byte(raw), "invalid UTF-8"
	case 7: // plausible OAuth with hostile values and credentials
		path, body, label = opath, []byte(g.form().Encode()), "oauth form"
		h.Set("Authorization", g.authorization())
	case 8: // bearer and token parameters with broken JWTs
		method, path, label = g.pick([]string{http.MethodGet, http.MethodPost}), "/userinfo", "bearer"
		h.Set("Authorization", g.authorization())
		if method == http.MethodPost && g.rng.IntN(2) == 0 {
			body = []byte(url.Values{"access_token": {g.jwtish()}}.Encode())
		}
	case 9: // header flood through the client
		method, label = g.pick([]string{http.MethodGet, http.MethodPost}), "header flood"
		for i := range 50 + g.rng.IntN(400) {
			h.Set("X-Flood-"+strconv.Itoa(i), strings.Repeat("f", 100))
		}
	case 10: // long URLs and query strings on GET endpoints
		method, label = http.MethodGet, "long URL"
		path = g.pick([]string{"/.well-known/jwks.json", "/.well-known/openid-configuration", "/healthz"}) + "?" + strings.Repeat("q=1&", 100+g.rng.IntN(8000))
	case 11: // credentials in the URL
		path, body, label = opath+"?client_secret="+backendPw+"&code=abc&refresh_token=x", []byte(g.form().Encode()), "credentials in URL"
	}
	req, err := http.NewRequest(method, g.base+path, bytes.NewReader(body))
	if err != nil {
		req, _ = http.NewRequest(method, g.base+"/oauth2/token", bytes.NewReader(body))
	}
	if ct != "" && body != nil {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if kind == 10 && g.rng.IntN(2) == 0 {
		req.Header.Set("If-None-Match", strings.Repeat(`"x", `, 500))
	}
	return req, fmt.Sprintf("%s %s (%s)", method, truncate(path, 60), label)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// TestHostileInput sends generated hostile requests to every endpoint of a
// production-configured server (http.Server limits and timeouts), then raw
// protocol abuse over sockets: nothing may answer 5xx other than the
// documented 503, and nothing may panic.
func TestHostileInput(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("WXOIDC_TEST_HOSTILE_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (rerun with WXOIDC_TEST_HOSTILE_SEED=%d)", seed, seed)
	logs := &logBuffer{}
	s := newHardStack(t, hardOptions{serve: true, logs: logs, config: []stackOption{func(c *config.Config) {
		c.HTTP.ReadHeaderTimeout = config.D(300 * time.Millisecond)
		c.HTTP.ReadTimeout = config.D(600 * time.Millisecond)
		c.HTTP.WriteTimeout = config.D(10 * time.Second)
		// The suite comes from one address with one client: limits would
		// stop it before it reaches the parsers (TestTokenRateLimits covers them).
		c.Limits.TokenPerIP.Limit = 0
		c.Limits.TokenPerClient.Limit = 0
		c.Limits.WeChatPerApp.Limit = 0
		c.Storage.SQLiteSynchronous = "NORMAL"
		c.Clients.SecretHashCost = 10_000 // the minimum: the suite authenticates often
	}}})
	real := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "victim"), "scope", "openid phone offline_access")))
	g := &hostileGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), base: s.URL, tokens: []string{real.AccessToken, real.RefreshToken, real.IDToken}}

	statuses := map[int]int{}
	for range hostileRequests {
		req, label := g.next()
		resp, err := s.client.Do(req)
		if err != nil {
			// The server may close a connection it refuses to read (too large).
			statuses[0]++
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		statuses[resp.StatusCode]++
		checkHostileAnswer(t, label, resp.StatusCode, resp.Header, body, req.Method, 0)
	}
	raw := hostileRaw(t, s.addr)
	for status, n := range raw {
		statuses[status] += n
	}
	t.Logf("%d requests, statuses (0 = connection closed without an answer): %v", hostileRequests+sumCounts(raw), statuses)

	out := logs.String()
	for _, needle := range []string{`"msg":"panic"`, "http: panic serving", "runtime error"} {
		if strings.Contains(out, needle) {
			t.Errorf("the logs show a panic (%s):\n%s", needle, grepLines(out, needle))
		}
	}
	// Still serving.
	mustToken(t, s.token(wechatForm(miniA, s.login(appA, "after-attack"))))
}

func sumCounts(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func grepLines(s, needle string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, needle) {
			out = append(out, truncate(l, 2000))
		}
	}
	return strings.Join(out, "\n")
}

// checkHostileAnswer applies the suite's rules to one answer: no 5xx but the
// documented 503; and every error our router writes is an RFC 6749 body.
// protocol is a status net/http itself must give before any handler runs
// (RFC 9112: 501 for a transfer coding it does not implement, 505 for an
// HTTP version other than 1.x), or 0.
func checkHostileAnswer(t *testing.T, label string, status int, h http.Header, body []byte, method string, protocol int) {
	t.Helper()
	if protocol != 0 && status == protocol && h.Get("X-Content-Type-Options") == "" {
		return
	}
	if status >= 500 && !(status == http.StatusServiceUnavailable && strings.Contains(string(body), "temporarily_unavailable")) {
		t.Errorf("%s: %d %s", label, status, truncate(string(body), 300))
		return
	}
	if h.Get("X-Content-Type-Options") == "nosniff" && h.Get("Content-Security-Policy") != "default-src 'none'; frame-ancestors 'none'" {
		t.Errorf("%s: Content-Security-Policy %q", label, h.Get("Content-Security-Policy"))
	}
	// Answers from our router carry its security headers; net/http's own
	// (431, 400 for a malformed request) do not and have a text body.
	if status >= 400 && h.Get("X-Content-Type-Options") == "nosniff" && method != http.MethodHead {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
			t.Errorf("%s: %d without an RFC 6749 error body: %q", label, status, truncate(string(body), 300))
		}
	}
}

// hostileRaw sends protocol abuse over raw sockets and returns the statuses
// (0 when the server closed the connection without answering).
func hostileRaw(t *testing.T, addr string) map[int]int {
	t.Helper()
	statuses := map[int]int{}
	form := "grant_type=client_credentials&client_id=" + backend
	cases := []struct {
		name     string
		send     func(c net.Conn) error
		protocol int // net/http's own answer, if any (see checkHostileAnswer)
	}{
		{"slowloris headers", func(c net.Conn) error {
			if _, err := io.WriteString(c, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\n"); err != nil {
				return err
			}
			// Dribble header lines past read_header_timeout (300ms).
			for i := range 8 {
				time.Sleep(100 * time.Millisecond) // the attack's own pace
				if _, err := fmt.Fprintf(c, "X-Slow-%d: 1\r\n", i); err != nil {
					return nil // the server hung up: what we want
				}
			}
			return nil
		}, 0},
		{"slow body", func(c net.Conn) error {
			if _, err := fmt.Fprintf(c, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n%s", form[:10]); err != nil {
				return err
			}
			for range 10 { // past read_timeout (600ms)
				time.Sleep(100 * time.Millisecond) // the attack's own pace
				if _, err := io.WriteString(c, "a"); err != nil {
					return nil
				}
			}
			return nil
		}, 0},
		{"header flood", func(c net.Conn) error {
			var b strings.Builder
			b.WriteString("GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n")
			for i := range 3000 {
				fmt.Fprintf(&b, "X-H-%d: %s\r\n", i, strings.Repeat("h", 20))
			}
			b.WriteString("\r\n")
			_, err := io.WriteString(c, b.String())
			return err
		}, 0},
		{"one huge header", func(c net.Conn) error {
			_, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n", strings.Repeat("c", 100000))
			return err
		}, 0},
		{"garbage request line", func(c net.Conn) error {
			_, err := c.Write(append(bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100), "\r\n\r\n"...))
			return err
		}, 0},
		{"control bytes in a header", func(c net.Conn) error {
			_, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: \x00\x01\x7f\r\n\r\n")
			return err
		}, 0},
		{"negative content length", func(c net.Conn) error {
			_, err := io.WriteString(c, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")
			return err
		}, 0},
		{"conflicting content lengths", func(c net.Conn) error {
			_, err := fmt.Fprintf(c, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n%s", form)
			return err
		}, 0},
		{"content length and chunked", func(c net.Conn) error {
			_, err := fmt.Fprintf(c, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
			return err
		}, 0},
		{"huge chunk size", func(c net.Conn) error {
			_, err := io.WriteString(c, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\naaaa\r\n")
			return err
		}, 0},
		{"endless chunks", func(c net.Conn) error {
			var b strings.Builder
			b.WriteString("POST /oauth2/introspect HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n")
			for range 20000 {
				b.WriteString("8\r\ntoken=aa\r\n")
			}
			_, err := io.WriteString(c, b.String())
			return err
		}, 0},
		{"unknown transfer coding", func(c net.Conn) error {
			_, err := io.WriteString(c, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: gzip\r\n\r\nabc")
			return err
		}, http.StatusNotImplemented},
		{"HTTP/2 version on HTTP/1", func(c net.Conn) error {
			_, err := io.WriteString(c, "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n")
			return err
		}, http.StatusHTTPVersionNotSupported},
		{"HTTP/2 preface", func(c net.Conn) error {
			_, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
			return err
		}, http.StatusHTTPVersionNotSupported},
		{"HTTP/9.9", func(c net.Conn) error {
			_, err := io.WriteString(c, "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n")
			return err
		}, http.StatusHTTPVersionNotSupported},
		{"no host", func(c net.Conn) error {
			_, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\n\r\n")
			return err
		}, 0},
		{"absolute URI to another host", func(c net.Conn) error {
			_, err := io.WriteString(c, "GET http://evil.example/.well-known/jwks.json HTTP/1.1\r\nHost: evil.example\r\n\r\n")
			return err
		}, 0},
		{"CONNECT", func(c net.Conn) error {
			_, err := io.WriteString(c, "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n")
			return err
		}, 0},
		{"HTTP/1.0 keep-alive", func(c net.Conn) error {
			_, err := io.WriteString(c, "GET /.well-known/openid-configuration HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			return err
		}, 0},
		{"pipelined requests", func(c net.Conn) error {
			_, err := io.WriteString(c, strings.Repeat("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 50)+"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			return err
		}, 0},
		{"TRACE with a body", func(c net.Conn) error {
			_, err := io.WriteString(c, "TRACE /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
			return err
		}, 0},
		{"path traversal and NUL", func(c net.Conn) error {
			_, err := io.WriteString(c, "GET /../../etc/passwd%00.json HTTP/1.1\r\nHost: x\r\n\r\n")
			return err
		}, 0},
		{"expect continue", func(c net.Conn) error {
			_, err := fmt.Fprintf(c, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\n")
			return err
		}, 0},
	}
	for _, tc := range cases {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.send(c); err != nil && !isConnReset(err) {
			t.Errorf("%s: send: %v", tc.name, err)
		}
		n := 0
		br := bufio.NewReader(c)
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				break
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			statuses[resp.StatusCode]++
			n++
			checkHostileAnswer(t, "raw "+tc.name, resp.StatusCode, resp.Header, body, "", tc.protocol)
			if resp.StatusCode == http.StatusContinue {
				continue // the final answer follows
			}
			if resp.Close {
				break
			}
			if tc.name != "pipelined requests" {
				break
			}
		}
		if n == 0 {
			statuses[0]++
		}
		c.Close()
	}
	return statuses
}

func isConnReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset by peer") || strings.Contains(err.Error(), "broken pipe"))
}

// TestTokenRateLimits checks each limit end to end: 429 slow_down with
// Retry-After, per client IP (X-Forwarded-For believed only from trusted
// networks), per client, per WeChat user before WeChat's own 45011, and the
// daily phone-lookup cap.
func TestTokenRateLimits(t *testing.T) {
	s := newHardStack(t, hardOptions{config: []stackOption{func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.0/8"}
		c.Limits.TokenPerIP = config.Rate{Limit: 3, Per: config.D(time.Minute), Burst: 3}
		c.Limits.TokenPerClient = config.Rate{Limit: 1, Per: config.D(time.Hour), Burst: 40}
		c.Limits.PhoneLookupsPerAccount = config.Rate{Limit: 2, Per: config.D(24 * time.Hour), Burst: 2}
	}}})
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {"203.0.113.250, " + ip}} }
	slowDown := func(what string, resp *http.Response, body []byte, retryAfter string) {
		t.Helper()
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), `"error":"slow_down"`) {
			t.Fatalf("%s: %d %s, want 429 slow_down", what, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Retry-After"); retryAfter != "" && got != retryAfter || got == "" {
			t.Fatalf("%s: Retry-After %q, want %q", what, got, retryAfter)
		}
	}

	// Per IP: the client address comes from X-Forwarded-For because the peer
	// (loopback) is trusted; the spoofed leftmost entry is ignored.
	for i := range 3 {
		resp, body := s.postForm("/oauth2/token", wechatForm(miniA, s.login(appA, "ip-user"), "scope", "openid"), from("198.51.100.7"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d from 198.51.100.7: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := s.postForm("/oauth2/token", wechatForm(miniA, s.login(appA, "ip-user"), "scope", "openid"), from("198.51.100.7"))
	slowDown("4th request from one IP", resp, body, "20")
	if resp, body := s.postForm("/oauth2/token", wechatForm(miniA, s.login(appA, "ip-user"), "scope", "openid"), from("198.51.100.8")); resp.StatusCode != http.StatusOK {
		t.Fatalf("another IP is limited too: %d %s", resp.StatusCode, body)
	}

	// Per WeChat user, with the default limit: refused by us before WeChat's
	// 100 calls per user per minute, so WeChat never answers 45011.
	var refused *http.Response
	for i := 0; refused == nil; i++ {
		if i >= 100 {
			t.Fatal("100 logins of one user without a 429")
		}
		resp, body := s.postForm("/oauth2/token", wechatForm(miniA, s.login(appA, "busy-user"), "scope", "openid"), from(fmt.Sprintf("192.0.2.%d", i)))
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			slowDown("per-user limit", resp, body, "")
			refused = resp
		default:
			t.Fatalf("login %d: %d %s", i, resp.StatusCode, body)
		}
	}
	calls := 0
	for _, c := range s.Emu.CallsTo("jscode2session") {
		if c.User == "busy-user" {
			calls++
			if c.Outcome == 45011 {
				t.Fatal("WeChat answered 45011 before we refused")
			}
		}
	}
	if calls >= 100 {
		t.Fatalf("%d WeChat calls for one user before the 429", calls)
	}
	t.Logf("per-user limit: refused after %d WeChat calls", calls)

	// Phone lookups per account.
	for i := range 2 {
		ph := s.phone(appA, "phoney", "+8613600000009")
		resp, body := s.postForm("/oauth2/token", wechatForm(miniA, s.login(appA, "phoney"), "phone_code", ph.Code, "scope", "openid phone"), from("192.0.2.200"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("phone login %d: %d %s", i, resp.StatusCode, body)
		}
	}
	ph := s.phone(appA, "phoney", "+8613600000009")
	resp, body = s.postForm("/oauth2/token", wechatForm(miniA, s.login(appA, "phoney"), "phone_code", ph.Code, "scope", "openid phone"), from("192.0.2.201"))
	slowDown("3rd phone lookup", resp, body, "43200")
	if n := len(s.Emu.CallsTo("getuserphonenumber")); n != 2 {
		t.Fatalf("WeChat saw %d phone lookups, want 2", n)
	}

	// Per client: the burst of 40 is spent by now.
	resp, body = s.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {miniA}}, from("192.0.2.202"))
	for i := 0; resp.StatusCode != http.StatusTooManyRequests; i++ {
		if resp.StatusCode >= 500 || i > 50 {
			t.Fatalf("per-client: %d %s", resp.StatusCode, body)
		}
		resp, body = s.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {miniA}}, from("192.0.2.202"))
	}
	slowDown("per-client limit", resp, body, "")
	// Other clients are not affected.
	if resp, body := s.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, hardBasicAuthFrom(backend, backendPw, "192.0.2.203")); resp.StatusCode != http.StatusOK {
		t.Fatalf("another client: %d %s", resp.StatusCode, body)
	}
}

func hardBasicAuthFrom(user, password, ip string) http.Header {
	h := hardBasicAuth(user, password)
	h.Set("X-Forwarded-For", ip)
	return h
}
