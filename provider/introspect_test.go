package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

// introspectCase is one token introspected through fosite's path and
// through introspectToken, whose answers must be the same.
type introspectCase struct {
	name   string
	token  func(t *testing.T) string
	hint   string
	active bool
	// fast: introspectToken takes introspectJWT for it.
	fast bool
}

// checkIntrospection compares the two paths' answers for c.
func checkIntrospection(t *testing.T, e *benchEnv, c introspectCase) {
	t.Helper()
	ctx := context.Background()
	tok := c.token(t)
	old, err := e.p.introspectFosite(ctx, tok, c.hint)
	if err != nil {
		t.Fatalf("%s: fosite's path: %v", c.name, err)
	}
	got, err := e.p.introspectToken(ctx, tok, c.hint)
	if err != nil {
		t.Fatalf("%s: introspectToken: %v", c.name, err)
	}
	if !reflect.DeepEqual(got, old) {
		t.Errorf("%s:\n got  %#v\n want %#v (fosite's path)", c.name, got, old)
	}
	if got["active"] != c.active {
		t.Errorf("%s: active = %v, want %v: %v", c.name, got["active"], c.active, got)
	}
	if !c.active && len(got) != 1 {
		t.Errorf("%s: an inactive answer says more: %v", c.name, got)
	}
	if c.fast {
		fast, err := e.p.introspectJWT(ctx, tok)
		if err != nil || !reflect.DeepEqual(fast, old) {
			t.Errorf("%s: introspectJWT = %v, %v; want %v", c.name, fast, err, old)
		}
	}
	if c.hint == "" {
		checkUserInfo(t, e, c.name, tok, c.fast)
	}
}

// checkUserInfo compares UserInfo's answers for tok through fosite's path
// and through UserInfo (and userInfoJWT, when fast): the same claims, or
// errors of the same kind (the UserInfo endpoint answers by kind: 403
// insufficient_scope, 401 invalid_token, or a server error).
func checkUserInfo(t *testing.T, e *benchEnv, name, tok string, fast bool) {
	t.Helper()
	ctx := context.Background()
	want, wantErr := e.p.userInfoFosite(ctx, tok)
	paths := map[string]func(context.Context, string) (map[string]interface{}, error){"UserInfo": e.p.UserInfo}
	if fast {
		paths["userInfoJWT"] = e.p.userInfoJWT
	}
	for path, userInfo := range paths {
		got, err := userInfo(ctx, tok)
		if !reflect.DeepEqual(got, want) || userInfoErrorKind(err) != userInfoErrorKind(wantErr) {
			t.Errorf("%s: %s = %v, %v (%s); fosite's path: %v, %v (%s)", name, path, got, err, userInfoErrorKind(err),
				want, wantErr, userInfoErrorKind(wantErr))
		}
	}
}

// userInfoErrorKind is how the UserInfo endpoint answers err.
func userInfoErrorKind(err error) string {
	if err == nil {
		return "claims"
	}
	e := ErrorOf(err)
	switch {
	case e.Code == "insufficient_scope":
		return "insufficient_scope"
	case e.Status >= 500:
		return "server error"
	default:
		return "invalid_token"
	}
}

// tokens runs a grant and returns its response.
func (e *benchEnv) tokens(t *testing.T, form url.Values, user, pass string) map[string]any {
	t.Helper()
	return e.token(t, tokenRequest(form, user, pass))
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// jwtPart decodes part i of a compact JWS.
func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func b64JSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// TestIntrospectJWTMatchesFosite introspects the same tokens through
// fosite's path and the JWT fast path (introspectJWT), and asks UserInfo
// with them through both paths (userInfoFosite, userInfoJWT), in the order
// that the changes between them (revocations, disables) need.
func TestIntrospectJWTMatchesFosite(t *testing.T) {
	e := newBenchEnv(t, "NORMAL", keys.ES256)
	ctx := context.Background()
	cc := url.Values{"grant_type": {GrantTypeClientCredentials}}
	wechat := func(user, client string) url.Values {
		return url.Values{"grant_type": {GrantTypeWeChat}, "client_id": {client}, "code": {user + ":1"}, "scope": {"openid phone wechat offline_access"}, "phone_code": {user + ":p"}}
	}
	person := e.tokens(t, wechat("alice", benchMini), "", "")
	at := str(person, "access_token")
	var refreshed map[string]any // after the first case: refreshing drops at
	fromRefresh := func(k string) func(*testing.T) string {
		return func(*testing.T) string { return str(refreshed, k) }
	}
	ccTok := str(e.tokens(t, cc, benchBackend, e.ccSecret), "access_token")
	fixed := func(s string) func(*testing.T) string { return func(*testing.T) string { return s } }

	// Confidential clients to disable and to delete, with bench-backend's
	// secret.
	backend, err := e.store.GetClient(ctx, benchBackend)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cc-disabled", "cc-deleted"} {
		c := backend
		c.ID = id
		if err := e.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// A mini-program client whose ID is dave's account ID: its tokens for
	// dave have the client ID as subject and are a person's all the same.
	dave := str(jwtPart(t, str(e.tokens(t, wechat("dave", benchMini), "", ""), "access_token"), 1), "sub")
	mini, err := e.store.GetClient(ctx, benchMini)
	if err != nil {
		t.Fatal(err)
	}
	mini.ID = dave
	if err := e.store.CreateClient(ctx, mini); err != nil {
		t.Fatal(err)
	}
	daveTok := str(e.tokens(t, wechat("dave", dave), "", ""), "access_token")
	if claims := jwtPart(t, daveTok, 1); claims["sub"] != dave || claims["client_id"] != dave {
		t.Fatalf("dave's token for the client named like him: %v", claims)
	}
	cases := []introspectCase{
		{name: "wechat grant", token: fixed(at), active: true, fast: true},
		{name: "refreshed", token: func(t *testing.T) string {
			refreshed = e.tokens(t, url.Values{"grant_type": {GrantTypeRefreshToken}, "client_id": {benchMini}, "refresh_token": {str(person, "refresh_token")}}, "", "")
			return str(refreshed, "access_token")
		}, active: true, fast: true},
		{name: "client credentials", token: fixed(ccTok), active: true, fast: true},
		{name: "without the openid scope", token: func(t *testing.T) string {
			form := wechat("grace", benchMini)
			form.Set("scope", "phone")
			return str(e.tokens(t, form, "", ""), "access_token")
		}, active: true, fast: true},
		{name: "access token with the refresh hint", token: fixed(ccTok), hint: "refresh_token", active: true},
		{name: "refresh token", token: fromRefresh("refresh_token"), active: true},
		{name: "refresh token with its hint", token: fromRefresh("refresh_token"), hint: "refresh_token", active: true},
		{name: "refresh token rotated away", token: fixed(str(person, "refresh_token")), active: false},
		{name: "access token of a rotated refresh token", token: fixed(at), active: false, fast: true},
		{name: "ID token", token: fromRefresh("id_token"), active: false, fast: true},
		{name: "tampered signature", token: func(t *testing.T) string {
			tok := str(e.tokens(t, cc, benchBackend, e.ccSecret), "access_token")
			i := strings.LastIndexByte(tok, '.') + 10
			c := byte('A')
			if tok[i] == 'A' {
				c = 'B'
			}
			return tok[:i] + string(c) + tok[i+1:]
		}, active: false, fast: true},
		{name: "alg none, signature of a stored token", token: func(t *testing.T) string {
			tok := str(e.tokens(t, cc, benchBackend, e.ccSecret), "access_token")
			h := jwtPart(t, tok, 0)
			h["alg"] = "none"
			parts := strings.Split(tok, ".")
			return b64JSON(t, h) + "." + parts[1] + "." + parts[2]
		}, active: false, fast: true},
		{name: "alg none, unsigned", token: func(t *testing.T) string {
			tok := str(e.tokens(t, cc, benchBackend, e.ccSecret), "access_token")
			h := jwtPart(t, tok, 0)
			h["alg"] = "none"
			return b64JSON(t, h) + "." + strings.Split(tok, ".")[1] + "."
		}, active: false, fast: true},
		{name: "garbage", token: fixed("garbage"), active: false},
		{name: "three-part garbage", token: fixed("a.b.c"), active: false, fast: true},
		{name: "revoked", token: func(t *testing.T) string {
			tok := str(e.tokens(t, wechat("bob", benchMini), "", ""), "access_token")
			r := tokenRequest(url.Values{"token": {tok}, "client_id": {benchMini}}, "", "")
			if err := e.p.Revoke(ctx, r); err != nil {
				t.Fatal(err)
			}
			return tok
		}, active: false, fast: true},
		{name: "disabled account", token: func(t *testing.T) string {
			tok := str(e.tokens(t, wechat("carol", benchMini), "", ""), "access_token")
			disableAccount(t, e, str(jwtPart(t, tok, 1), "sub"))
			return tok
		}, active: false, fast: true},
		{name: "subject equal to the client ID, a person's", token: fixed(daveTok), active: true, fast: true},
		{name: "subject equal to the client ID, a person's, disabled", token: func(t *testing.T) string {
			disableAccount(t, e, dave)
			return daveTok
		}, active: false, fast: true},
		{name: "disabled client", token: func(t *testing.T) string {
			tok := str(e.tokens(t, cc, "cc-disabled", e.ccSecret), "access_token")
			if _, err := e.store.UpdateClient(ctx, "cc-disabled", func(c storage.Client) (storage.Client, error) {
				c.Disabled = true
				return c, nil
			}); err != nil {
				t.Fatal(err)
			}
			return tok
		}, active: false, fast: true},
		{name: "deleted client, rows kept", token: func(t *testing.T) string {
			tok := str(e.tokens(t, cc, "cc-deleted", e.ccSecret), "access_token")
			// Only the client look-up sees the deletion: DeleteClient
			// would revoke the tokens too.
			e.p.store.db = &clientsGone{Store: e.p.store.db, gone: "cc-deleted"}
			e.p.InvalidateClient("cc-deleted")
			return tok
		}, active: false, fast: true},
		{name: "deleted client", token: func(t *testing.T) string {
			mini.ID = "mini-deleted"
			if err := e.store.CreateClient(ctx, mini); err != nil {
				t.Fatal(err)
			}
			tok := str(e.tokens(t, wechat("erin", "mini-deleted"), "", ""), "access_token")
			if err := e.store.DeleteClient(ctx, "mini-deleted"); err != nil {
				t.Fatal(err)
			}
			return tok
		}, active: false, fast: true},
		// Last: every token so far is signed with the key it revokes.
		{name: "signed by a revoked key", token: func(t *testing.T) string {
			tok := str(e.tokens(t, cc, benchBackend, e.ccSecret), "access_token")
			if _, err := e.keys.Revoke(ctx, str(jwtPart(t, tok, 0), "kid")); err != nil {
				t.Fatal(err)
			}
			return tok
		}, active: false, fast: true},
		{name: "introspected before its key was revoked", token: fixed(ccTok), active: false, fast: true},
		{name: "signed by the key that replaced it", token: func(t *testing.T) string {
			return str(e.tokens(t, cc, benchBackend, e.ccSecret), "access_token")
		}, active: true, fast: true},
	}
	for _, c := range cases {
		checkIntrospection(t, e, c)
	}
}

// clientsGone is a Store in which one client no longer exists.
type clientsGone struct {
	Store
	gone string
}

func (c *clientsGone) GetClient(ctx context.Context, id string) (storage.Client, error) {
	if id == c.gone {
		return storage.Client{}, storage.ErrNotFound
	}
	return c.Store.GetClient(ctx, id)
}

// An expired token is inactive through both paths, from the second after
// its exp (fosite's check: whole seconds, exp inclusive).
func TestIntrospectExpiredJWT(t *testing.T) {
	e := newBenchEnvWith(t, "NORMAL", keys.ES256, func(c *Config) { c.AccessTokenLifetime = time.Second })
	tok := str(e.tokens(t, url.Values{"grant_type": {GrantTypeClientCredentials}}, benchBackend, e.ccSecret), "access_token")
	checkIntrospection(t, e, introspectCase{name: "fresh", token: func(*testing.T) string { return tok }, active: true, fast: true})
	exp, _ := jwtPart(t, tok, 1)["exp"].(float64)
	time.Sleep(time.Until(time.Unix(int64(exp)+1, 0)))
	checkIntrospection(t, e, introspectCase{name: "expired", token: func(*testing.T) string { return tok }, active: false, fast: true})
}

// The fast path checks exp and iss with the provider's clock and issuer.
func TestIntrospectJWTClaims(t *testing.T) {
	e := newBenchEnv(t, "NORMAL", keys.ES256)
	ctx := context.Background()
	tok := str(e.tokens(t, url.Values{"grant_type": {GrantTypeClientCredentials}}, benchBackend, e.ccSecret), "access_token")
	exp, _ := jwtPart(t, tok, 1)["exp"].(float64)
	for _, c := range []struct {
		name   string
		now    time.Time
		issuer string
		active bool
	}{
		{"at exp", time.Unix(int64(exp), 999e6), benchIssuer, true},
		{"after exp", time.Unix(int64(exp)+1, 0), benchIssuer, false},
		{"before iat", time.Now().Add(-time.Minute), benchIssuer, false},
		{"another issuer", time.Now(), benchIssuer + "/other", false},
	} {
		e.p.now = func() time.Time { return c.now }
		e.p.issuer = c.issuer
		out, err := e.p.introspectJWT(ctx, tok)
		if err != nil || out["active"] != c.active {
			t.Errorf("%s: %v %v, want active %v", c.name, out, err, c.active)
		}
	}
}

// A storage failure is an error, not an inactive token.
func TestIntrospectJWTStorageFailure(t *testing.T) {
	e := newBenchEnv(t, "NORMAL", keys.ES256)
	person := str(e.tokens(t, url.Values{"grant_type": {GrantTypeWeChat}, "client_id": {benchMini}, "code": {"frank:1"}}, "", ""), "access_token")
	client := str(e.tokens(t, url.Values{"grant_type": {GrantTypeClientCredentials}}, benchBackend, e.ccSecret), "access_token")
	for _, c := range []struct {
		name  string
		token string
		fail  failingStore
	}{
		{"token read", client, failingStore{tokens: true}},
		{"client read", client, failingStore{clients: true}},
		{"account read", person, failingStore{accounts: true}},
	} {
		f := c.fail
		f.Store = e.store
		e.p.store.db = &f
		e.p.InvalidateClient("")
		out, err := e.p.introspectToken(context.Background(), c.token, "")
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s failing: %v %v, want ErrUnavailable", c.name, out, err)
		}
	}
	e.p.store.db = e.store
	r := tokenRequest(url.Values{"token": {client}}, benchBackend, e.ccSecret)
	e.p.InvalidateClient("")
	if out, err := e.p.Introspect(context.Background(), r); err != nil || out["active"] != true {
		t.Fatalf("after the failures: %v %v", out, err)
	}
	e.p.store.db = &failingStore{Store: e.store, tokens: true}
	if _, err := e.p.Introspect(context.Background(), tokenRequest(url.Values{"token": {client}}, benchBackend, e.ccSecret)); ErrorOf(err).Status < http.StatusInternalServerError {
		t.Errorf("token read failing: %+v, want a 5xx", ErrorOf(err))
	}
}

// failingStore fails the reads introspection makes.
type failingStore struct {
	Store
	tokens, clients, accounts bool
}

func (f *failingStore) GetTokenSession(ctx context.Context, kind storage.SessionKind, sig string) (storage.TokenSession, error) {
	if f.tokens {
		return storage.TokenSession{}, storage.ErrUnavailable
	}
	return f.Store.GetTokenSession(ctx, kind, sig)
}

// GetTokenSessionWithAccount reads the token and the account at once: it
// fails when either read is set to.
func (f *failingStore) GetTokenSessionWithAccount(ctx context.Context, kind storage.SessionKind, sig string) (storage.TokenSession, storage.AccountState, error) {
	if f.tokens || f.accounts {
		return storage.TokenSession{}, storage.AccountState{}, storage.ErrUnavailable
	}
	return f.Store.GetTokenSessionWithAccount(ctx, kind, sig)
}

func (f *failingStore) GetClient(ctx context.Context, id string) (storage.Client, error) {
	if f.clients {
		return storage.Client{}, storage.ErrUnavailable
	}
	return f.Store.GetClient(ctx, id)
}

func (f *failingStore) GetAccount(ctx context.Context, id string) (storage.Account, error) {
	if f.accounts {
		return storage.Account{}, storage.ErrUnavailable
	}
	return f.Store.GetAccount(ctx, id)
}

func disableAccount(t *testing.T, e *benchEnv, sub string) {
	t.Helper()
	if _, err := e.store.UpdateAccount(context.Background(), sub, func(a storage.Account) (storage.Account, error) {
		a.Disabled = true
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// codeFlowToken signs user in with the WeChat grant, then through a browser
// sign-in of the public client (authorization code grant, PKCE), and returns
// the access token the code was exchanged for, the account and the
// authorization request.
func codeFlowToken(t *testing.T, e *benchEnv, user string) (string, string, *AuthorizeRequest) {
	t.Helper()
	ctx := context.Background()
	grant := url.Values{"grant_type": {GrantTypeWeChat}, "client_id": {benchMini}, "code": {user + ":1"}}
	sub := str(jwtPart(t, str(e.tokens(t, grant, "", ""), "access_token"), 1), "sub")
	ar, err := e.p.ParseAuthorize(ctx, authzForm(authzPublic, authzLoopback), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	redirect, err := e.p.CompleteAuthorize(ctx, ar, Login{AccountID: sub, AuthTime: time.Now(), AMR: []string{AMRWeChat}, AppID: benchAppID})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	tok := str(e.tokens(t, url.Values{"grant_type": {GrantTypeAuthorizationCode}, "client_id": {authzPublic}, "code": {u.Query().Get("code")},
		"redirect_uri": {authzLoopback}, "code_verifier": {"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}}, "", ""), "access_token")
	return tok, sub, ar
}

// A browser sign-in's token (authorization code grant, PKCE) answers the
// same through both paths, before and after its account is disabled.
func TestIntrospectJWTCodeFlow(t *testing.T) {
	e := newAuthzEnv(t)
	tok, sub, _ := codeFlowToken(t, e, "gina")
	checkIntrospection(t, e, introspectCase{name: "code flow", token: func(*testing.T) string { return tok }, active: true, fast: true})
	disableAccount(t, e, sub)
	checkIntrospection(t, e, introspectCase{name: "code flow, account disabled", token: func(*testing.T) string { return tok }, active: false, fast: true})
}
