package admin_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
	"github.com/wxoidc/wxoidc/config"
)

// ListClientsPage walks the clients in pages, says when another follows,
// and filters by ID prefix.
func TestListClientsPage(t *testing.T) {
	env := admintest.New(t, nil)
	ctx := asOps(t.Context())
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("svc-%02d", i)
		if _, err := env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptr(id)}); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	if _, err := env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptr("app"), WeChatAppID: ptr(admintest.AppID)}); err != nil {
		t.Fatal(err)
	}
	want = append([]string{"app"}, want...)

	var got []string
	after, pages := "", 0
	for {
		p, err := env.Service.ListClientsPage(ctx, "", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range p.Clients {
			got = append(got, c.ID)
			if c.ClientSecret != "" {
				t.Errorf("client %s listed with its secret", c.ID)
			}
		}
		if p.NextAfter == "" {
			break
		}
		if p.NextAfter != got[len(got)-1] {
			t.Fatalf("NextAfter %q, last of the page %q", p.NextAfter, got[len(got)-1])
		}
		after = p.NextAfter
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Errorf("walked %v in %d pages, want %v in 3", got, pages, want)
	}
	// A page that ends exactly at the last client says no more follow.
	if p, err := env.Service.ListClientsPage(ctx, "svc-", "svc-03", 3); err != nil || len(p.Clients) != 3 || p.NextAfter != "" {
		t.Errorf("last full page: %+v %v", p, err)
	}
	if p, err := env.Service.ListClientsPage(ctx, "app", "", 0); err != nil || len(p.Clients) != 1 || p.Clients[0].ID != "app" {
		t.Errorf("prefix app: %+v %v", p, err)
	}
	for _, limit := range []int{-1, admin.MaxClientPageLimit + 1} {
		if _, err := env.Service.ListClientsPage(ctx, "", "", limit); !errors.Is(err, admin.ErrInvalid) {
			t.Errorf("limit %d: %v", limit, err)
		}
	}
}

func TestClientNameLength(t *testing.T) {
	env := admintest.New(t, nil)
	ctx := asOps(t.Context())
	long := strings.Repeat("名", admin.MaxClientNameLength)
	if _, err := env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptr("named"), Name: ptr(long)}); err != nil {
		t.Fatalf("a name of %d characters: %v", admin.MaxClientNameLength, err)
	}
	if _, err := env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptr("overlong"), Name: ptr(long + "x")}); !errors.Is(err, admin.ErrInvalid) {
		t.Errorf("create with an overlong name: %v", err)
	}
	if _, err := env.Service.UpdateClient(ctx, "named", admin.ClientSpec{Name: ptr(long + "x")}); !errors.Is(err, admin.ErrInvalid) {
		t.Errorf("update with an overlong name: %v", err)
	}
}

func TestWeChatApps(t *testing.T) {
	env := kindsEnv(t)
	got := env.Service.WeChatApps()
	want := []admin.WeChatApp{
		{AppID: admintest.AppID, Kind: config.WeChatKindMiniProgram, Browser: true},
		{AppID: kindMobile, Kind: config.WeChatKindMobileApp},
		{AppID: kindOfficial, Kind: config.WeChatKindOfficialAccount, Browser: true},
		{AppID: kindWebsite, Kind: config.WeChatKindWebsite, Browser: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("WeChatApps:\n got %+v\nwant %+v", got, want)
	}
}
