package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// auditRowActions reads the actions of the audit table's rows, in order.
var auditRowAction = regexp.MustCompile(`data-action="([^"]+)"`)

func auditActions(body string) []string {
	var out []string
	for _, m := range auditRowAction.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestConsoleAudit(t *testing.T) {
	f := newConsoleFixture(t)
	ctx := context.Background()
	base := f.clock.Now().Add(-10 * 24 * time.Hour)
	for i, e := range []struct{ actor, action string }{
		{"admin-api:ops", "clients.create"},
		{"admin-console:ops", "accounts.disable"},
		{"admin-console:ci", "keys.rotate"},
		{"admin-console:ops", "accounts.revoke_tokens"},
	} {
		if err := f.env.Store.AppendAudit(ctx, storage.AuditEvent{
			At: base.Add(time.Duration(i) * 24 * time.Hour), Actor: e.actor, Action: e.action,
			Target: fmt.Sprintf("t%d", i), Details: `{"tokens_revoked":3,"client_secret":"s3cr3t","note":"two words"}`,
		}); err != nil {
			t.Fatal(err)
		}
	}
	c := f.client()
	f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer ")) // audits console.sign_in as admin-console:ops
	en := map[string]string{"Accept-Language": "en"}
	day := func(i int) string { return base.Add(time.Duration(i) * 24 * time.Hour).Format("2006-01-02T15:04") }

	for _, tc := range []struct {
		name   string
		query  string
		status int
		want   string // the actions listed, newest first
		words  string
	}{
		{"everything", "", http.StatusOK, "console.sign_in accounts.revoke_tokens keys.rotate accounts.disable clients.create", ""},
		{"exact actor", "actor=admin-console:ops", http.StatusOK, "console.sign_in accounts.revoke_tokens accounts.disable", ""},
		{"actor prefix", "actor=admin-console:*", http.StatusOK, "console.sign_in accounts.revoke_tokens keys.rotate accounts.disable", ""},
		{"action prefix", "action=accounts.*", http.StatusOK, "accounts.revoke_tokens accounts.disable", ""},
		{"exact action", "action=accounts.", http.StatusOK, "", "No audit events match."},
		{"since", "since=" + day(2), http.StatusOK, "console.sign_in accounts.revoke_tokens keys.rotate", ""},
		{"until includes its minute", "until=" + day(1), http.StatusOK, "accounts.disable clients.create", ""},
		{"range and actor", "since=" + day(1) + "&until=" + day(3) + "&actor=admin-console:ops", http.StatusOK, "accounts.revoke_tokens accounts.disable", ""},
		{"bad since", "since=yesterday", http.StatusBadRequest, "", "“From” is not a date and time"},
		{"bad until", "until=2026-13-01T00:00", http.StatusBadRequest, "", "“Until” is not a date and time"},
		{"until before since", "since=" + day(3) + "&until=" + day(1), http.StatusBadRequest, "", "“Until” is before “From”"},
		{"before=abc", "before=abc", http.StatusBadRequest, "console.sign_in accounts.revoke_tokens keys.rotate accounts.disable clients.create", "The page link is broken"},
		{"before=-1", "before=-1", http.StatusBadRequest, "console.sign_in accounts.revoke_tokens keys.rotate accounts.disable clients.create", "The page link is broken"},
		{"long actor", "actor=" + strings.Repeat("a", 300), http.StatusBadRequest, "", "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := f.do(c, "GET", "/admin/ui/audit?"+tc.query, nil, en)
			if a.status != tc.status {
				t.Fatalf("%d, want %d: %s", a.status, tc.status, a.body)
			}
			if got := strings.Join(auditActions(a.body), " "); got != tc.want {
				t.Errorf("actions [%s], want [%s]", got, tc.want)
			}
			if !strings.Contains(a.body, tc.words) {
				t.Errorf("the page lacks %q", tc.words)
			}
			if strings.Contains(a.body, "s3cr3t") {
				t.Error("a secret-looking detail is shown")
			}
		})
	}
	// Details read as key=value; what was typed stays in the form.
	a := f.do(c, "GET", "/admin/ui/audit?actor=admin-console:*&since="+url.QueryEscape(day(2)), nil, en)
	for _, want := range []string{`client_secret=[hidden] note=&#34;two words&#34; tokens_revoked=3`, `value="admin-console:*"`, `value="` + day(2) + `"`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// Keyset paging: 50 a page, "next" carries the filters and the last id.
func TestConsoleAuditPaging(t *testing.T) {
	f := newConsoleFixture(t)
	ctx := context.Background()
	for i := range 120 {
		actor := "admin-api:ops"
		if i%2 == 0 {
			actor = "admin-console:ops"
		}
		if err := f.env.Store.AppendAudit(ctx, storage.AuditEvent{At: f.clock.Now(), Actor: actor, Action: "clients.update", Target: fmt.Sprintf("c%d", i), Details: "{}"}); err != nil {
			t.Fatal(err)
		}
	}
	c := f.client()
	f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	next := regexp.MustCompile(`href="([^"]+)" id="audit-next"`)
	seen := map[string]bool{}
	path, pages := "/admin/ui/audit?actor=admin-api:ops", 0
	for path != "" {
		pages++
		a := f.do(c, "GET", strings.ReplaceAll(path, "&amp;", "&"), nil, nil)
		if a.status != http.StatusOK {
			t.Fatalf("page %d: %d", pages, a.status)
		}
		for _, m := range regexp.MustCompile(`<code>(c\d+)</code>`).FindAllStringSubmatch(a.body, -1) {
			if seen[m[1]] {
				t.Errorf("%s listed twice", m[1])
			}
			seen[m[1]] = true
		}
		path = ""
		if m := next.FindStringSubmatch(a.body); m != nil {
			path = m[1]
			if !strings.Contains(path, "actor=admin-api") {
				t.Errorf("the next page lost the filter: %s", path)
			}
		}
	}
	if len(seen) != 60 || pages != 2 {
		t.Errorf("%d events on %d pages, want 60 on 2", len(seen), pages)
	}
}

// The admin API's audit listing takes the console's filters; every answer
// matches the OpenAPI document.
func TestAdminAuditFilters(t *testing.T) {
	f := newTestAdmin(t, nil)
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for i, e := range []struct{ actor, action string }{
		{"admin-api:ops", "clients.create"},
		{"admin-console:ops", "accounts.disable"},
		{"admin-console:ci", "keys.rotate"},
	} {
		if err := f.env.Store.AppendAudit(ctx, storage.AuditEvent{At: base.Add(time.Duration(i) * time.Hour), Actor: e.actor, Action: e.action, Target: "t", Details: "{}"}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(query string) string {
		t.Helper()
		var page struct {
			Events []struct{ Action string } `json:"events"`
		}
		f.json("GET", "/admin/v1/audit?"+query, "", http.StatusOK, &page)
		var out []string
		for _, e := range page.Events {
			if !strings.HasPrefix(e.Action, "keys.created") && !strings.HasPrefix(e.Action, "keys.activated") {
				out = append(out, e.Action)
			}
		}
		return strings.Join(out, " ")
	}
	for query, want := range map[string]string{
		"actor=admin-console:*":   "keys.rotate accounts.disable",
		"actor=admin-console:ops": "accounts.disable",
		"action=clients.*":        "clients.create",
		"since=2026-03-01T09:00:00Z&until=2026-03-01T10:00:00Z": "accounts.disable",
		"actor=admin-console%3A*&limit=1":                       "keys.rotate",
	} {
		if got := list(query); got != want {
			t.Errorf("%s: [%s], want [%s]", query, got, want)
		}
	}
	for _, query := range []string{"since=yesterday", "until=2026-03-01", "since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "before=-1"} {
		rec := f.do("GET", "/admin/v1/audit?"+query, opsAuth, "")
		if rec.Code != http.StatusBadRequest || errorBody(t, rec).Error != "invalid_request" {
			t.Errorf("%s: %d %s", query, rec.Code, rec.Body)
		}
	}
}
