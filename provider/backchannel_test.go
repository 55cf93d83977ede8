package provider

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/sqlite"
	"github.com/wxoidc/wxoidc/wechat"
)

const (
	bclClientES  = "bcl-es256"   // id_token_signed_response_alg ES256
	bclClientRS  = "bcl-default" // no algorithm: RS256
	bclNoURI     = "bcl-no-uri"
	bclAccount   = "account-bcl-1"
	bclLogWaitOK = 10 * time.Second // only bounds a broken test; never slept
	bclIssuer    = "https://id.example.com"
)

// noWeChat is a WeChat these tests never call.
type noWeChat struct{}

func (noWeChat) Code2Session(context.Context, wechat.App, string) (wechat.Session, error) {
	return wechat.Session{}, wechat.ErrInvalidCode
}
func (noWeChat) PhoneNumber(context.Context, wechat.App, string, string) (wechat.Phone, error) {
	return wechat.Phone{}, wechat.ErrInvalidCode
}

// bclEnv is a provider whose back-channel deliveries go to receiver,
// with a sleeper that records instead of sleeping and an observer that
// reports every outcome on a channel.
type bclEnv struct {
	p        *Provider
	store    storage.Storage
	km       *keys.Manager
	receiver *bclReceiver
	sleeps   *recorded[time.Duration]
	outcomes chan string
	logs     *testharness.Buffer
	now      time.Time
}

type recorded[T any] struct {
	mu   sync.Mutex
	list []T
}

func (r *recorded[T]) add(v T) { r.mu.Lock(); r.list = append(r.list, v); r.mu.Unlock() }
func (r *recorded[T]) get() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

type observerFunc func(string)

func (f observerFunc) ObserveTokenIssued(string, string) {}
func (f observerFunc) ObserveBackchannelLogout(o string) { f(o) }

// bclReceiver is a client's back-channel logout endpoint: it answers the
// statuses in answers in turn (then 200) and records every request.
type bclReceiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	answers  []int
	requests []bclRequest
	arrived  chan struct{}
	hold     chan struct{} // when set, each request waits for a value
}

type bclRequest struct {
	contentType string
	token       string
	form        map[string][]string
}

func newBCLReceiver(t *testing.T) *bclReceiver {
	r := &bclReceiver{arrived: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		r.mu.Lock()
		r.requests = append(r.requests, bclRequest{contentType: req.Header.Get("Content-Type"), token: req.PostForm.Get("logout_token"), form: req.PostForm})
		status := http.StatusOK
		if len(r.answers) > 0 {
			status, r.answers = r.answers[0], r.answers[1:]
		}
		hold := r.hold
		r.mu.Unlock()
		r.arrived <- struct{}{}
		if hold != nil {
			select {
			case <-hold:
			case <-req.Context().Done():
				return
			}
		}
		if status == http.StatusFound {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *bclReceiver) got() []bclRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

func newBCLEnv(t *testing.T, cfg BackchannelConfig) *bclEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bcl.db"), sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cipher, err := keys.NewCipher(keys.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	km, err := keys.NewManager(keys.Config{
		Store: store, Cipher: cipher,
		Algorithms:       []string{keys.RS256, keys.ES256},
		DefaultAlgorithm: keys.RS256,
		MaxTokenLifetime: time.Hour,
		Logger:           slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Init(ctx); err != nil {
		t.Fatal(err)
	}
	hasher, err := NewSecretHasher(cipher.Derive("bcl/pepper"), 0)
	if err != nil {
		t.Fatal(err)
	}
	e := &bclEnv{store: store, km: km, receiver: newBCLReceiver(t), sleeps: &recorded[time.Duration]{}, outcomes: make(chan string, 100),
		logs: &testharness.Buffer{}, now: time.Now().Truncate(time.Second)}
	if cfg.Sleep == nil {
		cfg.Sleep = func(_ context.Context, d time.Duration) error { e.sleeps.add(d); return nil }
	}
	e.p, err = New(Config{
		Issuer:            bclIssuer,
		Store:             store,
		Sealer:            cipher,
		PhoneIndexKey:     cipher.Derive("bcl/phone"),
		HMACSecret:        cipher.Derive("bcl/hmac"),
		AccessTokenSigner: km.AccessTokenSigner(),
		IDTokenSigner:     km.IDTokenSigner(),
		WeChat:            noWeChat{},
		SecretHasher:      hasher,
		Now:               func() time.Time { return e.now },
		Logger:            slog.New(slog.NewTextHandler(e.logs, nil)),
		Metrics:           observerFunc(func(o string) { e.outcomes <- o }),
		Backchannel:       cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.p.Close) // before the receiver closes: cleanups run last first
	uri := e.receiver.srv.URL + "/backchannel?tenant=1"
	for _, c := range []storage.Client{
		{ID: bclClientES, BackchannelLogoutURI: uri, IDTokenSignedResponseAlg: keys.ES256},
		{ID: bclClientRS, BackchannelLogoutURI: uri},
		{ID: bclNoURI},
	} {
		c.Name, c.TokenEndpointAuthMethod, c.GrantTypes = c.ID, AuthMethodNone, []string{GrantTypeAuthorizationCode}
		c.Scopes, c.RedirectURIs, c.DefaultAudience = []string{ScopeOpenID}, []string{"https://rp.example.com/cb"}, bclIssuer
		if err := store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// signIn opens a login session linked to clients and returns its cookie
// and session ID.
func (e *bclEnv) signIn(t *testing.T, clients ...string) (cookie, sid string) {
	t.Helper()
	ctx := context.Background()
	cookie, login, err := e.p.StartLogin(ctx, bclAccount, "wx-web")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if err := e.p.LinkLogin(ctx, &AuthorizeRequest{ClientID: c}, login); err != nil {
			t.Fatal(err)
		}
	}
	return cookie, login.SessionID
}

func (e *bclEnv) logout(t *testing.T, cookie string) {
	t.Helper()
	if _, _, err := e.p.EndLogin(context.Background(), cookie); err != nil {
		t.Fatal(err)
	}
}

// outcome waits for the next delivery outcome.
func (e *bclEnv) outcome(t *testing.T) string {
	t.Helper()
	select {
	case o := <-e.outcomes:
		return o
	case <-time.After(bclLogWaitOK):
		t.Fatal("no back-channel logout outcome")
		return ""
	}
}

// verify checks token's signature against the published JWKS with go-jose
// v4 and returns its header and claims.
func (e *bclEnv) verify(t *testing.T, token string) (jose.Header, map[string]json.RawMessage) {
	t.Helper()
	body, _ := e.km.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatalf("parse logout token: %v", err)
	}
	h := jws.Signatures[0].Header
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in the JWKS", h.KeyID, len(keys))
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("verify logout token: %v", err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return h, claims
}

func TestBackchannelLogoutToken(t *testing.T) {
	e := newBCLEnv(t, BackchannelConfig{})
	cookie, sid := e.signIn(t, bclClientES, bclClientRS, bclNoURI, "never-registered")
	e.logout(t, cookie)
	for range 2 {
		if o := e.outcome(t); o != BackchannelDelivered {
			t.Fatalf("outcome %q", o)
		}
	}
	e.p.Close()
	got := e.receiver.got()
	if len(got) != 2 {
		t.Fatalf("%d requests, want one per client with a URI", len(got))
	}
	seen := map[string]string{}
	for _, r := range got {
		if r.contentType != "application/x-www-form-urlencoded" || len(r.form) != 1 {
			t.Errorf("request: %q %v, want a form with logout_token alone", r.contentType, r.form)
		}
		h, claims := e.verify(t, r.token)
		var aud string
		_ = json.Unmarshal(claims["aud"], &aud)
		seen[aud] = h.Algorithm
		if typ := h.ExtraHeaders["typ"]; typ != LogoutTokenType {
			t.Errorf("%s: typ %v", aud, typ)
		}
		str := func(k string) string {
			var s string
			_ = json.Unmarshal(claims[k], &s)
			return s
		}
		num := func(k string) int64 {
			var n int64
			_ = json.Unmarshal(claims[k], &n)
			return n
		}
		if str("iss") != bclIssuer || str("sub") != bclAccount || str("sid") != sid || str("jti") == "" {
			t.Errorf("%s: claims %s", aud, claims)
		}
		if num("iat") != e.now.Unix() || num("exp") != e.now.Add(2*time.Minute).Unix() {
			t.Errorf("%s: iat %d exp %d, want %d and 2 minutes later", aud, num("iat"), num("exp"), e.now.Unix())
		}
		if ev := string(claims["events"]); ev != `{"http://schemas.openid.net/event/backchannel-logout":{}}` {
			t.Errorf("%s: events %s", aud, ev)
		}
		if _, ok := claims["nonce"]; ok {
			t.Errorf("%s: a logout token must not carry a nonce (§2.4)", aud)
		}
	}
	if seen[bclClientES] != "ES256" || seen[bclClientRS] != "RS256" {
		t.Errorf("audiences and algorithms %v, want each client's ID-token algorithm", seen)
	}
	if strings.Contains(e.logs.String(), got[0].token) {
		t.Error("the logout token is in the logs")
	}
}

func TestBackchannelRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answers  []int
		outcome  string
		requests int
		sleeps   []time.Duration
	}{
		{"500 then 200", []int{500, 200}, BackchannelDelivered, 2, []time.Duration{10 * time.Second}},
		{"500, 503, then 204", []int{500, 503, 204}, BackchannelDelivered, 3, []time.Duration{10 * time.Second, 20 * time.Second}},
		{"always 500", []int{500, 500, 500, 500}, BackchannelFailed, 3, []time.Duration{10 * time.Second, 20 * time.Second}},
		{"a redirect is not followed", []int{302, 302, 302}, BackchannelFailed, 3, []time.Duration{10 * time.Second, 20 * time.Second}},
		{"202 is not success", []int{202, 200}, BackchannelDelivered, 2, []time.Duration{10 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newBCLEnv(t, BackchannelConfig{})
			e.receiver.answers = tc.answers
			cookie, _ := e.signIn(t, bclClientRS)
			e.logout(t, cookie)
			if o := e.outcome(t); o != tc.outcome {
				t.Errorf("outcome %q, want %q", o, tc.outcome)
			}
			e.p.Close()
			got := e.receiver.got()
			if len(got) != tc.requests {
				t.Errorf("%d requests, want %d", len(got), tc.requests)
			}
			for _, r := range got {
				if r.token != got[0].token {
					t.Error("a retry sent another token")
				}
			}
			if s := e.sleeps.get(); !slices.Equal(s, tc.sleeps) {
				t.Errorf("backoff %v, want %v", s, tc.sleeps)
			}
			logs := e.logs.String()
			if tc.outcome == BackchannelFailed {
				if !strings.Contains(logs, "giving up") || !strings.Contains(logs, "client_id="+bclClientRS) || !strings.Contains(logs, "host="+strings.TrimPrefix(e.receiver.srv.URL, "http://")) {
					t.Errorf("logs lack the warning with client and host:\n%s", logs)
				}
			}
			if strings.Contains(logs, got[0].token) || strings.Contains(logs, "tenant=1") {
				t.Errorf("logs hold the token or the URI's query:\n%s", logs)
			}
		})
	}
}

func TestBackchannelUnusableURI(t *testing.T) {
	e := newBCLEnv(t, BackchannelConfig{})
	// Stored without the registration checks, as an older release might have.
	bad := storage.Client{ID: "bcl-plain-http", Name: "x", TokenEndpointAuthMethod: AuthMethodNone, GrantTypes: []string{GrantTypeAuthorizationCode},
		Scopes: []string{ScopeOpenID}, RedirectURIs: []string{"https://rp.example.com/cb"}, BackchannelLogoutURI: "http://rp.example.com/bcl"}
	if err := e.store.CreateClient(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	cookie, _ := e.signIn(t, bad.ID)
	e.logout(t, cookie)
	if o := e.outcome(t); o != BackchannelFailed {
		t.Errorf("outcome %q, want failed", o)
	}
	if !strings.Contains(e.logs.String(), "unusable URI") {
		t.Errorf("logs: %s", e.logs.String())
	}
}

// A full queue drops new deliveries, and EndLogin never waits for one.
func TestBackchannelQueueFull(t *testing.T) {
	e := newBCLEnv(t, BackchannelConfig{QueueSize: 1, Workers: 1})
	release := make(chan struct{})
	e.receiver.hold = release
	first, _ := e.signIn(t, bclClientRS)
	e.logout(t, first)
	select { // the only worker is now busy with the first delivery
	case <-e.receiver.arrived:
	case <-time.After(bclLogWaitOK):
		t.Fatal("the first delivery never arrived")
	}
	second, _ := e.signIn(t, bclClientRS)
	e.logout(t, second) // queued
	third, _ := e.signIn(t, bclClientRS)
	e.logout(t, third) // dropped, at once
	if o := e.outcome(t); o != BackchannelDropped {
		t.Fatalf("outcome %q, want dropped", o)
	}
	if !strings.Contains(e.logs.String(), "queue is full") {
		t.Errorf("logs: %s", e.logs.String())
	}
	close(release)
	for range 2 {
		if o := e.outcome(t); o != BackchannelDelivered {
			t.Errorf("outcome %q, want delivered", o)
		}
	}
	e.p.Close()
	if n := len(e.receiver.got()); n != 2 {
		t.Errorf("%d deliveries, want 2", n)
	}
}

// After Close, nothing is sent and nothing blocks; Close is idempotent.
func TestBackchannelClose(t *testing.T) {
	e := newBCLEnv(t, BackchannelConfig{})
	e.p.Close()
	cookie, _ := e.signIn(t, bclClientRS)
	e.logout(t, cookie)
	if o := e.outcome(t); o != BackchannelDropped {
		t.Errorf("outcome %q, want dropped", o)
	}
	e.p.Close()
	if n := len(e.receiver.got()); n != 0 {
		t.Errorf("%d deliveries after Close", n)
	}
}

// Close cancels a backoff wait; the delivery counts as failed.
func TestBackchannelCloseDuringBackoff(t *testing.T) {
	waiting := make(chan struct{})
	e := newBCLEnv(t, BackchannelConfig{Sleep: func(ctx context.Context, _ time.Duration) error {
		close(waiting)
		<-ctx.Done()
		return ctx.Err()
	}})
	e.receiver.answers = []int{500}
	cookie, _ := e.signIn(t, bclClientRS)
	e.logout(t, cookie)
	<-waiting
	e.p.Close()
	if o := e.outcome(t); o != BackchannelFailed {
		t.Errorf("outcome %q, want failed", o)
	}
	if n := len(e.receiver.got()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// Shutdown lets queued deliveries finish, and gives up on what is left
// when its context ends.
func TestBackchannelShutdown(t *testing.T) {
	e := newBCLEnv(t, BackchannelConfig{Workers: 1})
	release := make(chan struct{})
	e.receiver.hold = release
	first, _ := e.signIn(t, bclClientRS)
	e.logout(t, first)
	<-e.receiver.arrived
	second, _ := e.signIn(t, bclClientRS)
	e.logout(t, second) // queued behind the first
	done := make(chan struct{})
	go func() { e.p.Shutdown(context.Background()); close(done) }()
	close(release)
	for range 2 {
		if o := e.outcome(t); o != BackchannelDelivered {
			t.Errorf("outcome %q, want delivered", o)
		}
	}
	<-done
	if n := len(e.receiver.got()); n != 2 {
		t.Errorf("%d deliveries, want 2", n)
	}

	// With its context done, Shutdown abandons the queue.
	e2 := newBCLEnv(t, BackchannelConfig{Workers: 1})
	e2.receiver.hold = make(chan struct{}) // never released
	a, _ := e2.signIn(t, bclClientRS)
	e2.logout(t, a)
	<-e2.receiver.arrived
	b, _ := e2.signIn(t, bclClientRS)
	e2.logout(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e2.p.Shutdown(ctx)
	got := []string{e2.outcome(t), e2.outcome(t)}
	slices.Sort(got)
	if !slices.Equal(got, []string{BackchannelDropped, BackchannelFailed}) {
		t.Errorf("outcomes %v, want the running one failed and the queued one dropped", got)
	}
}
