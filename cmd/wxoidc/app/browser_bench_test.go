package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// Browser sign-in benchmarks: the three browser paths through the public
// handler (app.New's a.Public: router, middleware, web, provider, storage),
// called in-process so that the figure is the server's work without a
// client's. Storage is SQLite with synchronous=FULL (production default),
// ID tokens ES256. Each reports cpu-ms/op: the process's user+system CPU
// (getrusage) over the measured loop divided by the operations, GC and
// SQLite's work included. The loop itself (building requests, PKCE pairs)
// is a few µs of it. docs/performance.md, "Browser sign-in", records them.

// browserBench is one instance with the first-party web client rpFirst
// (confidential, client_secret_basic, skip_consent, ES256 ID tokens) and
// a login session for it.
type browserBench struct {
	handler http.Handler
	issuer  string
	// secret is rpFirst's client secret, server-generated (keyed hash, as
	// for clients registered through the admin API).
	secret string
	// session is the wxoidc_session cookie of a signed-in browser.
	session string
}

func newBrowserBench(b testing.TB) *browserBench {
	b.Helper()
	emu := wechattest.New(wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: appWeb, Secret: secretWeb, Kind: wechattest.KindWebsite, OpenPlatformID: platform})
	emu.RegisterApp(wechattest.App{AppID: appOA, Secret: secretOA, Kind: wechattest.KindOfficialAccount, OpenPlatformID: platform})
	emuSrv := httptest.NewServer(emu.Handler())
	b.Cleanup(emuSrv.Close)

	a, issuer := startBenchApp(b, emuSrv.URL, withBrowserApps)
	secret := provider.GenerateSecret()
	createClient(b, a, storage.Client{
		ID: rpFirst, Name: "Example " + rpFirst, TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
		GrantTypes: []string{provider.GrantTypeAuthorizationCode, provider.GrantTypeRefreshToken},
		Scopes:     []string{"openid", "phone", "wechat", "offline_access"}, RedirectURIs: []string{rpCallback},
		SkipConsent: true, WeChatApps: []string{appWeb, appOA}, DefaultAudience: issuer, IDTokenSignedResponseAlg: "ES256",
	}, secret)
	bb := &browserBench{handler: a.Public, issuer: issuer, secret: secret}
	bb.session = signInOnce(b, issuer, bb.authorizeURL(false, newPKCE()))
	return bb
}

// signInOnce drives the website QR sign-in over loopback HTTP, the
// emulator approving at once (&user=), and returns the session cookie.
func signInOnce(b testing.TB, issuer, authorizeURL string) string {
	b.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	target := authorizeURL + "&login_method=" + provider.LoginMethodWebsiteQR
	for range 8 {
		resp, err := hc.Get(target)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		next := resp.Header.Get("Location")
		if next == "" {
			b.Fatalf("sign-in stopped at %d on %s", resp.StatusCode, target)
		}
		if strings.HasPrefix(next, rpCallback) {
			u, _ := url.Parse(issuer)
			for _, ck := range jar.Cookies(u) {
				if ck.Name == "wxoidc_session" {
					return ck.Value
				}
			}
			b.Fatal("signed in, but no session cookie")
		}
		if strings.Contains(next, "/connect/qrconnect") {
			next = strings.SplitN(next, "#", 2)[0] + "&user=bench-alice"
		}
		if strings.HasPrefix(next, "/") {
			next = issuer + next
		}
		target = next
	}
	b.Fatal("too many redirects")
	return ""
}

type pkcePair struct{ verifier, challenge string }

func newPKCE() pkcePair {
	v := randomString() + randomString() // 48 characters
	sum := sha256.Sum256([]byte(v))
	return pkcePair{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// authorizeURL is a fresh authorization request of rpFirst (new state,
// nonce and PKCE challenge), as a relying party would send; scope openid,
// or openid phone when phone.
func (bb *browserBench) authorizeURL(phone bool, p pkcePair) string {
	scope := "openid"
	if phone {
		scope = "openid phone"
	}
	q := url.Values{
		"client_id": {rpFirst}, "redirect_uri": {rpCallback}, "response_type": {"code"}, "scope": {scope},
		"state": {randomString()}, "nonce": {randomString()},
		"code_challenge": {p.challenge}, "code_challenge_method": {"S256"},
	}
	return bb.issuer + "/oauth2/authorize?" + q.Encode()
}

// recorder is a reusable ResponseWriter keeping what the checks read.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.h }
func (w *recorder) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
func (w *recorder) reset() {
	clear(w.h)
	w.status = 0
	w.body.Reset()
}

func newRecorder() *recorder { return &recorder{h: http.Header{}} }

// authorize serves one authorization request in-process and returns the
// code (with a session) or the page (without).
func (bb *browserBench) authorize(w *recorder, target string, withSession bool) error {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")
	if withSession {
		r.AddCookie(&http.Cookie{Name: "wxoidc_session", Value: bb.session})
	}
	w.reset()
	bb.handler.ServeHTTP(w, r)
	if !withSession {
		if w.status != http.StatusOK || !bytes.Contains(w.body.Bytes(), []byte("/oauth2/login?")) {
			return fmt.Errorf("login page: %d %.200s", w.status, w.body.Bytes())
		}
		return nil
	}
	if w.status != http.StatusSeeOther || !strings.HasPrefix(w.h.Get("Location"), rpCallback+"?code=") {
		return fmt.Errorf("authorize: %d %s %.200s", w.status, w.h.Get("Location"), w.body.Bytes())
	}
	return nil
}

// code runs an authorization request with the session and returns its code.
func (bb *browserBench) code(w *recorder, p pkcePair) (string, error) {
	if err := bb.authorize(w, bb.authorizeURL(false, p), true); err != nil {
		return "", err
	}
	u, err := url.Parse(w.h.Get("Location"))
	if err != nil {
		return "", err
	}
	return u.Query().Get("code"), nil
}

// exchange is the relying party's token request: client_secret_basic,
// the code and its PKCE verifier.
func (bb *browserBench) exchange(w *recorder, code, verifier string) error {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpCallback}, "code_verifier": {verifier}}
	r := httptest.NewRequest(http.MethodPost, bb.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(rpFirst), url.QueryEscape(bb.secret))
	w.reset()
	bb.handler.ServeHTTP(w, r)
	if w.status != http.StatusOK {
		return fmt.Errorf("token: %d %.300s", w.status, w.body.Bytes())
	}
	var tr tokenResponse
	if err := json.Unmarshal(w.body.Bytes(), &tr); err != nil || tr.AccessToken == "" || tr.IDToken == "" {
		return fmt.Errorf("token response without tokens (%v): %.300s", err, w.body.Bytes())
	}
	return nil
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter reports cpu-ms/op over the timed part of a benchmark.
type cpuMeter struct {
	b     *testing.B
	start time.Duration
}

func startCPU(b *testing.B) *cpuMeter {
	b.ResetTimer()
	return &cpuMeter{b: b, start: cpuTime(b)}
}

func (m *cpuMeter) stop() {
	m.b.StopTimer()
	used := cpuTime(m.b) - m.start
	m.b.ReportMetric(float64(used.Microseconds())/1000/float64(m.b.N), "cpu-ms/op")
}

// parallel runs op from 64 goroutines on 2 CPUs (SetParallelism(32)), as
// the HTTP server would serve 64 connections: SQLite commits are grouped.
func parallel(b *testing.B, op func(w *recorder) error) {
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		w := newRecorder()
		for pb.Next() {
			if err := op(w); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// serialAndParallel measures op as the sub-benchmarks serial (one
// goroutine) and parallel64 (see parallel), each reporting cpu-ms/op.
func serialAndParallel(b *testing.B, op func(w *recorder) error) {
	b.Run("serial", func(b *testing.B) {
		w := newRecorder()
		b.ReportAllocs()
		m := startCPU(b)
		for range b.N {
			if err := op(w); err != nil {
				b.Fatal(err)
			}
		}
		m.stop()
	})
	b.Run("parallel64", func(b *testing.B) {
		b.ReportAllocs()
		m := startCPU(b)
		parallel(b, op)
		m.stop()
	})
}

// BenchmarkBrowserAuthorize is an authorization request with a live login
// session for a first-party client (consent skipped): parse and validate,
// session and account look-up, link the session to the client, issue and
// store the code, 303 to the redirect URI. Target: 0.3 CPU-ms.
func BenchmarkBrowserAuthorize(b *testing.B) {
	bb := newBrowserBench(b)
	op := func(w *recorder) error { return bb.authorize(w, bb.authorizeURL(false, newPKCE()), true) }
	serialAndParallel(b, op)
}

// BenchmarkBrowserCodeExchange is the relying party's code exchange:
// client_secret_basic (generated secret, keyed hash), PKCE S256, an ES256
// ID token and a JWT access token, the code invalidated. The b.N codes are
// issued first, outside the timer and the CPU figure (codes live 60 s;
// the benchmark issues about 2 s worth). Target: 0.6 CPU-ms.
func BenchmarkBrowserCodeExchange(b *testing.B) {
	bb := newBrowserBench(b)
	type pending struct{ code, verifier string }
	mint := func(b *testing.B) chan pending {
		ch := make(chan pending, b.N)
		w := newRecorder()
		for range b.N {
			p := newPKCE()
			code, err := bb.code(w, p)
			if err != nil {
				b.Fatal(err)
			}
			ch <- pending{code, p.verifier}
		}
		close(ch)
		return ch
	}
	b.Run("serial", func(b *testing.B) {
		codes := mint(b)
		w := newRecorder()
		b.ReportAllocs()
		m := startCPU(b)
		for c := range codes {
			if err := bb.exchange(w, c.code, c.verifier); err != nil {
				b.Fatal(err)
			}
		}
		m.stop()
	})
	b.Run("parallel64", func(b *testing.B) {
		codes := mint(b)
		b.ReportAllocs()
		m := startCPU(b)
		parallel(b, func(w *recorder) error {
			c := <-codes
			return bb.exchange(w, c.code, c.verifier)
		})
		m.stop()
	})
}

// BenchmarkBrowserLoginPage is an authorization request without a session:
// parse and validate, then the chooser page (website QR), rendered with
// its CSP nonce. Target: 0.15 CPU-ms.
func BenchmarkBrowserLoginPage(b *testing.B) {
	bb := newBrowserBench(b)
	op := func(w *recorder) error { return bb.authorize(w, bb.authorizeURL(false, newPKCE()), false) }
	serialAndParallel(b, op)
}

// TestBrowserBench runs each browser benchmark's operation once, so the
// default test run keeps them working.
func TestBrowserBench(t *testing.T) {
	bb := newBrowserBench(t)
	w := newRecorder()
	if err := bb.authorize(w, bb.authorizeURL(false, newPKCE()), false); err != nil {
		t.Fatal(err)
	}
	p := newPKCE()
	code, err := bb.code(w, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := bb.exchange(w, code, p.verifier); err != nil {
		t.Fatal(err)
	}
	// The code is single-use: a replay must fail.
	if err := bb.exchange(w, code, p.verifier); err == nil {
		t.Fatal("a used code was exchanged again")
	}
}
