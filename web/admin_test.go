package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
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

func newTestAdmin(t *testing.T, obs RequestObserver) http.Handler {
	t.Helper()
	h, err := NewAdminHandler(AdminConfig{
		Tokens: []AdminToken{
			{Name: "ops", Token: "ops-token-0123456789abcdef0123456789"},
			{Name: "ci", Token: "ci-token-0123456789abcdef0123456789ab"},
		},
		Routes: func(r chi.Router) {
			r.Get("/whoami", func(w http.ResponseWriter, r *http.Request) {
				WriteJSON(w, http.StatusOK, map[string]string{"actor": AdminActor(r.Context())})
			})
			r.Post("/echo", func(w http.ResponseWriter, r *http.Request) {
				var in struct {
					N int `json:"n"`
				}
				if DecodeJSON(w, r, &in) {
					WriteJSON(w, http.StatusOK, in)
				}
			})
		},
		Metrics:  http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics here")) }),
		Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func do(h http.Handler, method, path, auth, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
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
	h := newTestAdmin(t, nil)
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
		{"token plus suffix", "Bearer ops-token-0123456789abcdef0123456789x", "invalid_token", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []struct{ method, path string }{{"GET", "/admin/whoami"}, {"POST", "/admin/echo"}, {"GET", "/admin/no-such-route"}} {
				rec := do(h, req.method, req.path, tc.auth, "")
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
}

func TestAdminAcceptsEachTokenAndNamesTheCaller(t *testing.T) {
	h := newTestAdmin(t, nil)
	for _, tc := range []struct{ auth, actor string }{
		{"Bearer ops-token-0123456789abcdef0123456789", "ops"},
		{"bearer   ci-token-0123456789abcdef0123456789ab  ", "ci"},
	} {
		rec := do(h, "GET", "/admin/whoami", tc.auth, "")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"actor": "`+tc.actor+`"`) {
			t.Errorf("%q: %d %s", tc.auth, rec.Code, rec.Body)
		}
	}
}

func TestAdminBodiesAndRoutes(t *testing.T) {
	h := newTestAdmin(t, nil)
	auth := "Bearer ops-token-0123456789abcdef0123456789"
	if rec := do(h, "POST", "/admin/echo", auth, `{"n":3}`); rec.Code != http.StatusOK {
		t.Errorf("echo: %d %s", rec.Code, rec.Body)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		errCode            string
	}{
		{"POST", "/admin/echo", `{"n":"x"}`, http.StatusBadRequest, "invalid_request"},
		{"POST", "/admin/echo", `{"n":1,"extra":true}`, http.StatusBadRequest, "invalid_request"},
		{"POST", "/admin/echo", `{`, http.StatusBadRequest, "invalid_request"},
		{"GET", "/admin/no-such-route", "", http.StatusNotFound, "not_found"},
		{"DELETE", "/admin/whoami", "", http.StatusMethodNotAllowed, "invalid_request"},
	} {
		rec := do(h, tc.method, tc.path, auth, tc.body)
		if rec.Code != tc.status || errorBody(t, rec).Error != tc.errCode {
			t.Errorf("%s %s %s: %d %s, want %d %s", tc.method, tc.path, tc.body, rec.Code, rec.Body, tc.status, tc.errCode)
		}
	}
	// A form body is refused before it is read.
	req := httptest.NewRequest("POST", "/admin/echo", strings.NewReader("n=1"))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("form body: %d", rec.Code)
	}
}

func TestAdminMetricsAndHealthNeedNoToken(t *testing.T) {
	obs := &requestLog{}
	h := newTestAdmin(t, obs)
	for _, path := range []string{"/metrics", PathHealth, PathReady} {
		if rec := do(h, "GET", path, "", ""); rec.Code != http.StatusOK {
			t.Errorf("%s: %d", path, rec.Code)
		}
	}
	do(h, "GET", "/admin/whoami", "Bearer wrong", "")
	do(h, "GET", "/admin/whoami", "Bearer ops-token-0123456789abcdef0123456789", "")
	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := []recordedRequest{{"/metrics", 200}, {PathHealth, 200}, {PathReady, 200}, {"/admin/*", 401}, {"/admin/whoami", 200}}
	if len(obs.seen) != len(want) {
		t.Fatalf("observed %+v, want %+v", obs.seen, want)
	}
	for i := range want {
		if obs.seen[i] != want[i] {
			t.Errorf("observation %d = %+v, want %+v", i, obs.seen[i], want[i])
		}
	}
}

func TestAdminConfigRefusesEmptyTokens(t *testing.T) {
	if _, err := NewAdminHandler(AdminConfig{Tokens: []AdminToken{{Name: "x", Token: ""}}}); err == nil {
		t.Error("an empty token was accepted")
	}
	if _, err := NewAdminHandler(AdminConfig{Tokens: []AdminToken{{Name: "", Token: "tok"}}}); err == nil {
		t.Error("a token without a name was accepted")
	}
}
