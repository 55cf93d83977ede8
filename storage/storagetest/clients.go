package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

func newClient(id string) storage.Client {
	return storage.Client{
		ID:                       id,
		Name:                     "Client " + id,
		SecretHash:               "$pbkdf2-sha256$i=10000$c2FsdA$aGFzaA",
		TokenEndpointAuthMethod:  "client_secret_basic",
		WeChatAppID:              "wx0123456789abcdef",
		GrantTypes:               []string{"urn:wxoidc:grant-type:wechat", "refresh_token"},
		Scopes:                   []string{"openid", "profile", "phone", "offline_access"},
		Audiences:                []string{"https://api.example.com", "https://other.example.com"},
		DefaultAudience:          "https://api.example.com",
		RequirePhone:             true,
		IDTokenSignedResponseAlg: "ES256",
		JWKS:                     []byte(`{"keys":[]}`),
		RedirectURIs:             []string{"https://rp.example.com/cb", "https://rp.example.com/cb2?x=1"},
		PostLogoutRedirectURIs:   []string{"https://rp.example.com/bye"},
		SkipConsent:              true,
		BackchannelLogoutURI:     "https://rp.example.com/backchannel",
		WeChatApps:               []string{"wxaaaaaaaaaaaaaaaa", "wxbbbbbbbbbbbbbbbb"},
		Disabled:                 false,
		CreatedAt:                baseTime,
		UpdatedAt:                baseTime.Add(time.Second),
	}
}

func testClientCRUD(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	list, err := s.ListClients(ctx)
	mustNoErr(t, "list empty", err)
	if len(list) != 0 {
		t.Fatalf("empty storage lists %d clients", len(list))
	}

	_, err = s.GetClient(ctx, "absent")
	mustErrIs(t, "get absent", err, storage.ErrNotFound)

	c := newClient("b-client")
	mustNoErr(t, "create", s.CreateClient(ctx, c))
	got, err := s.GetClient(ctx, c.ID)
	mustNoErr(t, "get", err)
	checkRecord(t, "get", got, c)

	dup := newClient(c.ID)
	dup.Name = "duplicate"
	mustErrIs(t, "create duplicate", s.CreateClient(ctx, dup), storage.ErrAlreadyExists)

	// A public client: empty secret, empty and nil slices read back nil.
	public := storage.Client{
		ID:                      "a-public",
		Name:                    "Mini program",
		TokenEndpointAuthMethod: "none",
		WeChatAppID:             "wxfedcba9876543210",
		GrantTypes:              []string{"urn:wxoidc:grant-type:wechat"},
		Scopes:                  []string{},
		Audiences:               nil,
		JWKS:                    []byte{},
		RedirectURIs:            []string{},
		PostLogoutRedirectURIs:  nil,
		WeChatApps:              []string{},
		Disabled:                true,
		CreatedAt:               baseTime,
		UpdatedAt:               baseTime,
	}
	mustNoErr(t, "create public", s.CreateClient(ctx, public))
	wantPublic := public
	wantPublic.Scopes, wantPublic.JWKS = nil, nil
	wantPublic.RedirectURIs, wantPublic.WeChatApps = nil, nil
	got, err = s.GetClient(ctx, public.ID)
	mustNoErr(t, "get public", err)
	checkRecord(t, "public", got, wantPublic)

	third := newClient("c-service")
	third.GrantTypes = []string{"client_credentials"}
	mustNoErr(t, "create third", s.CreateClient(ctx, third))

	list, err = s.ListClients(ctx)
	mustNoErr(t, "list", err)
	checkRecords(t, "list (ordered by ID)", list, []storage.Client{wantPublic, c, third})

	mustNoErr(t, "delete", s.DeleteClient(ctx, c.ID))
	_, err = s.GetClient(ctx, c.ID)
	mustErrIs(t, "get deleted", err, storage.ErrNotFound)
	mustErrIs(t, "delete again", s.DeleteClient(ctx, c.ID), storage.ErrNotFound)
	list, err = s.ListClients(ctx)
	mustNoErr(t, "list after delete", err)
	checkRecords(t, "list after delete", list, []storage.Client{wantPublic, third})
}

// ListClientsPage walks the clients page by page (keyset pagination by ID),
// alone and within an ID prefix.
func testListClientsPage(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	page, err := s.ListClientsPage(ctx, "", "", 10)
	mustNoErr(t, "empty", err)
	if len(page) != 0 {
		t.Fatalf("empty storage: a page of %d", len(page))
	}
	var ids []string
	for _, id := range []string{"app-01", "app-02", "app-03", "app-10", "b", "ba", "bz", "svc-1", "svc-2", "web"} {
		c := newClient(id)
		mustNoErr(t, "create "+id, s.CreateClient(ctx, c))
		ids = append(ids, id)
	}
	idsOf := func(cs []storage.Client) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	// Page by page, each from the last ID of the one before, gives every
	// client once, in order.
	var walked []string
	after := ""
	for range len(ids) {
		page, err := s.ListClientsPage(ctx, "", after, 3)
		mustNoErr(t, "page after "+after, err)
		if len(page) == 0 {
			break
		}
		if len(page) > 3 {
			t.Fatalf("page after %q: %d clients, limit 3", after, len(page))
		}
		walked = append(walked, idsOf(page)...)
		after = page[len(page)-1].ID
	}
	checkIDs(t, "walked", walked, ids)

	// A page carries whole clients.
	page, err = s.ListClientsPage(ctx, "", "app-10", 1)
	mustNoErr(t, "one", err)
	want := newClient("b")
	if len(page) != 1 {
		t.Fatalf("page after app-10: %v", idsOf(page))
	}
	checkRecord(t, "page record", page[0], want)

	for _, tc := range []struct {
		prefix, after string
		limit         int
		want          []string
	}{
		{"app-", "", 10, []string{"app-01", "app-02", "app-03", "app-10"}},
		{"app-", "", 2, []string{"app-01", "app-02"}},
		{"app-", "app-02", 2, []string{"app-03", "app-10"}},
		{"app-", "app-10", 2, []string{}},
		{"app-0", "", 10, []string{"app-01", "app-02", "app-03"}},
		{"b", "", 10, []string{"b", "ba", "bz"}},
		{"b", "b", 10, []string{"ba", "bz"}},
		{"b", "a", 10, []string{"b", "ba", "bz"}}, // after sorts before the prefix
		{"b", "web", 10, []string{}},              // after sorts past it
		{"svc-", "", 1, []string{"svc-1"}},
		{"web", "", 10, []string{"web"}},
		{"x", "", 10, []string{}},
		{"app-01-more", "", 10, []string{}},
		{"", "svc-2", 10, []string{"web"}},
		{"", "zzz", 10, []string{}},
		{"", "", 0, []string{}},
		{"", "", -1, []string{}},
	} {
		page, err := s.ListClientsPage(ctx, tc.prefix, tc.after, tc.limit)
		mustNoErr(t, "prefix "+tc.prefix, err)
		checkIDs(t, fmt.Sprintf("prefix %q after %q limit %d", tc.prefix, tc.after, tc.limit), idsOf(page), tc.want)
	}

	// A deleted client leaves the pages; the others keep their places.
	mustNoErr(t, "delete", s.DeleteClient(ctx, "app-02"))
	page, err = s.ListClientsPage(ctx, "app-", "app-01", 10)
	mustNoErr(t, "after delete", err)
	checkIDs(t, "after delete", idsOf(page), []string{"app-03", "app-10"})
}

func checkIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

func testUpdateClient(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	c := newClient("client-1")
	mustNoErr(t, "create", s.CreateClient(ctx, c))

	var seen storage.Client
	updated, err := s.UpdateClient(ctx, c.ID, func(old storage.Client) (storage.Client, error) {
		seen = old
		old.Name = "Renamed"
		old.Scopes = append(old.Scopes, "email")
		old.Audiences = nil
		old.RedirectURIs = append(old.RedirectURIs, "https://rp.example.com/cb3")
		old.PostLogoutRedirectURIs = nil
		old.SkipConsent = false
		old.BackchannelLogoutURI = ""
		old.WeChatApps = []string{"wxcccccccccccccccc"}
		old.Disabled = true
		old.UpdatedAt = baseTime.Add(time.Hour)
		return old, nil
	})
	mustNoErr(t, "update", err)
	checkRecord(t, "updater input", seen, c)
	want := c
	want.Name = "Renamed"
	want.Scopes = []string{"openid", "profile", "phone", "offline_access", "email"}
	want.Audiences = nil
	want.RedirectURIs = []string{"https://rp.example.com/cb", "https://rp.example.com/cb2?x=1", "https://rp.example.com/cb3"}
	want.PostLogoutRedirectURIs = nil
	want.SkipConsent = false
	want.BackchannelLogoutURI = ""
	want.WeChatApps = []string{"wxcccccccccccccccc"}
	want.Disabled = true
	want.UpdatedAt = baseTime.Add(time.Hour)
	checkRecord(t, "update result", updated, want)
	got, err := s.GetClient(ctx, c.ID)
	mustNoErr(t, "get", err)
	checkRecord(t, "get after update", got, want)

	fnErr := errors.New("updater refuses")
	_, err = s.UpdateClient(ctx, c.ID, func(old storage.Client) (storage.Client, error) {
		old.Name = "must not be written"
		return old, fnErr
	})
	mustErrIs(t, "update with failing updater", err, fnErr)
	got, err = s.GetClient(ctx, c.ID)
	mustNoErr(t, "get", err)
	checkRecord(t, "after failing updater", got, want)

	_, err = s.UpdateClient(ctx, c.ID, func(old storage.Client) (storage.Client, error) {
		old.ID = "client-2"
		return old, nil
	})
	if err == nil {
		t.Fatal("update changing the ID succeeded")
	}
	_, err = s.GetClient(ctx, "client-2")
	mustErrIs(t, "get renamed ID", err, storage.ErrNotFound)
	got, err = s.GetClient(ctx, c.ID)
	mustNoErr(t, "get", err)
	checkRecord(t, "after ID change attempt", got, want)

	called := false
	_, err = s.UpdateClient(ctx, "absent", func(old storage.Client) (storage.Client, error) {
		called = true
		return old, nil
	})
	mustErrIs(t, "update absent", err, storage.ErrNotFound)
	if called {
		t.Error("updater called for an absent client")
	}
}

func testClientAssertionJTI(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := baseTime
	exp := now.Add(time.Hour)

	used, err := s.ClientAssertionJTIUsed(ctx, "jti-1", now)
	mustNoErr(t, "used before set", err)
	if used {
		t.Fatal("unknown jti reported used")
	}
	mustNoErr(t, "set", s.SetClientAssertionJTI(ctx, "jti-1", exp, now))
	used, err = s.ClientAssertionJTIUsed(ctx, "jti-1", now)
	mustNoErr(t, "used", err)
	if !used {
		t.Fatal("recorded jti not reported used")
	}
	used, err = s.ClientAssertionJTIUsed(ctx, "jti-2", now)
	mustNoErr(t, "other jti used", err)
	if used {
		t.Fatal("another jti reported used")
	}

	mustErrIs(t, "set unexpired again",
		s.SetClientAssertionJTI(ctx, "jti-1", exp.Add(time.Hour), now.Add(30*time.Minute)), storage.ErrAlreadyExists)

	used, err = s.ClientAssertionJTIUsed(ctx, "jti-1", exp)
	mustNoErr(t, "used at expiry", err)
	if used {
		t.Fatal("jti reported used at its expiry")
	}

	// Once expired the jti may be recorded again, with its new expiry.
	later := exp.Add(time.Minute)
	mustNoErr(t, "set after expiry", s.SetClientAssertionJTI(ctx, "jti-1", later.Add(time.Hour), later))
	used, err = s.ClientAssertionJTIUsed(ctx, "jti-1", later.Add(30*time.Minute))
	mustNoErr(t, "used after re-set", err)
	if !used {
		t.Fatal("re-recorded jti not reported used")
	}
	mustErrIs(t, "set re-recorded jti",
		s.SetClientAssertionJTI(ctx, "jti-1", later.Add(2*time.Hour), later.Add(time.Minute)), storage.ErrAlreadyExists)
}
