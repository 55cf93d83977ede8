package app

import (
	"errors"
	"fmt"
	"net/http"

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
	return web.NewAdminHandler(web.AdminConfig{
		Tokens: tokens,
		Ready:  a.ready,
		Logger: a.log,
		Routes: a.adminRoutes,
	})
}

func (a *App) adminRoutes(r chi.Router) {
	r.Get("/keys", func(w http.ResponseWriter, r *http.Request) {
		web.WriteJSON(w, http.StatusOK, map[string]interface{}{"keys": a.Keys.Keys()})
	})
	r.Post("/keys/rotate", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Algorithm string `json:"algorithm"`
			Force     bool   `json:"force"`
		}
		if !web.DecodeJSON(w, r, &in) {
			return
		}
		k, err := a.Keys.Rotate(r.Context(), in.Algorithm, in.Force)
		var soon *keys.RotationTooSoonError
		switch {
		case errors.As(err, &soon):
			web.WriteError(w, http.StatusConflict, "rotation_too_soon", err.Error())
			return
		case err != nil:
			a.log.ErrorContext(r.Context(), "admin rotate failed", "error", err.Error())
			web.WriteError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		a.log.InfoContext(r.Context(), "admin: keys rotated", "actor", web.AdminActor(r.Context()), "alg", k.Algorithm, "kid", k.KID)
		web.WriteJSON(w, http.StatusOK, k)
	})
}
