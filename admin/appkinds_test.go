package admin_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/provider"
)

// One configured app of each kind (admintest.AppID is the mini-program).
const (
	kindWebsite  = "wx000000000000web1"
	kindOfficial = "wx000000000000oa01"
	kindMobile   = "wx000000000000app1"
)

func kindsEnv(t *testing.T) *admintest.Env {
	return admintest.New(t, func(c *admin.Config) {
		c.WeChatAppIDs = append(c.WeChatAppIDs, kindWebsite, kindOfficial, kindMobile)
		c.WeChatAppKinds = map[string]string{
			admintest.AppID: config.WeChatKindMiniProgram, kindWebsite: config.WeChatKindWebsite,
			kindOfficial: config.WeChatKindOfficialAccount, kindMobile: config.WeChatKindMobileApp,
		}
	})
}

func TestClientAppKinds(t *testing.T) {
	env := kindsEnv(t)
	ctx := asOps(t.Context())
	appClient := func(appID, grant string) admin.ClientSpec {
		return admin.ClientSpec{WeChatAppID: ptr(appID), GrantTypes: ptr([]string{grant, provider.GrantTypeRefreshToken})}
	}
	browser := func(apps ...string) admin.ClientSpec {
		s := webSpec()
		s.ID = nil
		s.WeChatApps = ptr(apps)
		return s
	}
	for _, tc := range []struct {
		name string
		spec admin.ClientSpec
		// wantErr lists what the ErrInvalid message must name; nil: valid.
		wantErr []string
	}{
		{"mini-program grant, miniprogram", appClient(admintest.AppID, provider.GrantTypeWeChat), nil},
		{"mini-program grant, website", appClient(kindWebsite, provider.GrantTypeWeChat), []string{kindWebsite, "website", "miniprogram"}},
		{"mini-program grant, official account", appClient(kindOfficial, provider.GrantTypeWeChat), []string{kindOfficial, "official_account"}},
		{"mini-program grant, mobile app", appClient(kindMobile, provider.GrantTypeWeChat), []string{kindMobile, "mobile_app", "miniprogram"}},
		{"mobile app grant, mobile app", appClient(kindMobile, provider.GrantTypeWeChatApp), nil},
		{"mobile app grant, miniprogram", appClient(admintest.AppID, provider.GrantTypeWeChatApp), []string{admintest.AppID, "is a miniprogram app", "mobile_app"}},
		{"mobile app grant, website", appClient(kindWebsite, provider.GrantTypeWeChatApp), []string{kindWebsite, "website", "mobile_app"}},
		{"mobile app grant, unknown app", appClient("wx-unknown", provider.GrantTypeWeChatApp), []string{"wx-unknown", "not configured"}},
		{"browser, website", browser(kindWebsite), nil},
		{"browser, official account", browser(kindOfficial), nil},
		{"browser, miniprogram (scan sign-in)", browser(admintest.AppID), nil},
		{"browser, all three", browser(kindWebsite, kindOfficial, admintest.AppID), nil},
		{"browser, mobile app", browser(kindWebsite, kindMobile), []string{"wechat_apps", kindMobile, "mobile_app"}},
		{"browser, unknown app", browser("wx-unknown"), []string{"wechat_apps", "wx-unknown", "not configured"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Service.CreateClient(ctx, tc.spec)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				return
			}
			if !errors.Is(err, admin.ErrInvalid) {
				t.Fatalf("create = %v, want ErrInvalid", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// A client bound to a mobile app gets the mobile app grant by default; the
// check also runs on updates.
func TestClientAppKindsDefaultsAndUpdates(t *testing.T) {
	env := kindsEnv(t)
	ctx := asOps(t.Context())
	c, err := env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptr("ios"), WeChatAppID: ptr(kindMobile)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.GrantTypes, []string{provider.GrantTypeWeChatApp, provider.GrantTypeRefreshToken}) || c.TokenEndpointAuthMethod != provider.AuthMethodNone {
		t.Errorf("mobile app client defaults: %+v", c)
	}
	c, err = env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptr("mp"), WeChatAppID: ptr(admintest.AppID)})
	if err != nil || !slices.Equal(c.GrantTypes, []string{provider.GrantTypeWeChat, provider.GrantTypeRefreshToken}) {
		t.Errorf("mini-program client defaults: %+v %v", c, err)
	}
	if _, err := env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptr("site"), WeChatAppID: ptr(kindWebsite)}); !errors.Is(err, admin.ErrInvalid) {
		t.Errorf("a website app with the default mini-program grant: %v", err)
	}
	if _, err := env.Service.UpdateClient(ctx, "ios", admin.ClientSpec{WeChatAppID: ptr(admintest.AppID)}); !errors.Is(err, admin.ErrInvalid) {
		t.Errorf("rebinding the mobile app client to a mini-program: %v", err)
	}
	if _, err := env.Service.UpdateClient(ctx, "mp", admin.ClientSpec{
		WeChatAppID: ptr(kindMobile), GrantTypes: ptr([]string{provider.GrantTypeWeChatApp}),
	}); err != nil {
		t.Errorf("moving a client to the mobile app with its grant: %v", err)
	}
	if got := mustClient(t, env, "ios"); got.WeChatAppID != kindMobile {
		t.Errorf("a refused update changed the client: %+v", got)
	}
}
