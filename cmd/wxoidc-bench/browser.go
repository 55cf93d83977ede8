package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wxoidc/wxoidc/provider"
)

// The browser sign-in scenarios (docs/performance.md, "Browser sign-in").
// They need a confidential, first-party (skip_consent) web client whose
// WeChat apps include a website app, and the emulator's browser pages
// (wechat.browser_base_url pointing at the emulator).

// sessionCookie is the login session cookie web sets (web/signin.go).
const sessionCookie = "wxoidc_session"

// defaultCodesPerSecond sizes code-exchange's pre-issued codes: enough for
// this many exchanges per second over warm-up and measurement, across all
// connections (--codes overrides).
const defaultCodesPerSecond = 2500

// randomB64 returns n random bytes, base64url: states, nonces, verifiers.
func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// pkce is a fresh S256 verifier and its challenge (RFC 7636 §4.1, §4.2).
func pkce() (verifier, challenge string) {
	verifier = randomB64(32) // 43 characters
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizePath is a fresh authorization request of the web client: new
// state, nonce and PKCE challenge, as a relying party sends each time.
func (lc *loadConfig) authorizePath(extra ...string) (path, verifier string) {
	return lc.authorizePathFor(lc.webClient, extra...)
}

// authorizePathFor is authorizePath for another client with the same
// redirect URI.
func (lc *loadConfig) authorizePathFor(client string, extra ...string) (path, verifier string) {
	verifier, challenge := pkce()
	q := url.Values{
		"client_id": {client}, "redirect_uri": {lc.webRedirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {randomB64(16)}, "nonce": {randomB64(16)},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/oauth2/authorize?" + q.Encode(), verifier
}

func (lc *loadConfig) checkWeb(name string) error {
	if lc.webClient == "" || lc.webSecret == "" || lc.webRedirect == "" {
		return fmt.Errorf("%s: no web client configured (--web-client, --web-secret-file, --web-redirect-uri)", name)
	}
	return nil
}

// signIn gets a login session cookie once, outside the measurement, by
// driving the website QR sign-in as a browser would: authorize with
// login_method=website_qr, WeChat's QR page (the emulator's, approved at
// once with &user=NAME), the callback, and the redirect back to the client.
func (w *worker) signIn(ctx context.Context) (string, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: w.lc.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	base := "http://" + w.srv.t.host + w.srv.t.prefix
	path, _ := w.lc.authorizePath("login_method", provider.LoginMethodWebsiteQR)
	target := base + path
	user := "bench-web-" + strconv.Itoa(w.id)
	for range 8 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return "", err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", fmt.Errorf("sign-in: %w", err)
		}
		body, _ := readAllLimited(resp.Body)
		resp.Body.Close()
		next := resp.Header.Get("Location")
		if next == "" {
			return "", fmt.Errorf("sign-in stopped: %w", statusError(max(resp.StatusCode, 300), body))
		}
		if strings.HasPrefix(next, w.lc.webRedirect) {
			if q := mustQuery(next); q.Get("code") == "" {
				return "", fmt.Errorf("sign-in ended with error %q", q.Get("error"))
			}
			u, _ := url.Parse(base)
			for _, c := range jar.Cookies(u) {
				if c.Name == sessionCookie {
					return c.Value, nil
				}
			}
			return "", errors.New("signed in, but the server set no session cookie")
		}
		if strings.Contains(next, "/connect/qrconnect") {
			// The emulator's shortcut: approve at once as user.
			next = strings.SplitN(next, "#", 2)[0] + "&user=" + url.QueryEscape(user)
		}
		u, err := url.Parse(target)
		if err != nil {
			return "", err
		}
		ref, err := u.Parse(next)
		if err != nil {
			return "", err
		}
		target = ref.String()
	}
	return "", errors.New("sign-in: too many redirects")
}

func mustQuery(rawURL string) url.Values {
	u, err := url.Parse(rawURL)
	if err != nil {
		return url.Values{}
	}
	return u.Query()
}

// authorizeRequest is the timed request of authorize: GET with the
// session cookie.
func (w *worker) authorizeRequest(cookie string) (req []byte, verifier string) {
	path, verifier := w.lc.authorizePath()
	return w.srv.t.request("GET", path, nil, "Cookie", sessionCookie+"="+cookie), verifier
}

// codeFrom checks an authorize answer: a 303 to the client with a code.
func (w *worker) codeFrom(status int, body []byte) (string, error) {
	loc := w.srv.header.Get("Location")
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, w.lc.webRedirect) {
		return "", fmt.Errorf("authorize: want 303 to the client, got %w (Location %q)", statusError(max(status, 300), body), loc)
	}
	q := mustQuery(loc)
	if q.Get("code") == "" {
		return "", fmt.Errorf("authorize: redirect without a code (error %q)", q.Get("error"))
	}
	return q.Get("code"), nil
}

func initAuthorize(ctx context.Context, w *worker) error {
	if err := w.lc.checkWeb("authorize"); err != nil {
		return err
	}
	cookie, err := w.signIn(ctx)
	if err != nil {
		return fmt.Errorf("authorize: %w", err)
	}
	w.next = func(context.Context) ([]byte, error) {
		req, _ := w.authorizeRequest(cookie)
		return req, nil
	}
	w.done = func(status int, body []byte) error {
		_, err := w.codeFrom(status, body)
		return err
	}
	return nil
}

// pendingCode is an issued authorization code and its PKCE verifier.
type pendingCode struct{ code, verifier string }

// initCodeExchange signs in, then issues this connection's share of the
// codes (set-up: neither timed nor inside the CPU window). Codes live 60 s,
// so set-up, warm-up and measurement must fit in that; a connection that
// runs out counts set-up errors (raise --codes).
func initCodeExchange(ctx context.Context, w *worker) error {
	if err := w.lc.checkWeb("code-exchange"); err != nil {
		return err
	}
	cookie, err := w.signIn(ctx)
	if err != nil {
		return fmt.Errorf("code-exchange: %w", err)
	}
	n := (w.lc.codes + w.conns - 1) / max(1, w.conns)
	codes := make([]pendingCode, 0, n)
	for range n {
		req, verifier := w.authorizeRequest(cookie)
		status, body, err := w.srv.do(req)
		if err != nil {
			return fmt.Errorf("code-exchange: issue a code: %w", err)
		}
		code, err := w.codeFrom(status, body)
		if err != nil {
			return fmt.Errorf("code-exchange: %w", err)
		}
		codes = append(codes, pendingCode{code, verifier})
	}
	auth := basicAuth(w.lc.webClient, w.lc.webSecret)
	redirect := url.QueryEscape(w.lc.webRedirect)
	w.next = func(context.Context) ([]byte, error) {
		if len(codes) == 0 {
			return nil, errors.New("out of pre-issued codes (raise --codes)")
		}
		c := codes[0]
		codes = codes[1:]
		body := "grant_type=authorization_code&code=" + url.QueryEscape(c.code) + "&redirect_uri=" + redirect + "&code_verifier=" + c.verifier
		return w.srv.t.request("POST", "/oauth2/token", []byte(body), formHeaders("Authorization", auth)...), nil
	}
	w.done = expectIDToken
	return nil
}

var idTokenField = []byte(`"id_token"`)

func expectIDToken(status int, body []byte) error {
	if err := expectToken(status, body); err != nil {
		return err
	}
	if !bytes.Contains(body, idTokenField) {
		return errors.New("token response without id_token")
	}
	return nil
}

// loginPageMarker is in the chooser page's method link.
var loginPageMarker = []byte(`/oauth2/login?`)

func initLoginPage(_ context.Context, w *worker) error {
	if err := w.lc.checkWeb("login-page"); err != nil {
		return err
	}
	w.next = func(context.Context) ([]byte, error) {
		path, _ := w.lc.authorizePath()
		return w.srv.t.request("GET", path, nil, "Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8"), nil
	}
	w.done = func(status int, body []byte) error {
		if err := statusError(status, body); err != nil {
			return err
		}
		if !bytes.Contains(body, loginPageMarker) {
			return errors.New("the answer is not the sign-in chooser page")
		}
		return nil
	}
	return nil
}

// scanPathPrefix is where a scan ticket's endpoints are (web.PathScan).
const scanPathPrefix = "/oauth2/scan/"

// scanRenewBefore: a ticket this close to its expiry is replaced before the
// next status request, so that a run may outlast a ticket (2 minutes).
const scanRenewBefore = 15 * time.Second

// The scan page hands its script the ticket in these attributes
// (web/internal/pages/templates/page.html).
var (
	scanStatusAttr  = regexp.MustCompile(`data-status-url="[^"]*` + scanPathPrefix + `([A-Za-z0-9]+)"`)
	scanExpiresAttr = regexp.MustCompile(`data-expires-in="([0-9]+)"`)
)

// scanClientID is scan-status's client: --web-client unless one of its own
// is set (standard seeds benchScanClient).
func (lc *loadConfig) scanClientID() string {
	if lc.scanClient != "" {
		return lc.scanClient
	}
	return lc.webClient
}

// scanBrowser is a desktop browser in a scan sign-in: its cookies (the
// browser cookie binds the ticket to it) and its current ticket.
type scanBrowser struct {
	jar     http.CookieJar
	ticket  string
	cookie  string // the Cookie header of the status request
	expires time.Time
}

// startScan starts a scan sign-in as a desktop browser would: an
// authorization request with login_method=miniprogram_scan, redirects
// followed, until the scan page, whose ticket it keeps. Each ticket of a
// connection is started by the same browser (cookie jar).
func (w *worker) startScan(ctx context.Context, b *scanBrowser) error {
	hc := &http.Client{Jar: b.jar, Timeout: w.lc.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	base := "http://" + w.srv.t.host + w.srv.t.prefix
	path, _ := w.lc.authorizePathFor(w.lc.scanClientID(), "login_method", provider.LoginMethodMiniProgramScan)
	target := base + path
	for range 8 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")
		started := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("scan sign-in: %w", err)
		}
		body, err := readAllLimited(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("scan sign-in: %w", err)
		}
		if next := resp.Header.Get("Location"); next != "" {
			if strings.HasPrefix(next, w.lc.webRedirect) {
				return fmt.Errorf("scan sign-in: sent back to the client with error %q", mustQuery(next).Get("error"))
			}
			u, err := url.Parse(target)
			if err != nil {
				return err
			}
			ref, err := u.Parse(next)
			if err != nil {
				return err
			}
			target = ref.String()
			continue
		}
		if err := statusError(resp.StatusCode, body); err != nil {
			return fmt.Errorf("scan sign-in stopped: %w", err)
		}
		m := scanStatusAttr.FindSubmatch(body)
		if m == nil {
			return errors.New("scan sign-in: the answer is not the scan page")
		}
		lifetime := 2 * time.Minute
		if e := scanExpiresAttr.FindSubmatch(body); e != nil {
			if n, err := strconv.Atoi(string(e[1])); err == nil {
				lifetime = time.Duration(n) * time.Second
			}
		}
		status, err := url.Parse(base + scanPathPrefix + string(m[1]))
		if err != nil {
			return err
		}
		var cookies []string
		for _, c := range b.jar.Cookies(status) {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
		if len(cookies) == 0 {
			return errors.New("scan sign-in: the server set no browser cookie for the status URL")
		}
		b.ticket, b.cookie, b.expires = string(m[1]), strings.Join(cookies, "; "), started.Add(lifetime)
		return nil
	}
	return errors.New("scan sign-in: too many redirects")
}

// initScanStatus starts a scan sign-in in set-up (untimed) and then asks
// for its ticket's status as the scan page's script does, without wait.
// Tickets live 2 minutes: one about to expire, or one that answered
// anything but pending, is replaced in next (untimed, but inside the CPU
// window: one start, with its getwxacodeunlimit, per connection every
// 105 s or so).
func initScanStatus(ctx context.Context, w *worker) error {
	if w.lc.scanClientID() == "" || w.lc.webRedirect == "" {
		return errors.New("scan-status: no client configured (--web-client naming a client with a mini-program app, --web-redirect-uri)")
	}
	jar, _ := cookiejar.New(nil)
	b := &scanBrowser{jar: jar}
	if err := w.startScan(ctx, b); err != nil {
		return fmt.Errorf("scan-status: %w", err)
	}
	var req []byte
	build := func() {
		req = w.srv.t.request("GET", scanPathPrefix+b.ticket, nil, "Accept", "*/*", "Cookie", b.cookie)
	}
	build()
	w.next = func(ctx context.Context) ([]byte, error) {
		if b.ticket == "" || time.Until(b.expires) < scanRenewBefore {
			if err := w.startScan(ctx, b); err != nil {
				b.ticket = ""
				return nil, err
			}
			build()
		}
		return req, nil
	}
	w.done = func(status int, body []byte) error {
		if err := statusError(status, body); err != nil {
			b.ticket = ""
			return err
		}
		var st struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			b.ticket = ""
			return fmt.Errorf("scan status: %w", err)
		}
		if st.Status != provider.ScanPending {
			b.ticket = ""
			return fmt.Errorf("scan status %q, want %q", st.Status, provider.ScanPending)
		}
		return nil
	}
	return nil
}

// readWebSecret reads a client secret from a file, or returns inline.
func readWebSecret(inline, file string) (string, error) {
	if file == "" {
		return inline, nil
	}
	return readSecretFile(file)
}
