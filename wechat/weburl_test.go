package wechat_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/wechat"
)

func TestQRConnectURL(t *testing.T) {
	const base = "https://open.weixin.qq.com"
	for _, tc := range []struct {
		name                           string
		base, appID, redirect, st, lng string
		want                           string // "" = error
	}{
		{"plain", base, "wx00000000000000a1", "https://id.example.com/oauth2/wechat/callback", "abc123", "",
			"https://open.weixin.qq.com/connect/qrconnect?appid=wx00000000000000a1&redirect_uri=https%3A%2F%2Fid.example.com%2Foauth2%2Fwechat%2Fcallback&response_type=code&scope=snsapi_login&state=abc123#wechat_redirect"},
		{"lang en, redirect with query", base + "/", "wx1", "http://127.0.0.1:8080/cb?a=1&b=2", "S", "en",
			"https://open.weixin.qq.com/connect/qrconnect?appid=wx1&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fcb%3Fa%3D1%26b%3D2&response_type=code&scope=snsapi_login&state=S&lang=en#wechat_redirect"},
		{"emulator base with a path", "http://127.0.0.1:8080/wechat-emulator", "wx1", "http://127.0.0.1:8080/cb", "S", "cn",
			"http://127.0.0.1:8080/wechat-emulator/connect/qrconnect?appid=wx1&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fcb&response_type=code&scope=snsapi_login&state=S&lang=cn#wechat_redirect"},
		{"state of 128", base, "wx1", "https://rp/cb", strings.Repeat("a", 128), "", "https://open.weixin.qq.com/connect/qrconnect?appid=wx1&redirect_uri=https%3A%2F%2Frp%2Fcb&response_type=code&scope=snsapi_login&state=" + strings.Repeat("a", 128) + "#wechat_redirect"},
		{"state of 129", base, "wx1", "https://rp/cb", strings.Repeat("a", 129), "", ""},
		{"empty state", base, "wx1", "https://rp/cb", "", "", ""},
		{"state with a dash", base, "wx1", "https://rp/cb", "a-b", "", ""},
		{"state with a space", base, "wx1", "https://rp/cb", "a b", "", ""},
		{"state with unicode", base, "wx1", "https://rp/cb", "é", "", ""},
		{"bad lang", base, "wx1", "https://rp/cb", "s", "zh_CN", ""},
		{"empty appid", base, "", "https://rp/cb", "s", "", ""},
		{"appid with a space", base, "wx 1", "https://rp/cb", "s", "", ""},
		{"relative redirect", base, "wx1", "/cb", "s", "", ""},
		{"javascript redirect", base, "wx1", "javascript:alert(1)", "s", "", ""},
		{"redirect with a fragment", base, "wx1", "https://rp/cb#x", "s", "", ""},
		{"redirect with user info", base, "wx1", "https://u:p@rp/cb", "s", "", ""},
		{"empty redirect", base, "wx1", "", "s", "", ""},
		{"base without scheme", "open.weixin.qq.com", "wx1", "https://rp/cb", "s", "", ""},
		{"base with a query", base + "?x=1", "wx1", "https://rp/cb", "s", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wechat.QRConnectURL(tc.base, tc.appID, tc.redirect, tc.st, tc.lng)
			if tc.want == "" {
				if err == nil || !errors.Is(err, wechat.ErrConfig) || got != "" {
					t.Errorf("got %q, %v; want an ErrConfig error", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}
}

func TestOAuthAuthorizeURL(t *testing.T) {
	const base = "https://open.weixin.qq.com"
	for _, tc := range []struct {
		name, scope, state, want string
	}{
		{"base", "snsapi_base", "xyz", "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx00000000000000a2&redirect_uri=https%3A%2F%2Fid.example.com%2Fcb&response_type=code&scope=snsapi_base&state=xyz#wechat_redirect"},
		{"userinfo", "snsapi_userinfo", "Q1", "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx00000000000000a2&redirect_uri=https%3A%2F%2Fid.example.com%2Fcb&response_type=code&scope=snsapi_userinfo&state=Q1#wechat_redirect"},
		{"login scope", "snsapi_login", "s", ""},
		{"empty scope", "", "s", ""},
		{"two scopes", "snsapi_base,snsapi_userinfo", "s", ""},
		{"bad state", "snsapi_base", "s=1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wechat.OAuthAuthorizeURL(base, "wx00000000000000a2", "https://id.example.com/cb", tc.scope, tc.state)
			if tc.want == "" {
				if !errors.Is(err, wechat.ErrConfig) || got != "" {
					t.Errorf("got %q, %v; want an ErrConfig error", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}
}

func TestValidState(t *testing.T) {
	for s, want := range map[string]bool{
		"a": true, "AZaz09": true, strings.Repeat("Z", 128): true,
		"": false, strings.Repeat("Z", 129): false, "a_b": false, "a.b": false, "a%20": false,
	} {
		if got := wechat.ValidState(s); got != want {
			t.Errorf("ValidState(%q) = %v", s, got)
		}
	}
}
