package wechat

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzParseWebResponse feeds arbitrary bodies to the web OAuth parsers.
// Invariants: no panic; a snapshot answer never yields a token; an accepted
// token is complete and printable; an accepted user has a valid openid, a
// clean bounded nickname and an http(s) or empty image URL.
func FuzzParseWebResponse(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"ACCESS","expires_in":7200,"refresh_token":"REFRESH","openid":"OPENID","scope":"snsapi_userinfo","unionid":"o6_bmasdasdsad6_2sgVt7hMZOPfL"}`,
		`{"access_token":"A","expires_in":"7200","refresh_token":"R","openid":"o1","scope":"snsapi_base","is_snapshotuser":1}`,
		`{"is_snapshotuser":"1"}`, `{"is_snapshotuser":2,"access_token":"A","expires_in":1,"refresh_token":"R","openid":"o1"}`,
		`{"openid":"o1","nickname":"NICKNAME","sex":0,"province":"","city":"","country":"","headimgurl":"https://thirdwx.qlogo.cn/mmopen/g3Mon/46","privilege":[],"unionid":"o6_bmasdasdsad6_2sgVt7hMZOPfL"}`,
		`{"openid":"o1","nickname":"\u0000\u202e","headimgurl":"javascript:x"}`,
		``, `null`, `[]`, `{"expires_in":1e9}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, snap, err := parseWebToken(body)
		if snap && (err != nil || tok != (WebToken{})) {
			t.Fatalf("snapshot answer with a token or an error: %v %v", tok, err)
		}
		if !snap && err == nil {
			if !printable(tok.AccessToken, maxTokenLen) || !printable(tok.RefreshToken, maxTokenLen) || !validID(tok.OpenID) ||
				tok.ExpiresIn <= 0 || (tok.UnionID != "" && !validID(tok.UnionID)) {
				t.Fatalf("bad token accepted: %+v", tok)
			}
		}
		u, err := parseWebUser(body)
		if err != nil {
			return
		}
		if !validID(u.OpenID) || (u.UnionID != "" && !validID(u.UnionID)) || len([]rune(u.Nickname)) > maxNicknameRunes {
			t.Fatalf("bad user accepted: %+v", u)
		}
		for _, r := range u.Nickname {
			if unicode.IsControl(r) {
				t.Fatalf("control character in nickname %q", u.Nickname)
			}
		}
		if u.HeadImgURL != "" && !strings.HasPrefix(u.HeadImgURL, "https://") && !strings.HasPrefix(u.HeadImgURL, "http://") {
			t.Fatalf("image URL %q", u.HeadImgURL)
		}
	})
}
