package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/postgres/pgtest"
	"github.com/wxoidc/wxoidc/web"
)

const admToken = "ops-admin-token-0123456789abcdef01234"

// admStack is a running instance with its admin listener.
type admStack struct {
	*stack
	adminURL string
	doc      *openapi3.T // the OpenAPI document the admin listener serves; loaded on first use
}

func withAdmin(c *config.Config) {
	c.Admin.Addr = "127.0.0.1:0" // enables the handler; the test serves it itself
	c.Admin.Tokens = []config.AdminToken{{Name: "ops", Token: config.InlineSecret(admToken)}}
	c.Keys.ClockSkew = config.D(100 * time.Millisecond)
}

func newAdmStack(t *testing.T, opts ...stackOption) *admStack {
	t.Helper()
	s := newStack(t, append([]stackOption{withAdmin}, opts...)...)
	if s.App.Admin == nil {
		t.Fatal("admin handler not built")
	}
	srv := httptest.NewServer(s.App.Admin)
	t.Cleanup(srv.Close)
	return &admStack{stack: s, adminURL: srv.URL}
}

// admDo calls the admin listener; body is marshalled as JSON unless nil.
func (s *admStack) admDo(method, path string, body any) (int, []byte) {
	return s.admDoAt(s.adminURL, admToken, method, path, body)
}

func (s *admStack) admDoAt(base, token, method, path string, body any) (int, []byte) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if base == s.adminURL {
		s.admCheck(req, resp, out)
	}
	return resp.StatusCode, out
}

// admCheck validates an answer of an admin API operation against the
// OpenAPI document the listener serves (web's tests check the document
// against the router; this checks the answers of the whole stack).
func (s *admStack) admCheck(req *http.Request, resp *http.Response, body []byte) {
	s.t.Helper()
	if s.doc == nil {
		s.doc = s.admLoadOpenAPI()
	}
	rest, ok := strings.CutPrefix(req.URL.Path, web.AdminAPIPrefix)
	if !ok || resp.StatusCode == http.StatusMethodNotAllowed {
		return
	}
	path, params := admMatchPath(s.doc, rest)
	if path == "" {
		return // not an API route: a 404 checked by the caller
	}
	item := s.doc.Paths.Value(path)
	op := item.GetOperation(req.Method)
	if op == nil {
		return
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params,
			Route: &routers.Route{Spec: s.doc, Path: path, PathItem: item, Method: req.Method, Operation: op},
		},
		Status:  resp.StatusCode,
		Header:  resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	input.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), input); err != nil {
		s.t.Errorf("%s %s: the %d answer does not match the OpenAPI document: %v\n%s", req.Method, req.URL, resp.StatusCode, err, body)
	}
}

func (s *admStack) admLoadOpenAPI() *openapi3.T {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.adminURL+web.AdminAPIPrefix+"/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer "+admToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("openapi.json: %d %s", resp.StatusCode, raw)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err == nil {
		err = doc.Validate(req.Context())
	}
	if err != nil {
		s.t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// admMatchPath finds the documented path template that path matches, and
// its parameters.
func admMatchPath(doc *openapi3.T, path string) (string, map[string]string) {
	segs := strings.Split(path, "/")
	for tmpl := range doc.Paths.Map() {
		tsegs := strings.Split(tmpl, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		params := map[string]string{}
		for i, t := range tsegs {
			if name, ok := strings.CutPrefix(t, "{"); ok && strings.HasSuffix(name, "}") && segs[i] != "" {
				params[strings.TrimSuffix(name, "}")] = segs[i]
			} else if t != segs[i] {
				params = nil
				break
			}
		}
		if params != nil {
			return tmpl, params
		}
	}
	return "", nil
}

// admJSON calls the admin API, checks the status and decodes the answer.
func (s *admStack) admJSON(method, path string, body any, wantStatus int, into any) {
	s.t.Helper()
	status, raw := s.admDo(method, path, body)
	if status != wantStatus {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, wantStatus, raw)
	}
	if into != nil {
		if err := json.Unmarshal(raw, into); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

// admError calls the admin API expecting an RFC 6749-shaped error.
func (s *admStack) admError(method, path string, body any, wantStatus int, wantCode string) string {
	s.t.Helper()
	status, raw := s.admDo(method, path, body)
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(raw, &e); err != nil || status != wantStatus || e.Error != wantCode {
		s.t.Fatalf("%s %s: %d %s, want %d %s", method, path, status, raw, wantStatus, wantCode)
	}
	return e.Description
}

type admAuditEvent struct {
	ID      int64          `json:"id"`
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Target  string         `json:"target"`
	Details map[string]any `json:"details"`
}

func (s *admStack) admAudit() []admAuditEvent {
	s.t.Helper()
	var out struct {
		Events []admAuditEvent `json:"events"`
	}
	s.admJSON("GET", "/admin/v1/audit?limit=1000", nil, http.StatusOK, &out)
	return out.Events
}

// admFindAudit returns the newest event of action on target.
func (s *admStack) admFindAudit(action, target string) (admAuditEvent, bool) {
	for _, e := range s.admAudit() {
		if e.Action == action && e.Target == target {
			return e, true
		}
	}
	return admAuditEvent{}, false
}

func TestAdminAPIAbsentFromPublicListener(t *testing.T) {
	s := newAdmStack(t)
	for _, path := range []string{"/admin/v1/keys", "/admin/v1/clients", "/admin/v1/audit", "/admin/v1/openapi.json", "/admin/v1/", "/admin/keys", "/admin/", "/admin", "/metrics", "/admin/ui", "/admin/ui/", "/admin/ui/login", "/admin/ui/keys"} {
		for _, method := range []string{"GET", "POST"} {
			status, raw := s.admDoAt(s.URL, admToken, method, path, map[string]any{})
			if status != http.StatusNotFound {
				t.Errorf("public %s %s: %d %s, want 404", method, path, status, raw)
			}
		}
	}
	// And on the admin listener the same token works.
	s.admJSON("GET", "/admin/v1/keys", nil, http.StatusOK, nil)
}

func TestAdminAPIRejectsMissingWrongAndEmptyTokens(t *testing.T) {
	s := newAdmStack(t)
	for _, tc := range []struct{ name, header, code string }{
		{"missing", "", "invalid_request"},
		{"empty", "Bearer ", "invalid_token"},
		{"wrong", "Bearer " + strings.Repeat("x", len(admToken)), "invalid_token"},
		{"other scheme", "Basic b3BzOg==", "invalid_request"},
	} {
		for _, path := range []string{"/admin/v1/keys", "/admin/v1/clients", "/admin/v1/audit"} {
			req, _ := http.NewRequest("GET", s.adminURL+path, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e map[string]string
			_ = json.Unmarshal(raw, &e)
			if resp.StatusCode != http.StatusUnauthorized || e["error"] != tc.code || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: %d %s (WWW-Authenticate %q), want 401 %s", tc.name, path, resp.StatusCode, raw, resp.Header.Get("WWW-Authenticate"), tc.code)
			}
		}
	}
}

func TestAdminAPIClients(t *testing.T) {
	s := newAdmStack(t)
	// A confidential client: the secret is returned once and works.
	var created struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
		Auth   string `json:"token_endpoint_auth_method"`
		Grants []string
	}
	s.admJSON("POST", "/admin/v1/clients", map[string]any{"client_id": "reports", "name": "Reports", "audiences": []string{resource}}, http.StatusCreated, &created)
	if created.Secret == "" || created.Auth != provider.AuthMethodClientSecretBasic {
		t.Fatalf("created = %+v", created)
	}
	stored, err := s.App.Store.GetClient(t.Context(), "reports")
	if err != nil || stored.SecretHash == "" || strings.Contains(stored.SecretHash, created.Secret) {
		t.Fatalf("stored client: %v, hash %q", err, stored.SecretHash)
	}
	ccForm := func(secret string) tokenResponse {
		req, _ := http.NewRequest("POST", "/", nil)
		req.SetBasicAuth("reports", secret)
		resp, body := s.postForm("/oauth2/token", map[string][]string{"grant_type": {"client_credentials"}}, http.Header{"Authorization": {req.Header.Get("Authorization")}})
		var tr tokenResponse
		_ = json.Unmarshal(body, &tr)
		tr.Status = resp.StatusCode
		return tr
	}
	mustToken(t, ccForm(created.Secret))

	// Reading never shows a secret.
	status, raw := s.admDo("GET", "/admin/v1/clients/reports", nil)
	if status != http.StatusOK || strings.Contains(string(raw), "secret\"") || strings.Contains(string(raw), created.Secret) {
		t.Fatalf("show: %d %s", status, raw)
	}
	var list struct {
		Clients []struct {
			ID string `json:"client_id"`
		} `json:"clients"`
	}
	s.admJSON("GET", "/admin/v1/clients", nil, http.StatusOK, &list)
	if len(list.Clients) != 6 { // five seeded by the harness
		t.Errorf("list has %d clients", len(list.Clients))
	}

	// Rotating the secret: the old one stops working.
	var rotated struct {
		Secret string `json:"client_secret"`
	}
	s.admJSON("PATCH", "/admin/v1/clients/reports", map[string]any{"rotate_secret": true, "name": "Reports v2"}, http.StatusOK, &rotated)
	if rotated.Secret == "" || rotated.Secret == created.Secret {
		t.Fatal("rotate_secret returned no new secret")
	}
	if tr := ccForm(created.Secret); tr.Status != http.StatusUnauthorized {
		t.Errorf("old secret after rotation: %d %s", tr.Status, tr.Error)
	}
	mustToken(t, ccForm(rotated.Secret))

	// A public mini-program client gets the WeChat defaults and no secret.
	var mini struct {
		Secret string   `json:"client_secret"`
		Auth   string   `json:"token_endpoint_auth_method"`
		Grants []string `json:"grant_types"`
		Alg    string   `json:"id_token_signed_response_alg"`
	}
	s.admJSON("POST", "/admin/v1/clients", map[string]any{"client_id": "mini-new", "wechat_appid": appA, "id_token_signed_response_alg": "EdDSA"}, http.StatusCreated, &mini)
	if mini.Secret != "" || mini.Auth != provider.AuthMethodNone || len(mini.Grants) != 2 || mini.Alg != "EdDSA" {
		t.Errorf("mini-program client = %+v", mini)
	}
	mustToken(t, s.token(wechatForm("mini-new", s.login(appA, "kim"))))

	// Errors.
	s.admError("POST", "/admin/v1/clients", map[string]any{"client_id": "reports"}, http.StatusConflict, "conflict")
	s.admError("POST", "/admin/v1/clients", map[string]any{"grant_types": []string{"password"}}, http.StatusBadRequest, "invalid_request")
	s.admError("POST", "/admin/v1/clients", map[string]any{"wechat_appid": "wx-not-configured"}, http.StatusBadRequest, "invalid_request")
	s.admError("POST", "/admin/v1/clients", map[string]any{"client_id": "has space"}, http.StatusBadRequest, "invalid_request")
	s.admError("POST", "/admin/v1/clients", map[string]any{"unknown_field": 1}, http.StatusBadRequest, "invalid_request")
	s.admError("PATCH", "/admin/v1/clients/mini-new", map[string]any{"rotate_secret": true}, http.StatusBadRequest, "invalid_request")
	s.admError("PATCH", "/admin/v1/clients/mini-new", map[string]any{"client_id": "renamed"}, http.StatusBadRequest, "invalid_request")
	s.admError("GET", "/admin/v1/clients/nope", nil, http.StatusNotFound, "not_found")
	s.admError("PATCH", "/admin/v1/clients/nope", map[string]any{"name": "x"}, http.StatusNotFound, "not_found")
	s.admError("DELETE", "/admin/v1/clients/nope", nil, http.StatusNotFound, "not_found")

	// Delete: the client's credentials stop working.
	if status, raw := s.admDo("DELETE", "/admin/v1/clients/reports", nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, raw)
	}
	if tr := ccForm(rotated.Secret); tr.Status != http.StatusUnauthorized {
		t.Errorf("deleted client: %d", tr.Status)
	}

	// Every change is audited under the token's name, without secrets.
	for _, action := range []string{"clients.create", "clients.update", "clients.delete"} {
		e, ok := s.admFindAudit(action, "reports")
		if !ok || e.Actor != "admin-api:ops" {
			t.Errorf("audit %s: %+v %v", action, e, ok)
		}
	}
	raw, _ = json.Marshal(s.admAudit())
	if strings.Contains(string(raw), created.Secret) || strings.Contains(string(raw), rotated.Secret) || strings.Contains(string(raw), stored.SecretHash) {
		t.Error("a secret reached the audit log")
	}
}

func TestAdminAPIAccounts(t *testing.T) {
	s := newAdmStack(t)
	ph := s.phone(appA, "lena", "+8613700000001")
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "lena"), "phone_code", ph.Code, "scope", "openid phone offline_access")))
	sub := s.verifyID(miniA, tr).Subject
	openid := s.Emu.OpenID(appA, "lena")

	type account struct {
		Sub           string `json:"sub"`
		Disabled      bool   `json:"disabled"`
		PhoneVerified bool   `json:"phone_verified"`
		Identities    []struct {
			AppID  string `json:"appid"`
			OpenID string `json:"openid"`
		} `json:"identities"`
	}
	var found struct {
		Accounts []account `json:"accounts"`
	}
	for _, q := range []map[string]string{
		{"sub": sub},
		{"openid": openid, "appid": appA},
		{"phone": "+86 137-0000-0001"},
	} {
		s.admJSON("POST", "/admin/v1/accounts/search", q, http.StatusOK, &found)
		if len(found.Accounts) != 1 || found.Accounts[0].Sub != sub || !found.Accounts[0].PhoneVerified ||
			len(found.Accounts[0].Identities) != 1 || found.Accounts[0].Identities[0].OpenID != openid {
			t.Errorf("search %v = %+v", q, found)
		}
	}
	// Answers never carry the phone number.
	_, raw := s.admDo("GET", "/admin/v1/accounts/"+sub, nil)
	if strings.Contains(string(raw), "13700000001") {
		t.Errorf("the phone number is shown: %s", raw)
	}
	s.admError("POST", "/admin/v1/accounts/search", map[string]string{"phone": "+8613700000002"}, http.StatusNotFound, "not_found")
	s.admError("POST", "/admin/v1/accounts/search", map[string]string{"openid": openid}, http.StatusBadRequest, "invalid_request") // two apps configured
	s.admError("POST", "/admin/v1/accounts/search", map[string]string{"sub": sub, "phone": "+8613700000001"}, http.StatusBadRequest, "invalid_request")
	if d := s.admError("POST", "/admin/v1/accounts/search", map[string]string{"phone": "13700000001"}, http.StatusBadRequest, "invalid_request"); strings.Contains(d, "13700000001") {
		t.Errorf("error echoes the phone: %q", d)
	}
	s.admError("GET", "/admin/v1/accounts/no-such-sub", nil, http.StatusNotFound, "not_found")
	s.admError("POST", "/admin/v1/accounts/no-such-sub/disable", nil, http.StatusNotFound, "not_found")

	// Disable: tokens are revoked and login refused.
	var disabled struct {
		Account account `json:"account"`
		Revoked int64   `json:"tokens_revoked"`
	}
	s.admJSON("POST", "/admin/v1/accounts/"+sub+"/disable", nil, http.StatusOK, &disabled)
	if !disabled.Account.Disabled || disabled.Revoked < 2 {
		t.Errorf("disable = %+v", disabled)
	}
	if _, err := refresh(s.stack, miniA, tr.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh of a disabled account: %v", err)
	}
	if got := s.token(wechatForm(miniA, s.login(appA, "lena"))); got.Error != "invalid_grant" {
		t.Errorf("login of a disabled account: %d %s", got.Status, got.Error)
	}
	if got := s.introspect(tr.AccessToken); got["active"] != false {
		t.Errorf("access token of a disabled account is active: %v", got)
	}

	// Enable: login works again; revoke-tokens logs out everywhere.
	s.admJSON("POST", "/admin/v1/accounts/"+sub+"/enable", nil, http.StatusOK, &disabled)
	if disabled.Account.Disabled {
		t.Error("still disabled")
	}
	tr2 := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "lena"), "scope", "openid offline_access")))
	var revoked struct {
		Revoked int64 `json:"tokens_revoked"`
	}
	s.admJSON("POST", "/admin/v1/accounts/"+sub+"/revoke-tokens", nil, http.StatusOK, &revoked)
	if revoked.Revoked != 2 {
		t.Errorf("revoke-tokens revoked %d, want 2 (access + refresh)", revoked.Revoked)
	}
	if _, err := refresh(s.stack, miniA, tr2.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after revoke-tokens: %v", err)
	}

	for _, action := range []string{"accounts.disable", "accounts.enable", "accounts.revoke_tokens"} {
		if e, ok := s.admFindAudit(action, sub); !ok || e.Actor != "admin-api:ops" {
			t.Errorf("audit %s: %+v %v", action, e, ok)
		}
	}
}

func TestAdminAPIKeys(t *testing.T) {
	s := newAdmStack(t)
	type keyInfo struct {
		KID   string `json:"kid"`
		Alg   string `json:"alg"`
		State string `json:"state"`
	}
	var listed struct {
		Keys []keyInfo `json:"keys"`
	}
	s.admJSON("GET", "/admin/v1/keys", nil, http.StatusOK, &listed)
	if len(listed.Keys) != 6 {
		t.Fatalf("keys = %+v, want a current and a next key for each of 3 algorithms", listed.Keys)
	}
	current := map[string]string{}
	for _, k := range listed.Keys {
		if k.State == "current" {
			current[k.Alg] = k.KID
		}
	}

	// The next key was just published: a rotation now would sign with a key
	// cached JWKS lack.
	d := s.admError("POST", "/admin/v1/keys/rotate", map[string]any{"alg": "RS256"}, http.StatusConflict, "rotation_too_soon")
	if !strings.Contains(d, "wait") {
		t.Errorf("too-soon description = %q", d)
	}
	s.admError("POST", "/admin/v1/keys/rotate", map[string]any{"alg": "HS256"}, http.StatusBadRequest, "invalid_request")
	s.admError("POST", "/admin/v1/keys/revoke", map[string]any{"kid": "nope"}, http.StatusNotFound, "not_found")
	s.admError("POST", "/admin/v1/keys/revoke", map[string]any{}, http.StatusBadRequest, "invalid_request")

	var rotated struct {
		Keys []keyInfo `json:"keys"`
	}
	s.admJSON("POST", "/admin/v1/keys/rotate", map[string]any{"alg": "RS256", "force": true}, http.StatusOK, &rotated)
	if len(rotated.Keys) != 1 || rotated.Keys[0].State != "current" || rotated.Keys[0].KID == current["RS256"] {
		t.Fatalf("rotate = %+v", rotated)
	}
	// This instance signs with the new key at once.
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "max"))))
	if kid := jwtKID(t, tr.IDToken); kid != rotated.Keys[0].KID {
		t.Errorf("ID token signed by %s, want the new key %s", kid, rotated.Keys[0].KID)
	}

	var rev struct {
		Key     keyInfo `json:"key"`
		Revoked int64   `json:"tokens_revoked"`
	}
	s.admJSON("POST", "/admin/v1/keys/revoke", map[string]any{"kid": current["RS256"]}, http.StatusOK, &rev)
	if rev.Key.State != "revoked" {
		t.Errorf("revoke = %+v", rev)
	}
	body, _ := s.App.Keys.JWKS()
	if strings.Contains(string(body), current["RS256"]) {
		t.Error("the revoked key is still published")
	}

	if e, ok := s.admFindAudit("keys.rotate", "RS256"); !ok || e.Actor != "admin-api:ops" || e.Details["force"] != true {
		t.Errorf("audit keys.rotate: %+v %v", e, ok)
	}
	if e, ok := s.admFindAudit("keys.activated", rotated.Keys[0].KID); !ok || e.Actor != "admin-api:ops" {
		t.Errorf("audit keys.activated: %+v %v", e, ok)
	}
	if e, ok := s.admFindAudit("keys.revoked", current["RS256"]); !ok || e.Actor != "admin-api:ops" {
		t.Errorf("audit keys.revoked: %+v %v", e, ok)
	}
	// The bootstrap at first start is the lifecycle's own doing.
	if e, ok := s.admFindAudit("keys.created", current["ES256"]); !ok || e.Actor != "rotation" {
		t.Errorf("audit of the bootstrap: %+v %v", e, ok)
	}
}

func TestAdminAPIAuditPaging(t *testing.T) {
	s := newAdmStack(t)
	for _, id := range []string{"c1", "c2", "c3"} {
		s.admJSON("POST", "/admin/v1/clients", map[string]any{"client_id": id}, http.StatusCreated, nil)
	}
	var page struct {
		Events []admAuditEvent `json:"events"`
		Next   int64           `json:"next_before"`
	}
	s.admJSON("GET", "/admin/v1/audit?limit=2", nil, http.StatusOK, &page)
	if len(page.Events) != 2 || page.Events[0].Target != "c3" || page.Events[1].Target != "c2" || page.Next != page.Events[1].ID {
		t.Fatalf("first page = %+v", page)
	}
	s.admJSON("GET", "/admin/v1/audit?limit=1&before="+itoa(page.Next), nil, http.StatusOK, &page)
	if len(page.Events) != 1 || page.Events[0].Target != "c1" {
		t.Fatalf("second page = %+v", page)
	}
	s.admError("GET", "/admin/v1/audit?limit=x", nil, http.StatusBadRequest, "invalid_request")
	s.admError("GET", "/admin/v1/audit?limit=100000", nil, http.StatusBadRequest, "invalid_request")
}

func itoa(n int64) string {
	raw, _ := json.Marshal(n)
	return string(raw)
}

// jwtKID returns the kid header of a compact JWS.
func jwtKID(t *testing.T, token string) string {
	t.Helper()
	var h struct {
		KID string `json:"kid"`
	}
	decodeSegment(t, strings.Split(token, ".")[0], &h)
	return h.KID
}

// Revoking the current key with revoke_tokens revokes the refresh tokens
// issued so far, and, once every instance has reloaded, those that an
// instance still signing with the key issued in between.
func TestAdminAPIRevokeFollowUp(t *testing.T) {
	s := newAdmStack(t)
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "olga"), "scope", "openid offline_access")))
	kid := jwtKID(t, tr.IDToken)

	var rev struct {
		Revoked   int64     `json:"tokens_revoked"`
		FollowUp  time.Time `json:"follow_up_at"`
		Scheduled bool      `json:"follow_up_scheduled"`
	}
	s.admJSON("POST", "/admin/v1/keys/revoke", map[string]any{"kid": kid, "revoke_tokens": true}, http.StatusOK, &rev)
	if rev.Revoked != 2 || !rev.Scheduled || rev.FollowUp.Before(time.Now()) {
		t.Fatalf("revoke = %+v, want the login's two tokens and a scheduled follow-up", rev)
	}
	if _, err := refresh(s.stack, miniA, tr.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh token signed under the revoked key: %v", err)
	}
	// A refresh token as an instance that has not reloaded yet issues it.
	late := storage.TokenSession{
		Kind: storage.KindRefreshToken, Signature: "late-instance-token", RequestID: "late", RequestedAt: time.Now(),
		ClientID: miniA, Subject: "someone", Active: true, ExpiresAt: time.Now().Add(time.Hour),
	}
	if err := s.App.Store.CreateTokenSession(t.Context(), late); err != nil {
		t.Fatal(err)
	}
	deadline := rev.FollowUp.Add(5 * time.Second)
	for {
		_, err := s.App.Store.GetTokenSession(t.Context(), storage.KindRefreshToken, late.Signature)
		if errors.Is(err, storage.ErrInactive) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follow-up did not revoke the late token: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if time.Now().Before(rev.FollowUp) {
		t.Error("the follow-up ran before every instance could have reloaded")
	}
	e, ok := s.admFindAudit("keys.revoke_tokens", kid)
	if !ok || e.Details["follow_up"] != true || e.Details["tokens_revoked"] != float64(1) {
		t.Errorf("follow-up audit: %+v %v", e, ok)
	}
}

// On PostgreSQL the provider's client cache cannot see changes by itself:
// an admin change must still take effect at once on the instance that
// made it.
func TestAdminAPIClientChangesTakeEffectAtOncePostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	s := newAdmStack(t, func(c *config.Config) { c.Storage.DSN = dsn })
	var created struct {
		Secret string `json:"client_secret"`
	}
	s.admJSON("POST", "/admin/v1/clients", map[string]any{"client_id": "pg-svc"}, http.StatusCreated, &created)
	cc := func() int {
		req, _ := http.NewRequest("POST", "/", nil)
		req.SetBasicAuth("pg-svc", created.Secret)
		resp, _ := s.postForm("/oauth2/token", map[string][]string{"grant_type": {"client_credentials"}}, http.Header{"Authorization": {req.Header.Get("Authorization")}})
		return resp.StatusCode
	}
	if status := cc(); status != http.StatusOK {
		t.Fatalf("new client: %d", status)
	}
	s.admJSON("PATCH", "/admin/v1/clients/pg-svc", map[string]any{"disabled": true}, http.StatusOK, nil)
	if status := cc(); status != http.StatusUnauthorized {
		t.Errorf("disabled client: %d", status)
	}
	s.admJSON("PATCH", "/admin/v1/clients/pg-svc", map[string]any{"disabled": false}, http.StatusOK, nil)
	if status := cc(); status != http.StatusOK {
		t.Errorf("re-enabled client: %d", status)
	}
	if status, raw := s.admDo("DELETE", "/admin/v1/clients/pg-svc", nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, raw)
	}
	if status := cc(); status != http.StatusUnauthorized {
		t.Errorf("deleted client: %d", status)
	}
}
