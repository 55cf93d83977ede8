package web

import (
	"net/http"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
)

// The account answer carries the login sessions and consents; the new
// routes revoke a consent and end the sessions; disabling says how many
// sessions it ended. Every answer is checked against the document.
func TestAdminAccountBrowserState(t *testing.T) {
	f := newTestAdmin(t, nil)
	f.json("POST", "/admin/v1/clients", `{"client_id":"web","grant_types":["authorization_code"],"scopes":["openid"],`+
		`"redirect_uris":["https://app.example/cb"],"wechat_apps":["`+admintest.AppID+`"]}`, http.StatusCreated, nil)
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	f.env.Account(t, "sub-1", "o-1", now)
	f.env.SignIn(t, "sub-1", "s-1", now, []string{"openid"}, "web")
	f.env.SignIn(t, "sub-1", "s-2", now.Add(time.Minute), []string{"openid"})

	var acc admin.AccountView
	f.json("GET", "/admin/v1/accounts/sub-1", "", http.StatusOK, &acc)
	if len(acc.LoginSessions) != 2 || acc.LoginSessions[1].ID != "s-1" || len(acc.LoginSessions[1].ClientIDs) != 1 ||
		len(acc.Consents) != 1 || acc.Consents[0].ClientID != "web" {
		t.Fatalf("account: %+v", acc)
	}
	f.json("POST", "/admin/v1/accounts/search", `{"sub":"sub-1"}`, http.StatusOK, nil)

	if rec := f.do("DELETE", "/admin/v1/accounts/sub-1/consents/web", opsAuth, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("revoke consent: %d %s", rec.Code, rec.Body)
	}
	var ended struct {
		Sub           string `json:"sub"`
		SessionsEnded int64  `json:"sessions_ended"`
	}
	f.json("POST", "/admin/v1/accounts/sub-1/end-sessions", "", http.StatusOK, &ended)
	if ended.Sub != "sub-1" || ended.SessionsEnded != 2 {
		t.Errorf("end sessions: %+v", ended)
	}
	f.json("GET", "/admin/v1/accounts/sub-1", "", http.StatusOK, &acc)
	if len(acc.LoginSessions) != 0 || len(acc.Consents) != 0 {
		t.Errorf("after revoking and ending: %+v", acc)
	}

	f.env.SignIn(t, "sub-1", "s-3", now, nil)
	var change admin.AccountChange
	f.json("POST", "/admin/v1/accounts/sub-1/disable", "", http.StatusOK, &change)
	if !change.Account.Disabled || change.SessionsEnded != 1 {
		t.Errorf("disable: %+v", change)
	}
	f.json("POST", "/admin/v1/accounts/sub-1/enable", "", http.StatusOK, &change)
	if change.Account.Disabled || change.SessionsEnded != 0 {
		t.Errorf("enable: %+v", change)
	}
}

func TestAdminAccountBrowserStateErrors(t *testing.T) {
	f := newTestAdmin(t, nil)
	f.env.Account(t, "sub-1", "o-1", time.Now())
	for _, tc := range []struct {
		method, path string
		status       int
		errCode      string
	}{
		{"DELETE", "/admin/v1/accounts/sub-1/consents/web", http.StatusNotFound, "not_found"},
		{"DELETE", "/admin/v1/accounts/nobody/consents/web", http.StatusNotFound, "not_found"},
		{"POST", "/admin/v1/accounts/nobody/end-sessions", http.StatusNotFound, "not_found"},
	} {
		rec := f.do(tc.method, tc.path, opsAuth, "")
		if rec.Code != tc.status || errorBody(t, rec).Error != tc.errCode {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, rec.Code, rec.Body, tc.status, tc.errCode)
		}
	}
	// The routes need a token like every other.
	for _, r := range [][2]string{{"DELETE", "/admin/v1/accounts/sub-1/consents/web"}, {"POST", "/admin/v1/accounts/sub-1/end-sessions"}} {
		if rec := f.do(r[0], r[1], "", ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d", r[0], r[1], rec.Code)
		}
	}
}
