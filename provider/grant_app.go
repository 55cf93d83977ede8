package provider

import (
	"context"
	"errors"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
)

// GrantTypeWeChatApp is the native mobile app grant (docs/contract.md
// §1.7): a code from the WeChat Open SDK's SendAuth, traded like the
// mini-program's wx.login code.
const GrantTypeWeChatApp = "urn:wxoidc:params:oauth:grant-type:wechat-app"

// exchange trades the grant's code for the person's WeChat identity: with
// jscode2session for a mini-program, with the web OAuth code exchange for
// a mobile app (whose answer carries no session key).
func (g *wechatGrant) exchange(ctx context.Context, app wechat.App, code string) (wechat.Session, error) {
	if g.grantType != GrantTypeWeChatApp {
		sess, err := g.wechat.Code2Session(ctx, app, code)
		if err != nil {
			return wechat.Session{}, g.upstreamError(ctx, "jscode2session", err)
		}
		return sess, nil
	}
	if g.web == nil {
		return wechat.Session{}, fosite.ErrServerError.WithHint("The WeChat web OAuth client is not configured.")
	}
	tok, err := g.web.WebAccessToken(ctx, app, code)
	if errors.Is(err, wechat.ErrSnapshotUser) {
		return wechat.Session{}, fosite.ErrInvalidGrant.WithWrap(err).WithHint("This WeChat user is a snapshot-page visitor and cannot sign in.")
	}
	if err != nil {
		return wechat.Session{}, g.upstreamError(ctx, "sns/oauth2/access_token", err)
	}
	return wechat.Session{OpenID: tok.OpenID, UnionID: tok.UnionID}, nil
}

// withSessionKey adds the session key of a mini-program login to l, sealed
// and hashed; a login without one (a mobile app) leaves the stored keys
// alone (storage.RotateSessionKey).
func withSessionKey(a accountCrypto, l storage.WeChatLogin, sess wechat.Session) storage.WeChatLogin {
	raw := sess.SessionKey.Bytes()
	if len(raw) == 0 {
		return l
	}
	l.SessionKeyEncrypted = a.sealSessionKey(l.AppID, l.OpenID, raw)
	l.SessionKeyHash = a.sessionKeyHash(l.AppID, l.OpenID, raw)
	return l
}
