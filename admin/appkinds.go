package admin

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/provider"
)

// browserAppKinds are the app kinds a person may sign in with through the
// browser (a client's wechat_apps): website QR login, official-account
// OAuth inside WeChat, and the mini-program of the scan sign-in.
var browserAppKinds = []string{config.WeChatKindWebsite, config.WeChatKindOfficialAccount, config.WeChatKindMiniProgram}

// appKinds maps every configured appid to its kind (config.WeChatApp.Kind);
// an appid without a kind in kinds is a mini-program, as config.Normalize
// makes it.
func appKinds(ids []string, kinds map[string]string) map[string]string {
	out := make(map[string]string, len(ids)+len(kinds))
	for _, id := range ids {
		out[id] = config.WeChatKindMiniProgram
	}
	for id, k := range kinds {
		if k == "" {
			k = config.WeChatKindMiniProgram
		}
		out[id] = k
	}
	return out
}

// kindOf returns the kind of a configured appid, or ErrInvalid naming the
// field when the appid is not configured.
func (s *Service) kindOf(field, appID string) (string, error) {
	k, ok := s.appKinds[appID]
	if !ok {
		return "", fmt.Errorf("%w: %s %q is not configured under wechat.apps", ErrInvalid, field, appID)
	}
	return k, nil
}

// checkAppKinds checks that each app a client is bound to is of a kind its
// grants use: the mini-program grant takes wx.login codes of a
// miniprogram, the mobile app grant Open SDK codes of a mobile_app, and
// browser sign-in (wechat_apps) a website, official_account or miniprogram.
// WeChat refuses a code of the wrong kind only at the first login; this
// says so at registration.
func (s *Service) checkAppKinds(wechatAppID string, grants, wechatApps []string) error {
	if wechatAppID != "" {
		kind, err := s.kindOf("wechat_appid", wechatAppID)
		if err != nil {
			return err
		}
		if slices.Contains(grants, provider.GrantTypeWeChat) && kind != config.WeChatKindMiniProgram {
			return fmt.Errorf("%w: wechat_appid %q is a %s app, but the grant %s takes mini-program login codes: bind an app of kind %s",
				ErrInvalid, wechatAppID, kind, provider.GrantTypeWeChat, config.WeChatKindMiniProgram)
		}
		if slices.Contains(grants, provider.GrantTypeWeChatApp) && kind != config.WeChatKindMobileApp {
			return fmt.Errorf("%w: wechat_appid %q is a %s app, but the grant %s takes mobile app (Open SDK) codes: bind an app of kind %s",
				ErrInvalid, wechatAppID, kind, provider.GrantTypeWeChatApp, config.WeChatKindMobileApp)
		}
	}
	for _, app := range wechatApps {
		kind, err := s.kindOf("wechat_apps:", app)
		if err != nil {
			return err
		}
		if !slices.Contains(browserAppKinds, kind) {
			return fmt.Errorf("%w: wechat_apps: %q is a %s app, which cannot sign people in through the browser; use an app of kind %s",
				ErrInvalid, app, kind, strings.Join(browserAppKinds, ", "))
		}
	}
	return nil
}
