package web

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
	"github.com/wxoidc/wxoidc/storage/sqlite"
)

// seedBenchAudit writes n audit events straight into the SQLite file at
// path, as a busy instance's log would hold them: mostly API calls and key
// maintenance, one in 10,000 from the console, one a second.
func seedBenchAudit(b *testing.B, path string, n int) {
	b.Helper()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seedSQLite(b, path, func(tx *sql.Tx) {
		bulkInsert(b, tx, "audit_events", []string{"at", "actor", "action", "target", "details"}, n, func(i int, args []any) []any {
			actor, action := "admin-api:ci", "clients.update"
			switch {
			case i%10000 == 0:
				actor, action = "admin-console:ops", "accounts.disable"
			case i%3 == 0:
				actor, action = "rotation", "keys.retired"
			}
			return append(args, at.Add(time.Duration(i)*time.Second).UnixMicro(), actor, action, fmt.Sprintf("target-%d", i), `{"n":1}`)
		})
	})
}

// BenchmarkConsoleAuditPage renders audit pages over a log of a million
// events through the console's handler with a signed-in session.
//
//	go test -run '^$' -bench ConsoleAuditPage -benchtime 200x ./web
func BenchmarkConsoleAuditPage(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds a million audit events")
	}
	const n = 1_000_000
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "audit.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	_ = st.Close()
	seedBenchAudit(b, path, n)
	st, err = sqlite.Open(ctx, path, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	env := admintest.New(b, func(c *admin.Config) { c.Store, c.Auditor = st, admin.NewAuditor(st, nil, nil) })
	h, err := NewAdminHandler(AdminConfig{Tokens: []AdminToken{{Name: "ops", Token: strings.TrimPrefix(opsAuth, "Bearer ")}}, Service: env.Service})
	if err != nil {
		b.Fatal(err)
	}
	cookies, _ := benchSignIn(b, h)
	for _, q := range []string{"", "actor=admin-console%3Aops", "actor=admin-console%3A*", "action=keys.*", "since=2026-01-05T00%3A00&until=2026-01-05T01%3A00"} {
		name := q
		if name == "" {
			name = "newest"
		}
		b.Run(name, func(b *testing.B) {
			serve := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest("GET", "/admin/ui/audit?"+q, nil)
				req.Header.Set("Cookie", cookies)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec
			}
			if rec := serve(); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "data-action=") {
				b.Fatalf("page: %d", rec.Code)
			}
			for b.Loop() {
				serve()
			}
		})
	}
}
