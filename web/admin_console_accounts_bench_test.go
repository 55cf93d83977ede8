package web

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/sqlite"
)

// benchAccounts is how many accounts BenchmarkConsoleAccountLookup seeds:
// WXOIDC_BENCH_ACCOUNTS, default one million.
func benchAccounts(b *testing.B) int {
	n := 1_000_000
	if v := os.Getenv("WXOIDC_BENCH_ACCOUNTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("WXOIDC_BENCH_ACCOUNTS=%q: want a positive number", v)
		}
	}
	return n
}

func benchPhone(i int) string { return fmt.Sprintf("+86139%08d", i) }

// seedBenchAccounts writes n accounts, each with a verified phone and one
// WeChat identity, straight into the tables of the SQLite file at path (the
// store's own one-row writes would take hours for a million).
func seedBenchAccounts(b *testing.B, path string, n int, phoneHash func(string) string) {
	b.Helper()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	sealed := make([]byte, 44) // about the size of a sealed E.164 number
	seedSQLite(b, path, func(tx *sql.Tx) {
		bulkInsert(b, tx, "accounts", []string{"id", "disabled", "created_at", "updated_at", "phone_encrypted", "phone_hash", "phone_source", "phone_verified_at"}, n,
			func(i int, args []any) []any {
				return append(args, fmt.Sprintf("bench-%07d", i), 0, at, at, sealed, phoneHash(benchPhone(i)), "phone_code", at)
			})
		bulkInsert(b, tx, "wechat_identities", []string{"appid", "openid", "account_id", "unionid", "session_key_encrypted", "previous_session_key_encrypted", "session_key_at", "created_at", "updated_at"}, n,
			func(i int, args []any) []any {
				return append(args, admintest.AppID, fmt.Sprintf("o-bench-%07d", i), fmt.Sprintf("bench-%07d", i), "", sealed, nil, at, at, at)
			})
	})
}

// seedSQLite runs fill in one transaction on the SQLite file at path, with
// syncing off: a benchmark's fixture, written once.
func seedSQLite(b *testing.B, path string, fill func(tx *sql.Tx)) {
	b.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, p := range []string{"PRAGMA synchronous = OFF", "PRAGMA cache_size = -200000", "PRAGMA temp_store = MEMORY"} {
		if _, err := db.ExecContext(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	fill(tx)
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// bulkInsert inserts n rows into table, row(i, args) appending the values of
// row i, with prepared INSERTs of up to 500 rows each (under SQLite's 32,766
// parameters for the widest table here).
func bulkInsert(b *testing.B, tx *sql.Tx, table string, cols []string, n int, row func(i int, args []any) []any) {
	b.Helper()
	const rows = 500
	ctx := context.Background()
	stmtFor := func(k int) *sql.Stmt {
		one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
		st, err := tx.PrepareContext(ctx, "INSERT INTO "+table+" ("+strings.Join(cols, ", ")+") VALUES "+strings.TrimSuffix(strings.Repeat(one+",", k), ","))
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	full := stmtFor(rows)
	args := make([]any, 0, rows*len(cols))
	for start := 0; start < n; start += rows {
		k := min(rows, n-start)
		args = args[:0]
		for i := start; i < start+k; i++ {
			args = row(i, args)
		}
		st := full
		if k != rows {
			st = stmtFor(k)
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsoleAccountLookup looks an account up by phone number among
// WXOIDC_BENCH_ACCOUNTS (default 1,000,000) accounts in SQLite and renders
// its page, through the console's handler with a signed-in session: the
// server's time, without the network. The target has a login session and
// a consent, like a person who signed in through a browser.
//
//	go test -run '^$' -bench ConsoleAccountLookup -benchtime 2000x ./web
func BenchmarkConsoleAccountLookup(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds a million accounts")
	}
	n := benchAccounts(b)
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "accounts.db")
	phoneKey := []byte("console benchmark phone index key")
	st, err := sqlite.Open(ctx, path, sqlite.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	_ = st.Close()
	start := time.Now()
	seedBenchAccounts(b, path, n, provider.PhoneHashFunc(phoneKey))
	b.Logf("seeded %d accounts in %s", n, time.Since(start).Round(time.Millisecond))

	st, err = sqlite.Open(ctx, path, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	env := admintest.New(b, func(c *admin.Config) {
		c.Store, c.Auditor, c.PhoneIndexKey = st, admin.NewAuditor(st, nil, nil), phoneKey
	})
	target := n * 7 / 10
	sub := fmt.Sprintf("bench-%07d", target)
	actx := admin.WithActor(ctx, admin.ActorCLI)
	id, apps := "web", []string{admintest.AppID}
	if _, err := env.Service.CreateClient(actx, admin.ClientSpec{ID: &id, GrantTypes: &[]string{"authorization_code"}, Scopes: &[]string{"openid"},
		RedirectURIs: &[]string{"https://app.example/cb"}, WeChatApps: &apps}); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	if err := st.CreateLoginSession(ctx, storage.LoginSession{ID: "bench-login", AccountID: sub, AuthTime: now, AMR: []string{"wechat"}, AppID: admintest.AppID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
		b.Fatal(err)
	}
	if err := st.AddLoginSessionClient(ctx, "bench-login", "web"); err != nil {
		b.Fatal(err)
	}
	if err := st.PutConsent(ctx, storage.Consent{AccountID: sub, ClientID: "web", Scopes: []string{"openid"}, GrantedAt: now}); err != nil {
		b.Fatal(err)
	}

	h, err := NewAdminHandler(AdminConfig{
		Tokens:  []AdminToken{{Name: "ops", Token: strings.TrimPrefix(opsAuth, "Bearer ")}},
		Service: env.Service,
	})
	if err != nil {
		b.Fatal(err)
	}
	cookies, csrf := benchSignIn(b, h)
	serve := func(method, target string, form url.Values) *httptest.ResponseRecorder {
		var r *http.Request
		if form != nil {
			r = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			r = httptest.NewRequest(method, target, nil)
		}
		r.Header.Set("Cookie", cookies)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	search := url.Values{"csrf": {csrf}, "by": {"phone"}, "phone": {benchPhone(target)}}
	page := "/admin/ui/accounts/" + sub
	if w := serve("POST", "/admin/ui/accounts/search", search); w.Code != http.StatusSeeOther || w.Header().Get("Location") != page {
		b.Fatalf("search: %d %q %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	if w := serve("GET", page, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "o-bench-") || !strings.Contains(w.Body.String(), "bench-login") {
		b.Fatalf("page: %d %s", w.Code, w.Body)
	}

	b.Run("phone-lookup", func(b *testing.B) {
		for b.Loop() {
			if w := serve("POST", "/admin/ui/accounts/search", search); w.Code != http.StatusSeeOther {
				b.Fatal(w.Code)
			}
		}
	})
	b.Run("account-page", func(b *testing.B) {
		for b.Loop() {
			if w := serve("GET", page, nil); w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		}
	})
	b.Run("lookup-and-page", func(b *testing.B) {
		for b.Loop() {
			w := serve("POST", "/admin/ui/accounts/search", search)
			if w := serve("GET", w.Header().Get("Location"), nil); w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		}
	})
}

// benchSignIn signs in to the console served by h and returns the cookies
// to send and the session's CSRF token.
func benchSignIn(b *testing.B, h http.Handler) (cookies, csrf string) {
	b.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/admin/ui/login", nil))
	login := w.Result().Cookies()
	form := url.Values{"login_csrf": {field(w.Body.String(), "login_csrf")}, "token": {strings.TrimPrefix(opsAuth, "Bearer ")}}
	r := httptest.NewRequest("POST", "/admin/ui/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range login {
		r.AddCookie(c)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		b.Fatalf("sign in: %d %s", w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == "wxoidc_console" {
			cookies = c.Name + "=" + c.Value
		}
	}
	r = httptest.NewRequest("GET", "/admin/ui/accounts", nil)
	r.Header.Set("Cookie", cookies)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return cookies, field(w.Body.String(), "csrf")
}
