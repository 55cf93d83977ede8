package web

import (
	_ "embed"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/storage"
)

// adminOpenAPI describes every route of the admin API; a test checks it
// against the router both ways.
//
//go:embed admin_openapi.json
var adminOpenAPI []byte

// adminAPI serves admin.Service as JSON under AdminAPIPrefix
// (docs/operations.md has the reference, admin_openapi.json the schema).
// Errors are RFC 6749-shaped: 400 invalid_request, 404 not_found, 409
// conflict or rotation_too_soon, 503 temporarily_unavailable with
// Retry-After while storage is unreachable, 500 server_error without detail.
type adminAPI struct {
	svc *admin.Service
	log *slog.Logger
}

func (h *adminAPI) routes(r chi.Router) {
	r.Get("/openapi.json", h.openAPI)

	r.Get("/keys", h.listKeys)
	r.Post("/keys/rotate", h.rotateKeys)
	r.Post("/keys/revoke", h.revokeKey)

	r.Get("/clients", h.listClients)
	r.Post("/clients", h.createClient)
	r.Get("/clients/{id}", h.getClient)
	r.Patch("/clients/{id}", h.updateClient)
	r.Delete("/clients/{id}", h.deleteClient)
	r.Post("/clients/{id}/revoke-tokens", h.revokeClientTokens)

	r.Post("/accounts/search", h.searchAccounts)
	r.Get("/accounts/{sub}", h.getAccount)
	r.Post("/accounts/{sub}/disable", h.setDisabled(true))
	r.Post("/accounts/{sub}/enable", h.setDisabled(false))
	r.Post("/accounts/{sub}/revoke-tokens", h.revokeAccountTokens)
	r.Post("/accounts/{sub}/end-sessions", h.endLoginSessions)
	r.Delete("/accounts/{sub}/consents/{client_id}", h.revokeConsent)

	r.Get("/audit", h.listAudit)
}

// fail maps an operation error to its status. Internal errors are logged
// and answered without detail.
func (h *adminAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, admin.ErrUnavailable):
		// Temporary (a database restart): the client retries, as from the
		// public endpoints.
		h.log.WarnContext(r.Context(), "admin request failed: storage unavailable", "error", err.Error())
		setRetryAfter(w.Header(), time.Second)
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Storage is temporarily unavailable; retry shortly.")
	case errors.Is(err, admin.ErrRotationTooSoon):
		writeOAuthError(w, http.StatusConflict, "rotation_too_soon", err.Error())
	case errors.Is(err, admin.ErrInvalid):
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, admin.ErrNotFound):
		writeOAuthError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, admin.ErrConflict):
		writeOAuthError(w, http.StatusConflict, "conflict", err.Error())
	default:
		actor, _ := admin.ActorFrom(r.Context())
		h.log.ErrorContext(r.Context(), "admin request failed", "route", chi.RouteContext(r.Context()).RoutePattern(),
			"actor", actor.Name, "error", err.Error())
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "The operation failed; see the server log.")
	}
}

func (h *adminAPI) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(adminOpenAPI)
}

func (h *adminAPI) listKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := h.svc.ListKeys(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": ks})
}

func (h *adminAPI) rotateKeys(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Algorithm string `json:"alg"` // empty: every configured algorithm
		Force     bool   `json:"force"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	var algs []string
	if in.Algorithm != "" {
		algs = []string{in.Algorithm}
	}
	ks, err := h.svc.RotateKeys(r.Context(), algs, in.Force)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": ks})
}

func (h *adminAPI) revokeKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		KID          string `json:"kid"`
		RevokeTokens bool   `json:"revoke_tokens"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	res, err := h.svc.RevokeKey(r.Context(), in.KID, in.RevokeTokens)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *adminAPI) listClients(w http.ResponseWriter, r *http.Request) {
	cs, err := h.svc.ListClients(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": cs})
}

func (h *adminAPI) createClient(w http.ResponseWriter, r *http.Request) {
	var spec admin.ClientSpec
	if !decodeJSON(w, r, &spec) {
		return
	}
	c, err := h.svc.CreateClient(r.Context(), spec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", AdminAPIPrefix+"/clients/"+c.ID)
	writeJSON(w, http.StatusCreated, c)
}

func (h *adminAPI) getClient(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.GetClient(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (h *adminAPI) updateClient(w http.ResponseWriter, r *http.Request) {
	var spec admin.ClientSpec
	if !decodeJSON(w, r, &spec) {
		return
	}
	c, err := h.svc.UpdateClient(r.Context(), chi.URLParam(r, "id"), spec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (h *adminAPI) deleteClient(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.DeleteClient(r.Context(), chi.URLParam(r, "id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (h *adminAPI) revokeClientTokens(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	n, err := h.svc.RevokeClientTokens(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"client_id": id, "tokens_revoked": n})
}

// searchAccounts takes the query in the body, not the URL: a phone number
// must not end up in access logs.
func (h *adminAPI) searchAccounts(w http.ResponseWriter, r *http.Request) {
	var q admin.AccountQuery
	if !decodeJSON(w, r, &q) {
		return
	}
	accs, err := h.svc.FindAccounts(r.Context(), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": accs})
}

func (h *adminAPI) getAccount(w http.ResponseWriter, r *http.Request) {
	acc, err := h.svc.FindAccount(r.Context(), admin.AccountQuery{Sub: chi.URLParam(r, "sub")})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, acc)
}

func (h *adminAPI) setDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res, err := h.svc.SetAccountDisabled(r.Context(), chi.URLParam(r, "sub"), disabled)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

func (h *adminAPI) revokeAccountTokens(w http.ResponseWriter, r *http.Request) {
	sub := chi.URLParam(r, "sub")
	n, err := h.svc.RevokeAccountTokens(r.Context(), sub)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sub": sub, "tokens_revoked": n})
}

func (h *adminAPI) endLoginSessions(w http.ResponseWriter, r *http.Request) {
	sub := chi.URLParam(r, "sub")
	n, err := h.svc.EndLoginSessions(r.Context(), sub)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sub": sub, "sessions_ended": n})
}

func (h *adminAPI) revokeConsent(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.RevokeConsent(r.Context(), chi.URLParam(r, "sub"), chi.URLParam(r, "client_id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (h *adminAPI) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := intParam(q.Get("limit"))
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "limit must be an integer")
		return
	}
	before, err := intParam(q.Get("before"))
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "before must be an integer")
		return
	}
	f := storage.AuditFilter{BeforeID: before, Limit: int(limit)}
	f.Actor, f.ActorPrefix = strings.CutSuffix(q.Get("actor"), "*")
	f.Action, f.ActionPrefix = strings.CutSuffix(q.Get("action"), "*")
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			if *p.t, err = time.Parse(time.RFC3339, v); err != nil {
				writeOAuthError(w, http.StatusBadRequest, "invalid_request", p.name+" must be an RFC 3339 time such as 2026-01-31T09:30:00Z")
				return
			}
		}
	}
	page, err := h.svc.AuditFiltered(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// intParam parses an optional integer query parameter ("" is 0).
func intParam(s string) (int64, error) {
	if s = strings.TrimSpace(s); s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}
