package wechat

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// DefaultBrowserBaseURL is where WeChat's browser authorize pages live
// (docs/wechat.md §6); dev mode points at the emulator instead.
const DefaultBrowserBaseURL = "https://open.weixin.qq.com"

// maxStateLen is WeChat's bound on state (docs/wechat.md §6.2).
const maxStateLen = 128

// QRConnectURL returns the website QR login page for a website app
// (docs/wechat.md §6.1):
//
//	{browserBase}/connect/qrconnect?appid=…&redirect_uri=…&response_type=code&scope=snsapi_login&state=…[&lang=…]#wechat_redirect
//
// WeChat matches the parameter order strictly, so the URL is built in this
// order. state must be 1 to 128 characters from [A-Za-z0-9]; lang is "",
// "cn" or "en". Invalid arguments return an error matching ErrConfig.
func QRConnectURL(browserBase, appID, redirectURI, state, lang string) (string, error) {
	if lang != "" && lang != "cn" && lang != "en" {
		return "", fmt.Errorf("wechat: qrconnect lang must be cn or en: %w", ErrConfig)
	}
	extra := ""
	if lang != "" {
		extra = "&lang=" + lang
	}
	return authorizeURL(browserBase, "/connect/qrconnect", appID, redirectURI, ScopeSNSAPILogin, state, extra)
}

// OAuthAuthorizeURL returns the official account web OAuth page
// (docs/wechat.md §6.2), to be opened inside WeChat:
//
//	{browserBase}/connect/oauth2/authorize?appid=…&redirect_uri=…&response_type=code&scope=…&state=…#wechat_redirect
//
// scope is snsapi_base or snsapi_userinfo; state as for QRConnectURL.
func OAuthAuthorizeURL(browserBase, appID, redirectURI, scope, state string) (string, error) {
	if scope != ScopeSNSAPIBase && scope != ScopeSNSAPIUserInfo {
		return "", fmt.Errorf("wechat: oauth2/authorize scope must be %s or %s: %w", ScopeSNSAPIBase, ScopeSNSAPIUserInfo, ErrConfig)
	}
	return authorizeURL(browserBase, "/connect/oauth2/authorize", appID, redirectURI, scope, state, "")
}

func authorizeURL(browserBase, path, appID, redirectURI, scope, state, extra string) (string, error) {
	base, err := parseBaseURL(browserBase)
	if err != nil {
		return "", fmt.Errorf("wechat: browser base URL: %v: %w", err, ErrConfig)
	}
	if !validID(appID) {
		return "", fmt.Errorf("wechat: empty or malformed appid: %w", ErrConfig)
	}
	if err := checkRedirectURI(redirectURI); err != nil {
		return "", fmt.Errorf("wechat: redirect_uri %v: %w", err, ErrConfig)
	}
	if !ValidState(state) {
		return "", fmt.Errorf("wechat: state must be 1 to %d characters from [A-Za-z0-9]: %w", maxStateLen, ErrConfig)
	}
	var b strings.Builder
	b.WriteString(base.String())
	b.WriteString(path)
	b.WriteString("?appid=")
	b.WriteString(url.QueryEscape(appID))
	b.WriteString("&redirect_uri=")
	b.WriteString(url.QueryEscape(redirectURI))
	b.WriteString("&response_type=code&scope=")
	b.WriteString(scope)
	b.WriteString("&state=")
	b.WriteString(state)
	b.WriteString(extra)
	b.WriteString("#wechat_redirect")
	return b.String(), nil
}

// ValidState reports whether s is a state WeChat accepts: 1 to 128
// characters from [A-Za-z0-9].
func ValidState(s string) bool {
	if s == "" || len(s) > maxStateLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// checkRedirectURI requires an absolute http(s) URL without user info or
// fragment (WeChat appends ?code=…&state=…).
func checkRedirectURI(raw string) error {
	if raw == "" {
		return errors.New("is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("must be an absolute http or https URL")
	case u.Host == "":
		return errors.New("has no host")
	case u.User != nil:
		return errors.New("must not carry user info")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not carry a fragment")
	}
	return nil
}
