package app

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/web"
)

// adminHandler builds the admin listener's handler, or nil when disabled.
func (a *App) adminHandler() (http.Handler, error) {
	c := a.Config.Admin
	if c.Addr == "" {
		return nil, nil
	}
	var tokens []web.AdminToken
	for _, t := range c.Tokens {
		v, err := t.Token.Reveal()
		if err != nil {
			return nil, fmt.Errorf("admin token %s: %w", t.Name, err)
		}
		tokens = append(tokens, web.AdminToken{Name: t.Name, Token: v})
	}
	cfg := web.AdminConfig{
		Tokens: tokens,
		Ready:  a.ready,
		Logger: a.log,
		Routes: (&adminAPI{ops: a.Ops}).routes,
	}
	if a.Metrics != nil {
		cfg.Metrics = a.Metrics.Handler()
		cfg.Observer = a.Metrics.Listener("admin")
	}
	return web.NewAdminHandler(cfg)
}

// adminAPI serves Operations as JSON under /admin/ (docs/operations.md has
// the reference). Errors are RFC 6749-shaped: 400 invalid_request, 404
// not_found, 409 conflict or rotation_too_soon, 500 server_error.
type adminAPI struct {
	ops *Operations
}

func (h *adminAPI) routes(r chi.Router) {
	r.Get("/keys", h.listKeys)
	r.Post("/keys/rotate", h.rotateKeys)
	r.Post("/keys/revoke", h.revokeKey)

	r.Get("/clients", h.listClients)
	r.Post("/clients", h.createClient)
	r.Get("/clients/{id}", h.getClient)
	r.Patch("/clients/{id}", h.updateClient)
	r.Delete("/clients/{id}", h.deleteClient)

	r.Post("/accounts/search", h.searchAccounts)
	r.Get("/accounts/{sub}", h.getAccount)
	r.Post("/accounts/{sub}/disable", h.setDisabled(true))
	r.Post("/accounts/{sub}/enable", h.setDisabled(false))
	r.Post("/accounts/{sub}/revoke-tokens", h.revokeAccountTokens)

	r.Get("/audit", h.listAudit)
}

func actor(r *http.Request) string { return AdminAPIActor(web.AdminActor(r.Context())) }

// fail maps an operation error to its status. Internal errors are logged
// and answered without detail.
func (h *adminAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	var soon *keys.RotationTooSoonError
	switch {
	case errors.As(err, &soon):
		web.WriteError(w, http.StatusConflict, "rotation_too_soon", err.Error())
	case errors.Is(err, ErrInvalid):
		web.WriteError(w, http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, ErrNotFound):
		web.WriteError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, ErrConflict):
		web.WriteError(w, http.StatusConflict, "conflict", err.Error())
	default:
		h.ops.log.ErrorContext(r.Context(), "admin request failed", "route", chi.RouteContext(r.Context()).RoutePattern(),
			"actor", actor(r), "error", err.Error())
		web.WriteError(w, http.StatusInternalServerError, "server_error", "The operation failed; see the server log.")
	}
}

func (h *adminAPI) listKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := h.ops.ListKeys(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"keys": ks})
}

func (h *adminAPI) rotateKeys(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Algorithm string `json:"alg"` // empty: every configured algorithm
		Force     bool   `json:"force"`
	}
	if !web.DecodeJSON(w, r, &in) {
		return
	}
	var algs []string
	if in.Algorithm != "" {
		algs = []string{in.Algorithm}
	}
	ks, err := h.ops.RotateKeys(r.Context(), actor(r), algs, in.Force)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"keys": ks})
}

func (h *adminAPI) revokeKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		KID          string `json:"kid"`
		RevokeTokens bool   `json:"revoke_tokens"`
	}
	if !web.DecodeJSON(w, r, &in) {
		return
	}
	res, err := h.ops.RevokeKey(r.Context(), actor(r), in.KID, in.RevokeTokens)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, res)
}

func (h *adminAPI) listClients(w http.ResponseWriter, r *http.Request) {
	cs, err := h.ops.ListClients(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"clients": cs})
}

func (h *adminAPI) createClient(w http.ResponseWriter, r *http.Request) {
	var spec ClientSpec
	if !web.DecodeJSON(w, r, &spec) {
		return
	}
	c, err := h.ops.CreateClient(r.Context(), actor(r), spec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/admin/clients/"+c.ID)
	web.WriteJSON(w, http.StatusCreated, c)
}

func (h *adminAPI) getClient(w http.ResponseWriter, r *http.Request) {
	c, err := h.ops.GetClient(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

func (h *adminAPI) updateClient(w http.ResponseWriter, r *http.Request) {
	var spec ClientSpec
	if !web.DecodeJSON(w, r, &spec) {
		return
	}
	c, err := h.ops.UpdateClient(r.Context(), actor(r), chi.URLParam(r, "id"), spec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

func (h *adminAPI) deleteClient(w http.ResponseWriter, r *http.Request) {
	if err := h.ops.DeleteClient(r.Context(), actor(r), chi.URLParam(r, "id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// searchAccounts takes the query in the body, not the URL: a phone number
// must not end up in access logs.
func (h *adminAPI) searchAccounts(w http.ResponseWriter, r *http.Request) {
	var q AccountQuery
	if !web.DecodeJSON(w, r, &q) {
		return
	}
	accs, err := h.ops.FindAccounts(r.Context(), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"accounts": accs})
}

func (h *adminAPI) getAccount(w http.ResponseWriter, r *http.Request) {
	acc, err := h.ops.FindAccount(r.Context(), AccountQuery{Sub: chi.URLParam(r, "sub")})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, acc)
}

func (h *adminAPI) setDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		acc, n, err := h.ops.SetAccountDisabled(r.Context(), actor(r), chi.URLParam(r, "sub"), disabled)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		web.WriteJSON(w, http.StatusOK, map[string]any{"account": acc, "tokens_revoked": n})
	}
}

func (h *adminAPI) revokeAccountTokens(w http.ResponseWriter, r *http.Request) {
	n, err := h.ops.RevokeAccountTokens(r.Context(), actor(r), chi.URLParam(r, "sub"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"sub": chi.URLParam(r, "sub"), "tokens_revoked": n})
}

func (h *adminAPI) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := intParam(q.Get("limit"))
	if err != nil {
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "limit must be an integer")
		return
	}
	before, err := intParam(q.Get("before"))
	if err != nil {
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "before must be an integer")
		return
	}
	events, err := h.ops.Audit(r.Context(), int64(before), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := map[string]any{"events": events}
	if n := len(events); n > 0 && (n == limit || (limit == 0 && n == DefaultAuditLimit)) {
		// More may follow: the client pages with before=<this>.
		out["next_before"] = events[len(events)-1].ID
	}
	web.WriteJSON(w, http.StatusOK, out)
}

func intParam(s string) (int, error) {
	if s = strings.TrimSpace(s); s == "" {
		return 0, nil
	}
	return strconv.Atoi(s)
}
