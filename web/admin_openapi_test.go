package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/admin/admintest"
)

// loadAdminOpenAPI loads the embedded document and validates it against
// the OpenAPI 3 specification.
func loadAdminOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(adminOpenAPI)
	if err != nil {
		t.Fatalf("loading the admin OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the admin OpenAPI document is invalid: %v", err)
	}
	return doc
}

// checkAdminResponse reports where rec, the answer to req, breaks the
// document.
func checkAdminResponse(t *testing.T, doc *openapi3.T, h http.Handler, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	if err := adminResponseError(doc, h, req, rec); err != nil {
		t.Errorf("%s %s: %v\n%s", req.Method, req.URL, err, rec.Body)
	}
}

// adminResponseError validates rec against the documented responses of the
// route req reached. Requests that reach no API route (health, metrics,
// 404s, 405s) are not checked.
func adminResponseError(doc *openapi3.T, h http.Handler, req *http.Request, rec *httptest.ResponseRecorder) error {
	mux, ok := h.(*chi.Mux)
	if !ok {
		return fmt.Errorf("the admin handler is a %T, not a chi router", h)
	}
	pattern := mux.Find(chi.NewRouteContext(), req.Method, req.URL.Path)
	if !strings.HasPrefix(pattern, AdminAPIPrefix+"/") || rec.Code == http.StatusMethodNotAllowed {
		return nil
	}
	path := strings.TrimPrefix(pattern, AdminAPIPrefix)
	item := doc.Paths.Find(path)
	if item == nil || item.GetOperation(req.Method) == nil {
		return fmt.Errorf("%s %s is routed but not documented", req.Method, pattern)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req,
			Route:   &routers.Route{Spec: doc, Path: path, PathItem: item, Method: req.Method, Operation: item.GetOperation(req.Method)},
		},
		Status:  rec.Code,
		Header:  rec.Header(),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	input.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(req.Context(), input); err != nil {
		return fmt.Errorf("the %d answer does not match the document: %w", rec.Code, err)
	}
	return nil
}

func TestAdminOpenAPIIsValid(t *testing.T) {
	doc := loadAdminOpenAPI(t)
	if len(doc.Servers) != 1 || doc.Servers[0].URL != AdminAPIPrefix {
		t.Errorf("servers = %+v, want the one %s", doc.Servers, AdminAPIPrefix)
	}
	// Every operation needs the bearer token and documents its 401.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Responses.Status(http.StatusUnauthorized) == nil {
				t.Errorf("%s %s documents no 401", method, path)
			}
		}
	}
	if len(doc.Security) != 1 || doc.Components.SecuritySchemes["adminToken"] == nil {
		t.Errorf("security = %+v", doc.Security)
	}
}

// Every route under the API prefix is documented, and every documented
// operation is routed: the document cannot drift from the router.
func TestAdminOpenAPIMatchesTheRouter(t *testing.T) {
	doc := loadAdminOpenAPI(t)
	f := newTestAdmin(t, nil)
	routed := map[string]bool{}
	err := chi.Walk(f.h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if p, ok := strings.CutPrefix(route, AdminAPIPrefix+"/"); ok {
			routed[method+" /"+p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	if len(routed) == 0 {
		t.Fatal("the walk found no API route")
	}
	for r := range routed {
		if !documented[r] {
			t.Errorf("routed but not documented: %s", r)
		}
	}
	for d := range documented {
		if !routed[d] {
			t.Errorf("documented but not routed: %s", d)
		}
	}
	keysOf := func(m map[string]bool) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	t.Logf("routes: %v", keysOf(routed))
}

// The response check is not vacuous: an answer that breaks its schema, or
// an undocumented status, is reported.
func TestAdminResponseCheckCatchesMismatches(t *testing.T) {
	doc := loadAdminOpenAPI(t)
	h, err := NewAdminHandler(AdminConfig{
		Tokens:  []AdminToken{{Name: "ops", Token: "tok"}},
		Service: admintest.New(t, nil).Service,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		status     int
		body       string
	}{
		{"key without a kid", "/admin/v1/keys", http.StatusOK, `{"keys":[{"alg":"ES256","state":"current","created_at":"2026-01-01T00:00:00Z"}]}`},
		{"undocumented field", "/admin/v1/keys", http.StatusOK, `{"keys":[],"private":"x"}`},
		{"undocumented status", "/admin/v1/keys", http.StatusTeapot, `{"error":"x"}`},
		{"error without a code", "/admin/v1/clients/x", http.StatusNotFound, `{"error_description":"x"}`},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(tc.status)
		_, _ = rec.WriteString(tc.body)
		if err := adminResponseError(doc, h, req, rec); err == nil {
			t.Errorf("%s: the check passed %d %s", tc.name, tc.status, tc.body)
		}
	}
}
