package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wxoidc/wxoidc/provider"
)

// loadConfig is what every scenario needs to know about the system under load.
type loadConfig struct {
	servers  []target
	emulator target
	// emulatorInProcess: the emulator is served by the server process (dev
	// mode), so minting codes is server work and is counted as such.
	emulatorInProcess bool
	appID             string
	miniClient        string
	ccClient          string
	ccSecret          string
	users             int
	timeout           time.Duration

	// The browser scenarios' web client: confidential (client_secret_basic),
	// first-party (skip_consent), with a website app; codes is how many
	// authorization codes code-exchange issues per run before it starts.
	webClient, webSecret, webRedirect string
	codes                             int
	// scanClient is scan-status's client (one whose WeChat apps include a
	// mini-program app; redirect URI webRedirect); "" means webClient.
	scanClient string

	// userSeq picks users round robin; copies of a loadConfig share it.
	userSeq *atomic.Uint64
}

// scenario is one kind of request the loader repeats.
type scenario struct {
	name string
	desc string
	// init prepares a worker: its state and the next/done functions.
	init func(ctx context.Context, w *worker) error
}

// worker is one connection's loop state. next builds the request to time
// (work done there, such as minting WeChat codes, is not part of the
// latency); done checks the response.
type worker struct {
	lc *loadConfig
	id int
	// conns is the number of workers of the run.
	conns int
	srv   *conn
	emu   *conn
	next  func(ctx context.Context) ([]byte, error)
	done  func(status int, body []byte) error
}

var scenarios = []scenario{
	{"discovery", "GET /.well-known/openid-configuration", initStatic("/.well-known/openid-configuration")},
	{"jwks", "GET /.well-known/jwks.json", initStatic("/.well-known/jwks.json")},
	{"cc", "client_credentials, JWT access token, generated secret (keyed hash)", initClientCredentials},
	{"introspect", "introspection of a JWT access token from the WeChat grant, by a confidential client", initIntrospect},
	{"userinfo", "UserInfo (GET, Bearer) for a WeChat-grant access token with scope openid phone", initUserInfo},
	{"refresh", "refresh_token grant, rotating (ID token re-issued)", initRefresh},
	{"wechat", "WeChat grant, fresh wx.login code, scope openid offline_access", initWeChat(false)},
	{"wechat-phone", "WeChat grant with a fresh phone code, scope openid phone offline_access", initWeChat(true)},
	{"wechat-phone-rs256", "wechat-phone for a client whose ID tokens are RS256 (seeded by standard: " + benchMiniRS256Client + ")", initWeChatRS256},
	{"authorize", "GET /oauth2/authorize with a login session, first-party client: 303 with a code (fresh state, nonce, PKCE)", initAuthorize},
	{"code-exchange", "authorization_code grant: client_secret_basic, PKCE, ES256 ID token (codes issued in set-up)", initCodeExchange},
	{"login-page", "GET /oauth2/authorize without a session: the sign-in chooser page", initLoginPage},
	{"scan-status", "GET /oauth2/scan/{ticket} without wait, by the browser that holds the ticket (the scan page's poll)", initScanStatus},
}

func scenarioByName(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}

func scenarioNames() []string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return out
}

// parseScenarios resolves a comma-separated list ("all" for every scenario).
func parseScenarios(list string) ([]scenario, error) {
	if list == "all" {
		return slices.Clone(scenarios), nil
	}
	var out []scenario
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		s, ok := scenarioByName(n)
		if !ok {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", n, strings.Join(scenarioNames(), ", "))
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, errors.New("no scenario selected")
	}
	return out, nil
}

func initStatic(path string) func(context.Context, *worker) error {
	return func(_ context.Context, w *worker) error {
		req := w.srv.t.request("GET", path, nil)
		w.next = func(context.Context) ([]byte, error) { return req, nil }
		w.done = func(status int, body []byte) error { return statusError(status, body) }
		return nil
	}
}

func basicAuth(id, secret string) string {
	// RFC 6749 §2.3.1: form-encode, then base64.
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func formHeaders(extra ...string) []string {
	return append([]string{"Content-Type", "application/x-www-form-urlencoded"}, extra...)
}

func initClientCredentials(_ context.Context, w *worker) error {
	if w.lc.ccClient == "" {
		return errors.New("cc: no confidential client configured (--cc-client, --cc-secret)")
	}
	req := w.srv.t.request("POST", "/oauth2/token", []byte("grant_type=client_credentials"),
		formHeaders("Authorization", basicAuth(w.lc.ccClient, w.lc.ccSecret))...)
	w.next = func(context.Context) ([]byte, error) { return req, nil }
	w.done = expectToken
	return nil
}

var accessTokenField = []byte(`"access_token"`)

func expectToken(status int, body []byte) error {
	if err := statusError(status, body); err != nil {
		return err
	}
	if !bytes.Contains(body, accessTokenField) {
		return errors.New("token response without access_token")
	}
	return nil
}

func initIntrospect(ctx context.Context, w *worker) error {
	if w.lc.ccClient == "" {
		return errors.New("introspect: no confidential client configured (--cc-client, --cc-secret)")
	}
	tr, err := w.grant(ctx, true, "openid phone offline_access")
	if err != nil {
		return fmt.Errorf("introspect: get a token to introspect: %w", err)
	}
	req := w.srv.t.request("POST", "/oauth2/introspect", []byte("token="+url.QueryEscape(tr.AccessToken)),
		formHeaders("Authorization", basicAuth(w.lc.ccClient, w.lc.ccSecret))...)
	w.next = func(context.Context) ([]byte, error) { return req, nil }
	w.done = func(status int, body []byte) error {
		if err := statusError(status, body); err != nil {
			return err
		}
		if !bytes.Contains(body, []byte(`"active":true`)) {
			return errors.New("introspection answered inactive")
		}
		return nil
	}
	return nil
}

func initUserInfo(ctx context.Context, w *worker) error {
	tr, err := w.grant(ctx, true, "openid phone offline_access")
	if err != nil {
		return fmt.Errorf("userinfo: get an access token: %w", err)
	}
	req := w.srv.t.request("GET", "/userinfo", nil, "Authorization", "Bearer "+tr.AccessToken)
	w.next = func(context.Context) ([]byte, error) { return req, nil }
	w.done = func(status int, body []byte) error { return statusError(status, body) }
	return nil
}

func initRefresh(ctx context.Context, w *worker) error {
	var rt string
	bootstrap := func(ctx context.Context) error {
		tr, err := w.grant(ctx, false, "openid offline_access")
		if err != nil {
			return err
		}
		if tr.RefreshToken == "" {
			return errors.New("the grant issued no refresh token")
		}
		rt = tr.RefreshToken
		return nil
	}
	if err := bootstrap(ctx); err != nil {
		return fmt.Errorf("refresh: get a refresh token: %w", err)
	}
	w.next = func(ctx context.Context) ([]byte, error) {
		if rt == "" {
			// The chain broke (an error answer): start a new one, untimed.
			if err := bootstrap(ctx); err != nil {
				return nil, err
			}
		}
		body := "grant_type=refresh_token&client_id=" + url.QueryEscape(w.lc.miniClient) + "&refresh_token=" + url.QueryEscape(rt)
		return w.srv.t.request("POST", "/oauth2/token", []byte(body), formHeaders()...), nil
	}
	w.done = func(status int, body []byte) error {
		if err := statusError(status, body); err != nil {
			rt = ""
			return err
		}
		var tr tokenResponse
		if err := json.Unmarshal(body, &tr); err != nil || tr.RefreshToken == "" {
			rt = ""
			return errors.New("refresh response without a refresh token")
		}
		rt = tr.RefreshToken
		return nil
	}
	return nil
}

func initWeChat(phone bool) func(context.Context, *worker) error {
	return initWeChatFor(func(lc *loadConfig) string { return lc.miniClient }, phone)
}

// initWeChatRS256 is wechat-phone for the client whose ID tokens are RS256:
// the ID token's algorithm is the main cost difference between clients.
func initWeChatRS256(ctx context.Context, w *worker) error {
	return initWeChatFor(func(*loadConfig) string { return benchMiniRS256Client }, true)(ctx, w)
}

func initWeChatFor(client func(*loadConfig) string, phone bool) func(context.Context, *worker) error {
	scope := "openid offline_access"
	if phone {
		scope = "openid phone offline_access"
	}
	return func(_ context.Context, w *worker) error {
		w.next = func(ctx context.Context) ([]byte, error) {
			body, err := w.grantForm(ctx, client(w.lc), phone, scope)
			if err != nil {
				return nil, err
			}
			return w.srv.t.request("POST", "/oauth2/token", body, formHeaders()...), nil
		}
		w.done = expectToken
		return nil
	}
}

// tokenResponse is the part of a token response the loader reads.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// nextUser picks the next user of the pool, round robin: WeChat (and the
// emulator) allow 100 jscode2session calls per user per minute, so the pool
// must be large for high rates (see --users).
func (w *worker) nextUser() (user, phone string) {
	n := w.lc.userSeq.Add(1) % uint64(w.lc.users)
	return benchUser(int(n)), fmt.Sprintf("+86139%08d", n)
}

// benchUser names the bench's i-th WeChat user (seedPeople stores them).
func benchUser(i int) string { return "bench-" + strconv.Itoa(i) }

// emulatorCall posts a JSON body to an emulator helper endpoint.
func (w *worker) emulatorCall(path string, in map[string]string, out any) error {
	if w.emu == nil {
		w.emu = newConn(w.lc.emulator, w.lc.timeout)
	}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	status, resp, err := w.emu.do(w.lc.emulator.request("POST", path, body, "Content-Type", "application/json"))
	if err != nil {
		return fmt.Errorf("emulator %s: %w", path, err)
	}
	if err := statusError(status, resp); err != nil {
		return fmt.Errorf("emulator %s: %w", path, err)
	}
	if err := json.Unmarshal(resp, out); err != nil {
		return fmt.Errorf("emulator %s: %w", path, err)
	}
	return nil
}

// grantForm mints a wx.login code (and a phone code) from the emulator over
// HTTP, as a mini-program would get them, and returns the token request body.
func (w *worker) grantForm(_ context.Context, clientID string, phone bool, scope string) ([]byte, error) {
	user, number := w.nextUser()
	var login struct {
		Code string `json:"code"`
	}
	if err := w.emulatorCall("/login", map[string]string{"appid": w.lc.appID, "user": user}, &login); err != nil {
		return nil, err
	}
	f := url.Values{
		"grant_type": {provider.GrantTypeWeChat},
		"client_id":  {clientID},
		"code":       {login.Code},
		"scope":      {scope},
	}
	if phone {
		var ph struct {
			Code string `json:"code"`
		}
		if err := w.emulatorCall("/phone", map[string]string{"appid": w.lc.appID, "user": user, "phone_number": number}, &ph); err != nil {
			return nil, err
		}
		f.Set("phone_code", ph.Code)
	}
	return []byte(f.Encode()), nil
}

// grant runs one WeChat grant outside the measurement (set-up).
func (w *worker) grant(ctx context.Context, phone bool, scope string) (tokenResponse, error) {
	var tr tokenResponse
	body, err := w.grantForm(ctx, w.lc.miniClient, phone, scope)
	if err != nil {
		return tr, err
	}
	status, resp, err := w.srv.do(w.srv.t.request("POST", "/oauth2/token", body, formHeaders()...))
	if err != nil {
		return tr, err
	}
	if err := statusError(status, resp); err != nil {
		return tr, err
	}
	if err := json.Unmarshal(resp, &tr); err != nil {
		return tr, fmt.Errorf("token response: %w", err)
	}
	return tr, nil
}
