package web

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
	"github.com/wxoidc/wxoidc/storage"
)

const (
	opsAuth = "Bearer ops-token-0123456789abcdef0123456789"
	ciAuth  = "Bearer ci-token-0123456789abcdef0123456789ab"
)

type recordedRequest struct {
	route  string
	status int
}

type requestLog struct {
	mu   sync.Mutex
	seen []recordedRequest
}

func (l *requestLog) ObserveRequest(route string, status int, _ time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, recordedRequest{route, status})
}

// adminFixture is the admin listener over a real admin.Service. Every
// answer of a documented route is checked against the OpenAPI document.
type adminFixture struct {
	t   *testing.T
	h   http.Handler
	env *admintest.Env
	doc *openapi3.T
	log *bytes.Buffer
}

func newTestAdmin(t *testing.T, obs RequestObserver) *adminFixture {
	t.Helper()
	env := admintest.New(t, nil)
	var logs bytes.Buffer
	h, err := NewAdminHandler(AdminConfig{
		Tokens: []AdminToken{
			{Name: "ops", Token: strings.TrimPrefix(opsAuth, "Bearer ")},
			{Name: "ci", Token: strings.TrimPrefix(ciAuth, "Bearer ")},
		},
		Service:  env.Service,
		Logger:   slog.New(slog.NewJSONHandler(&logs, nil)),
		Metrics:  http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics here")) }),
		Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &adminFixture{t: t, h: h, env: env, doc: loadAdminOpenAPI(t), log: &logs}
}

// do sends a request; a body is sent as JSON.
func (f *adminFixture) do(method, path, auth, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	checkAdminResponse(f.t, f.doc, f.h, req, rec)
	return rec
}

// json calls the API as ops, checks the status and decodes the answer.
func (f *adminFixture) json(method, path, body string, want int, into any) {
	f.t.Helper()
	rec := f.do(method, path, opsAuth, body)
	if rec.Code != want {
		f.t.Fatalf("%s %s: %d %s, want %d", method, path, rec.Code, rec.Body, want)
	}
	if into != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
			f.t.Fatalf("%s %s: %v: %s", method, path, err, rec.Body)
		}
	}
}

func errorBody(t *testing.T, rec *httptest.ResponseRecorder) oauthError {
	t.Helper()
	var e oauthError
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body is not JSON: %q", rec.Body.String())
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
	}
	return e
}

func TestAdminRejectsMissingWrongAndEmptyTokens(t *testing.T) {
	f := newTestAdmin(t, nil)
	cases := []struct {
		name, auth, wantError string
		wantChallengeError    bool
	}{
		{"missing", "", "invalid_request", false},
		{"other scheme", "Basic b3BzOnNlY3JldA==", "invalid_request", false},
		{"bearer prefix of a longer word", "Bearerops-token-0123456789abcdef0123456789", "invalid_request", false},
		{"empty bearer", "Bearer", "invalid_token", true},
		{"blank bearer", "Bearer    ", "invalid_token", true},
		{"wrong", "Bearer not-the-token", "invalid_token", true},
		{"prefix of a token", "Bearer ops-token-0123456789abcdef", "invalid_token", true},
		{"token plus suffix", opsAuth + "x", "invalid_token", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []struct{ method, path string }{
				{"GET", "/admin/v1/keys"}, {"POST", "/admin/v1/clients"}, {"GET", "/admin/v1/openapi.json"}, {"GET", "/admin/v1/no-such-route"},
			} {
				rec := f.do(req.method, req.path, tc.auth, "")
				if rec.Code != http.StatusUnauthorized {
					t.Fatalf("%s %s: status %d, want 401: %s", req.method, req.path, rec.Code, rec.Body)
				}
				if e := errorBody(t, rec); e.Error != tc.wantError || e.Description == "" {
					t.Errorf("%s %s: body %+v, want error %q with a description", req.method, req.path, e, tc.wantError)
				}
				ch := rec.Header().Get("WWW-Authenticate")
				if !strings.HasPrefix(ch, "Bearer realm=") || strings.Contains(ch, `error="invalid_token"`) != tc.wantChallengeError {
					t.Errorf("WWW-Authenticate = %q", ch)
				}
			}
		})
	}
	if n, err := f.env.Store.ListClients(t.Context()); err != nil || len(n) != 0 {
		t.Errorf("a refused request created a client: %v %v", n, err)
	}
}

// Each token is its own actor in the audit log.
func TestAdminAuditsEachTokenByName(t *testing.T) {
	f := newTestAdmin(t, nil)
	for _, auth := range []string{opsAuth, "bearer   " + strings.TrimPrefix(ciAuth, "Bearer ") + "  "} {
		if rec := f.do("POST", "/admin/v1/clients", auth, `{}`); rec.Code != http.StatusCreated {
			t.Fatalf("%q: %d %s", auth, rec.Code, rec.Body)
		}
	}
	var page admin.AuditPage
	f.json("GET", "/admin/v1/audit?limit=2", "", http.StatusOK, &page)
	if len(page.Events) != 2 || page.Events[0].Actor != "admin-api:ci" || page.Events[1].Actor != "admin-api:ops" ||
		page.Events[0].Action != "clients.create" || page.NextBefore != page.Events[1].ID {
		t.Errorf("audit page: %+v", page)
	}
}

func TestAdminBodiesAndRoutes(t *testing.T) {
	f := newTestAdmin(t, nil)
	for _, tc := range []struct {
		method, path, body string
		status             int
		errCode            string
	}{
		{"POST", "/admin/v1/clients", `{"name":3}`, http.StatusBadRequest, "invalid_request"},
		{"POST", "/admin/v1/clients", `{"name":"x","extra":true}`, http.StatusBadRequest, "invalid_request"},
		{"POST", "/admin/v1/clients", `{`, http.StatusBadRequest, "invalid_request"},
		{"POST", "/admin/v1/clients", `{"grant_types":["password"]}`, http.StatusBadRequest, "invalid_request"},
		{"GET", "/admin/v1/audit?limit=x", "", http.StatusBadRequest, "invalid_request"},
		{"GET", "/admin/v1/audit?before=-1", "", http.StatusBadRequest, "invalid_request"},
		{"GET", "/admin/v1/no-such-route", "", http.StatusNotFound, "not_found"},
		{"DELETE", "/admin/v1/keys", "", http.StatusMethodNotAllowed, "invalid_request"},
	} {
		rec := f.do(tc.method, tc.path, opsAuth, tc.body)
		if rec.Code != tc.status || errorBody(t, rec).Error != tc.errCode {
			t.Errorf("%s %s %s: %d %s, want %d %s", tc.method, tc.path, tc.body, rec.Code, rec.Body, tc.status, tc.errCode)
		}
	}
	// A form body is refused before it is read.
	req := httptest.NewRequest("POST", "/admin/v1/clients", strings.NewReader("name=x"))
	req.Header.Set("Authorization", opsAuth)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	checkAdminResponse(t, f.doc, f.h, req, rec)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("form body: %d", rec.Code)
	}
}

// The unversioned API paths are gone: a token does not make them exist.
func TestAdminUnversionedPathsAreGone(t *testing.T) {
	f := newTestAdmin(t, nil)
	for _, path := range []string{"/admin/keys", "/admin/clients", "/admin/audit", "/admin/openapi.json", "/admin/", "/admin"} {
		if rec := f.do("GET", path, opsAuth, ""); rec.Code != http.StatusNotFound || errorBody(t, rec).Error != "not_found" {
			t.Errorf("GET %s: %d %s, want 404", path, rec.Code, rec.Body)
		}
	}
}

func TestAdminErrorStatuses(t *testing.T) {
	f := newTestAdmin(t, nil)
	f.json("POST", "/admin/v1/clients", `{"client_id":"svc"}`, http.StatusCreated, nil)
	for _, tc := range []struct {
		method, path, body string
		status             int
		errCode            string
	}{
		{"POST", "/admin/v1/clients", `{"client_id":"svc"}`, http.StatusConflict, "conflict"},
		{"GET", "/admin/v1/clients/nope", "", http.StatusNotFound, "not_found"},
		{"PATCH", "/admin/v1/clients/nope", `{"name":"x"}`, http.StatusNotFound, "not_found"},
		{"DELETE", "/admin/v1/clients/nope", "", http.StatusNotFound, "not_found"},
		{"POST", "/admin/v1/keys/rotate", `{"alg":"ES256"}`, http.StatusConflict, "rotation_too_soon"},
		{"POST", "/admin/v1/keys/rotate", `{"alg":"HS256","force":true}`, http.StatusBadRequest, "invalid_request"},
		{"POST", "/admin/v1/keys/revoke", `{"kid":"nope"}`, http.StatusNotFound, "not_found"},
		{"POST", "/admin/v1/keys/revoke", `{}`, http.StatusBadRequest, "invalid_request"},
		{"GET", "/admin/v1/accounts/nope", "", http.StatusNotFound, "not_found"},
		{"POST", "/admin/v1/accounts/nope/disable", "", http.StatusNotFound, "not_found"},
		{"POST", "/admin/v1/accounts/search", `{"sub":"a","openid":"b"}`, http.StatusBadRequest, "invalid_request"},
	} {
		rec := f.do(tc.method, tc.path, opsAuth, tc.body)
		if rec.Code != tc.status || errorBody(t, rec).Error != tc.errCode {
			t.Errorf("%s %s %s: %d %s, want %d %s", tc.method, tc.path, tc.body, rec.Code, rec.Body, tc.status, tc.errCode)
		}
	}
}

// An internal failure is a 500 without detail; the detail goes to the log.
func TestAdminInternalErrorsHideTheirDetail(t *testing.T) {
	f := newTestAdmin(t, nil)
	if err := f.env.Store.Close(); err != nil {
		t.Fatal(err)
	}
	rec := f.do("GET", "/admin/v1/clients", opsAuth, "")
	e := errorBody(t, rec)
	if rec.Code != http.StatusInternalServerError || e.Error != "server_error" {
		t.Fatalf("closed store: %d %s", rec.Code, rec.Body)
	}
	if d := strings.ToLower(e.Description); strings.Contains(d, "sql") || strings.Contains(d, "closed") || strings.Contains(d, "listing") {
		t.Errorf("the answer leaks the cause: %q", e.Description)
	}
	logged := f.log.String()
	if !strings.Contains(logged, "admin request failed") || !strings.Contains(logged, `"route":"/admin/v1/clients"`) ||
		!strings.Contains(logged, `"actor":"admin-api:ops"`) || !strings.Contains(logged, "listing clients") {
		t.Errorf("the cause is not logged: %s", logged)
	}
}

// A walk through every operation; each answer is checked against the
// document by the fixture.
func TestAdminResponsesMatchTheDocument(t *testing.T) {
	f := newTestAdmin(t, nil)
	var created admin.ClientView
	f.json("POST", "/admin/v1/clients", `{"client_id":"svc","name":"Service","audiences":["https://api.example"]}`, http.StatusCreated, &created)
	if created.ClientSecret == "" {
		t.Error("no secret on creation")
	}
	f.json("POST", "/admin/v1/clients", `{"client_id":"mini","wechat_appid":"`+admintest.AppID+`"}`, http.StatusCreated, nil)
	rec := f.do("GET", "/admin/v1/clients/svc", opsAuth, "")
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"client_secret"`) {
		t.Errorf("show: %d %s", rec.Code, rec.Body)
	}
	f.json("PATCH", "/admin/v1/clients/svc", `{"rotate_secret":true,"jwks":null}`, http.StatusOK, nil)
	f.json("GET", "/admin/v1/clients", "", http.StatusOK, nil)

	var ks struct {
		Keys []struct{ KID, State, Alg string }
	}
	f.json("GET", "/admin/v1/keys", "", http.StatusOK, &ks)
	f.json("POST", "/admin/v1/keys/rotate", `{"alg":"EdDSA","force":true}`, http.StatusOK, nil)
	var current string
	for _, k := range ks.Keys {
		if k.State == "current" {
			current = k.KID
		}
	}
	f.json("POST", "/admin/v1/keys/revoke", `{"kid":"`+current+`","revoke_tokens":true}`, http.StatusOK, nil)

	ctx := t.Context()
	now := time.Now().UTC()
	_, acc, err := f.env.Store.ResolveWeChatLogin(ctx, storage.WeChatLogin{AppID: admintest.AppID, OpenID: "o-1", UnionID: "u-1", NewAccountID: "sub-1", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	f.json("POST", "/admin/v1/accounts/search", `{"openid":"o-1"}`, http.StatusOK, nil)
	f.json("GET", "/admin/v1/accounts/"+acc.ID, "", http.StatusOK, nil)
	f.json("POST", "/admin/v1/accounts/"+acc.ID+"/disable", "", http.StatusOK, nil)
	f.json("POST", "/admin/v1/accounts/"+acc.ID+"/enable", "", http.StatusOK, nil)
	f.json("POST", "/admin/v1/accounts/"+acc.ID+"/revoke-tokens", "", http.StatusOK, nil)
	if rec := f.do("DELETE", "/admin/v1/clients/mini", opsAuth, ""); rec.Code != http.StatusNoContent {
		t.Errorf("delete: %d %s", rec.Code, rec.Body)
	}
	f.json("GET", "/admin/v1/audit", "", http.StatusOK, nil)
	f.json("GET", "/admin/v1/openapi.json", "", http.StatusOK, nil)
}

func TestAdminMetricsAndHealthNeedNoToken(t *testing.T) {
	obs := &requestLog{}
	f := newTestAdmin(t, obs)
	for _, path := range []string{"/metrics", PathHealth, PathReady} {
		if rec := f.do("GET", path, "", ""); rec.Code != http.StatusOK {
			t.Errorf("%s: %d", path, rec.Code)
		}
	}
	f.do("GET", "/admin/v1/keys", "Bearer wrong", "")
	f.do("GET", "/admin/v1/keys", opsAuth, "")
	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := []recordedRequest{{"/metrics", 200}, {PathHealth, 200}, {PathReady, 200}, {"/admin/v1/*", 401}, {"/admin/v1/keys", 200}}
	if len(obs.seen) != len(want) {
		t.Fatalf("observed %+v, want %+v", obs.seen, want)
	}
	for i := range want {
		if obs.seen[i] != want[i] {
			t.Errorf("observation %d = %+v, want %+v", i, obs.seen[i], want[i])
		}
	}
}

func TestAdminConfigRefusesEmptyTokensAndNoService(t *testing.T) {
	svc := admintest.New(t, nil).Service
	if _, err := NewAdminHandler(AdminConfig{Service: svc, Tokens: []AdminToken{{Name: "x", Token: ""}}}); err == nil {
		t.Error("an empty token was accepted")
	}
	if _, err := NewAdminHandler(AdminConfig{Service: svc, Tokens: []AdminToken{{Name: "", Token: "tok"}}}); err == nil {
		t.Error("a token without a name was accepted")
	}
	if _, err := NewAdminHandler(AdminConfig{Tokens: []AdminToken{{Name: "x", Token: "tok"}}}); err == nil {
		t.Error("a handler without a service was built")
	}
}
