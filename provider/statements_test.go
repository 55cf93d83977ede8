package provider

import (
	"context"
	"net/url"
	"testing"

	"github.com/wxoidc/wxoidc/keys"
)

// TestStatementsPerRequest counts the SQL statements of each token request
// on its hot path (docs/performance.md reports them). A grant of a returning
// person reads the identity and account once, then writes the login and the
// tokens in one transaction: three statements, four with a phone, on SQLite;
// on PostgreSQL the write is one statement.
// Statements are what a request costs on PostgreSQL (a round trip each) and
// a good part of what it costs on SQLite (database/sql and the driver).
func TestStatementsPerRequest(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		// A refresh rotates in two statements here: one update, then the
		// chain's access tokens deleted.
		checkStatementsPerRequest(t, newBenchEnv(t, "NORMAL", keys.ES256), stmtWant{grant: 3, grantPhone: 4, refresh: 4})
	})
	t.Run("postgres", func(t *testing.T) {
		// The rotation is one statement here (a data-modifying CTE), and
		// so is the grant's write, with or without a phone (StoreLoginGrant).
		checkStatementsPerRequest(t, newPostgresBenchEnv(t), stmtWant{grant: 2, grantPhone: 2, refresh: 3})
	})
}

// stmtWant is what a backend's write paths take.
type stmtWant struct{ grant, grantPhone, refresh uint64 }

func checkStatementsPerRequest(t *testing.T, e *benchEnv, want stmtWant) {
	count := func(fn func()) uint64 {
		before := e.store.Statements()
		fn()
		return e.store.Statements() - before
	}

	form := e.grantForm(false)
	var first map[string]any
	newPerson := count(func() { first = e.token(t, tokenRequest(form, "", "")) })
	returning := count(func() { e.token(t, tokenRequest(again(form), "", "")) })
	phoneForm := e.grantForm(true)
	e.token(t, tokenRequest(phoneForm, "", ""))
	withPhone := count(func() { e.token(t, tokenRequest(again(phoneForm), "", "")) })
	userInfo := count(func() {
		if _, err := e.p.UserInfo(context.Background(), first["access_token"].(string)); err != nil {
			t.Fatal(err)
		}
	})
	introspection := count(func() {
		out, err := e.p.introspectToken(context.Background(), first["access_token"].(string), "")
		if err != nil || out["active"] != true {
			t.Fatalf("introspection: %v %v", out, err)
		}
	})
	refresh := count(func() {
		e.token(t, tokenRequest(url.Values{"grant_type": {GrantTypeRefreshToken}, "client_id": {benchMini},
			"refresh_token": {first["refresh_token"].(string)}}, "", ""))
	})
	cc := url.Values{"grant_type": {GrantTypeClientCredentials}}
	e.token(t, tokenRequest(cc, benchBackend, e.ccSecret)) // loads the client into the cache
	clientCredentials := count(func() { e.token(t, tokenRequest(cc, benchBackend, e.ccSecret)) })

	t.Logf("statements: grant of a new person %d, returning %d, returning with a phone %d, refresh %d, userinfo %d, introspection %d, client_credentials %d",
		newPerson, returning, withPhone, refresh, userInfo, introspection, clientCredentials)
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"grant of a returning person", returning, want.grant},
		{"grant of a returning person with a phone", withPhone, want.grantPhone},
		// The token read with the account and its identity (one
		// statement), the rotation, and the two new tokens in one
		// statement (pendingAccess).
		{"refresh", refresh, want.refresh},
		// UserInfo: the row read with the account and its identity.
		{"userinfo", userInfo, 1},
		// A person's JWT access token: its row read with its account's state.
		{"introspection", introspection, 1},
		{"client_credentials", clientCredentials, 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d statements, want %d", c.name, c.got, c.want)
		}
	}
}
