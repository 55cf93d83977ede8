package wechat

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxScopeLen bounds the scope field of a web token answer.
const maxScopeLen = 256

// maxWebTokenLife bounds expires_in of a web token answer (WeChat's is 7200 s).
const maxWebTokenLife = 10 * 365 * 24 * 3600

// parseWebToken decodes a /sns/oauth2/access_token or refresh_token success
// body. snapshot reports is_snapshotuser 1, whatever the other fields hold: a
// snapshot user is refused before anything else is looked at.
func parseWebToken(body []byte) (t WebToken, snapshot bool, err error) {
	var j struct {
		AccessToken  string     `json:"access_token"`
		RefreshToken string     `json:"refresh_token"`
		ExpiresIn    flexNumber `json:"expires_in"`
		OpenID       string     `json:"openid"`
		UnionID      string     `json:"unionid"`
		Scope        string     `json:"scope"`
		Snapshot     flexNumber `json:"is_snapshotuser"`
	}
	if err := json.Unmarshal(body, &j); err != nil {
		// A malformed is_snapshotuser must not let a snapshot user through:
		// it fails the whole answer.
		return WebToken{}, false, errMissingData
	}
	if j.Snapshot == 1 {
		return WebToken{}, true, nil
	}
	switch {
	case j.Snapshot != 0,
		!printable(j.AccessToken, maxTokenLen),
		!printable(j.RefreshToken, maxTokenLen),
		j.ExpiresIn <= 0 || j.ExpiresIn > maxWebTokenLife,
		!validID(j.OpenID),
		j.UnionID != "" && !validID(j.UnionID),
		j.Scope != "" && !printable(j.Scope, maxScopeLen):
		return WebToken{}, false, errMissingData
	}
	return WebToken{
		AccessToken:  j.AccessToken,
		RefreshToken: j.RefreshToken,
		ExpiresIn:    time.Duration(j.ExpiresIn) * time.Second,
		OpenID:       j.OpenID,
		UnionID:      j.UnionID,
		Scope:        j.Scope,
	}, false, nil
}

// maxNicknameRunes bounds a nickname we keep (WeChat's are short).
const maxNicknameRunes = 128

// maxURLLen bounds headimgurl.
const maxURLLen = 2048

// parseWebUser decodes a /sns/userinfo success body. openid is required;
// the display fields are cleaned rather than fatal.
func parseWebUser(body []byte) (WebUser, error) {
	var j struct {
		OpenID     string `json:"openid"`
		UnionID    string `json:"unionid"`
		Nickname   string `json:"nickname"`
		HeadImgURL string `json:"headimgurl"`
	}
	if err := json.Unmarshal(body, &j); err != nil {
		return WebUser{}, errMissingData
	}
	if !validID(j.OpenID) || (j.UnionID != "" && !validID(j.UnionID)) {
		return WebUser{}, errMissingData
	}
	return WebUser{
		OpenID:     j.OpenID,
		UnionID:    j.UnionID,
		Nickname:   cleanNickname(j.Nickname),
		HeadImgURL: cleanImageURL(j.HeadImgURL),
	}, nil
}

// cleanNickname makes a nickname safe to show and store: valid UTF-8, no
// control characters, bounded.
func cleanNickname(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxNicknameRunes {
			break
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			continue
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// cleanImageURL keeps an absolute http(s) URL and drops anything else.
func cleanImageURL(s string) string {
	if s == "" || len(s) > maxURLLen || !printable(s, maxURLLen) {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ""
	}
	return u.String()
}
