package app_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/wxoidc/wxoidc/admin"
)

// A deleted client's tokens stay dead when a client with the same ID is
// created again (a mini-program's client ID is hard-coded in its releases),
// and revoke-tokens kills a client's tokens and keeps the client.
func TestClientDeletionAndRevocationEndTokens(t *testing.T) {
	s := newAdmStack(t)
	const id = "mini-x"
	create := func() {
		var c admin.ClientView
		s.admJSON("POST", "/admin/v1/clients", map[string]any{"client_id": id, "wechat_appid": appA}, http.StatusCreated, &c)
	}
	login := func(user string) tokenResponse {
		tr := mustToken(t, s.token(wechatForm(id, s.login(appA, user), "scope", "openid offline_access")))
		if tr.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		if got := s.introspect(tr.AccessToken); got["active"] != true {
			t.Fatalf("fresh access token introspects as %v", got)
		}
		return tr
	}
	refresh := func(rt string) tokenResponse {
		return s.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "refresh_token": {rt}})
	}
	mustBeDead := func(what string, tr tokenResponse) {
		t.Helper()
		if got := s.introspect(tr.AccessToken); got["active"] != false {
			t.Errorf("%s: access token introspects as %v", what, got)
		}
		if got := refresh(tr.RefreshToken); got.Status != http.StatusBadRequest || got.Error != "invalid_grant" {
			t.Errorf("%s: refresh = %d %s (%s), want 400 invalid_grant", what, got.Status, got.Error, got.Description)
		}
	}

	create()
	old := login("xena")
	if status, body := s.admDo("DELETE", "/admin/v1/clients/"+id, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, body)
	}
	create()
	mustBeDead("after delete and re-create", old)

	// The re-created client works; revoke-tokens ends its tokens only.
	cur := login("xena")
	var out struct {
		ClientID      string `json:"client_id"`
		TokensRevoked int64  `json:"tokens_revoked"`
	}
	s.admJSON("POST", "/admin/v1/clients/"+id+"/revoke-tokens", nil, http.StatusOK, &out)
	if out.ClientID != id || out.TokensRevoked != 2 {
		t.Errorf("revoke-tokens answered %+v, want %s and 2 tokens (one access, one refresh)", out, id)
	}
	mustBeDead("after revoke-tokens", cur)
	var c admin.ClientView
	s.admJSON("GET", "/admin/v1/clients/"+id, nil, http.StatusOK, &c)
	login("xena")

	var page admin.AuditPage
	s.admJSON("GET", "/admin/v1/audit", nil, http.StatusOK, &page)
	found := false
	for _, e := range page.Events {
		found = found || (e.Action == "clients.revoke_tokens" && e.Target == id)
	}
	if !found {
		t.Errorf("no clients.revoke_tokens audit event for %s in %+v", id, page.Events)
	}
	s.admError("POST", "/admin/v1/clients/absent/revoke-tokens", nil, http.StatusNotFound, "not_found")
}
