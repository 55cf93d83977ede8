package provider

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
)

// WeChat is the upstream client the grant needs (wechat.Client implements it).
type WeChat interface {
	Code2Session(ctx context.Context, app wechat.App, jsCode string) (wechat.Session, error)
	PhoneNumber(ctx context.Context, app wechat.App, phoneCode, openID string) (wechat.Phone, error)
}

// Limits on the grant's own parameters. WeChat codes are ~32 characters; the
// legacy phone ciphertext is a few hundred bytes of base64.
const (
	maxCodeLen          = 256
	maxEncryptedDataLen = 8192
	maxIVLen            = 64
)

// wechatGrant is the fosite token-endpoint handler for
// urn:wxoidc:params:oauth:grant-type:wechat-miniprogram (docs/contract.md §1.1).
// HandleTokenEndpointRequest talks to WeChat and resolves the account;
// PopulateTokenEndpointResponse issues and persists the tokens.
type wechatGrant struct {
	*oauth2.HandleHelper
	refreshStrategy oauth2.RefreshTokenStrategy
	store           *fositeStore
	accounts        accountCrypto
	wechat          WeChat
	// grantType is GrantTypeWeChat (mini-programs, jscode2session) or
	// GrantTypeWeChatApp (mobile apps, the web OAuth code exchange);
	// appKind is the kind of app a client of that grant is bound to.
	grantType string
	appKind   string
	web       WeChatWeb
	apps      map[string]wechat.App
	kinds     map[string]string
	idTokens  *idTokenIssuer
	lifetimes lifetimes
	now       func() time.Time
	log       *slog.Logger
}

type lifetimes struct {
	access, refresh, idToken time.Duration
}

var _ fosite.TokenEndpointHandler = (*wechatGrant)(nil)

func (g *wechatGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

func (g *wechatGrant) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(g.grantType)
}

func (g *wechatGrant) checkRequest(ctx context.Context, r fosite.AccessRequester) (*fositeClient, wechat.App, error) {
	if !g.CanHandleTokenEndpointRequest(ctx, r) {
		return nil, wechat.App{}, fosite.ErrUnknownRequest
	}
	client, ok := r.GetClient().(*fositeClient)
	what := "mini-program"
	if g.appKind == AppKindMobileApp {
		what = "mobile app"
	}
	if !ok || !client.GetGrantTypes().Has(g.grantType) {
		return nil, wechat.App{}, fosite.ErrUnauthorizedClient.WithHintf("The client is not allowed to use the WeChat %s grant.", what)
	}
	app, ok := g.apps[client.WeChatAppID]
	if kind := g.kinds[client.WeChatAppID]; client.WeChatAppID == "" || !ok || (kind != "" && kind != g.appKind) {
		return nil, wechat.App{}, fosite.ErrUnauthorizedClient.WithHintf("The client is not bound to a configured WeChat %s.", what)
	}
	return client, app, nil
}

// grantParams are the validated form parameters of the grant.
type grantParams struct {
	code, phoneCode, encryptedData, iv string
}

func parseGrantParams(r fosite.AccessRequester) (grantParams, error) {
	f := r.GetRequestForm()
	p := grantParams{
		code:          f.Get("code"),
		phoneCode:     f.Get("phone_code"),
		encryptedData: f.Get("encrypted_data"),
		iv:            f.Get("iv"),
	}
	switch {
	case p.code == "":
		return p, fosite.ErrInvalidRequest.WithHint("The 'code' parameter (from wx.login) is required.")
	case len(p.code) > maxCodeLen || len(p.phoneCode) > maxCodeLen:
		return p, fosite.ErrInvalidRequest.WithHint("The 'code' or 'phone_code' parameter is too long.")
	case (p.encryptedData == "") != (p.iv == ""):
		return p, fosite.ErrInvalidRequest.WithHint("The 'encrypted_data' and 'iv' parameters must be sent together.")
	case len(p.encryptedData) > maxEncryptedDataLen || len(p.iv) > maxIVLen:
		return p, fosite.ErrInvalidRequest.WithHint("The 'encrypted_data' or 'iv' parameter is too long.")
	case p.phoneCode != "" && p.encryptedData != "":
		return p, fosite.ErrInvalidRequest.WithHint("Send either 'phone_code' or 'encrypted_data' and 'iv', not both.")
	}
	return p, nil
}

func (g *wechatGrant) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	client, app, err := g.checkRequest(ctx, r)
	if err != nil {
		return err
	}
	p, err := parseGrantParams(r)
	if err != nil {
		return err
	}
	if g.grantType == GrantTypeWeChatApp && (p.phoneCode != "" || p.encryptedData != "") {
		return fosite.ErrInvalidRequest.WithHint("The mobile app grant takes no phone parameters.")
	}
	if err := grantScopesAndAudience(r, client, []string{"openid"}); err != nil {
		return err
	}

	sess, err := g.exchange(ctx, app, p.code)
	if err != nil {
		return err
	}
	// A returning person's identity and account, in one read outside any
	// transaction: their writes wait for the transaction that stores the
	// tokens (PopulateTokenEndpointResponse), so a grant writes once.
	known, knownAcc, err := g.store.db.GetWeChatLogin(ctx, app.AppID, sess.OpenID)
	found := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storageError(err)
	}

	var knownIdent *storage.WeChatIdentity
	if found {
		knownIdent = &known
	}
	phone, source, err := g.verifyPhone(ctx, app, sess, p, knownIdent)
	if err != nil {
		return err
	}

	now := g.now()
	var (
		acc   storage.Account
		ident storage.WeChatIdentity
		write *grantWrite
	)
	if found {
		acc, ident, write, err = g.knownLogin(client, app, sess, known, knownAcc, phone, source, now)
	} else {
		acc, ident, err = g.resolveAccount(ctx, client, app, sess, phone, source, now)
	}
	if err != nil {
		return err
	}

	s, ok := r.GetSession().(*session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	s.ClientID = client.ID
	s.IDTokenAlg = client.idTokenAlg()
	s.setSubject(acc.ID)
	s.Claims.AuthTime = now.Truncate(time.Second)
	s.Claims.RequestedAt = now.Truncate(time.Second)
	s.Claims.AuthenticationMethodsReferences = []string{"wechat"}
	s.Claims.Extra = identityClaims(r.GetGrantedScopes(), client.ID, acc, phoneFor(g.accounts, acc), ident)
	s.SetExpiresAt(fosite.AccessToken, now.Add(g.lifetimes.access).Round(time.Second))
	if g.canIssueRefreshToken(r) {
		s.SetExpiresAt(fosite.RefreshToken, now.Add(g.lifetimes.refresh).Round(time.Second))
	}
	s.grant = write
	return nil
}

// grantWrite is what a returning person's grant writes, deferred to the
// transaction that stores the tokens.
type grantWrite struct {
	login     storage.WeChatLogin
	accountID string
	phone     *storage.AccountPhone // a phone this request verified
}

// knownLogin checks a returning person's login against the account as read,
// and returns the account and identity as they will be once w is written.
// A concurrent change is caught when w is written: the identity must still
// be the account's (RecordWeChatLogin) and the account still enabled
// (CreateTokenSessions).
func (g *wechatGrant) knownLogin(client *fositeClient, app wechat.App, sess wechat.Session, ident storage.WeChatIdentity, acc storage.Account, phone, source string, now time.Time) (storage.Account, storage.WeChatIdentity, *grantWrite, error) {
	if acc.Disabled {
		return acc, ident, nil, fosite.ErrInvalidGrant.WithHint("The account is disabled.")
	}
	w := &grantWrite{
		login: withSessionKey(g.accounts, storage.WeChatLogin{
			AppID: app.AppID, OpenID: sess.OpenID, UnionID: sess.UnionID, Now: now,
		}, sess),
		accountID: acc.ID,
	}
	if ident.UnionID == "" {
		ident.UnionID = sess.UnionID
	}
	switch {
	case phone != "":
		w.phone = &storage.AccountPhone{
			Encrypted: g.accounts.sealPhone(acc.ID, phone), Hash: g.accounts.PhoneHash(phone),
			Source: source, VerifiedAt: now,
		}
		acc.PhoneEncrypted, acc.PhoneHash, acc.PhoneSource, acc.PhoneVerifiedAt = w.phone.Encrypted, w.phone.Hash, source, now
	case client.RequirePhone && len(acc.PhoneEncrypted) == 0:
		return acc, ident, nil, fosite.ErrInvalidRequest.WithHint(requirePhoneHint)
	}
	return acc, ident, w, nil
}

// requirePhoneHint answers a grant without a phone for a client that needs one.
const requirePhoneHint = "This client requires a verified phone number: send 'phone_code' (or 'encrypted_data' and 'iv') from the phone button."

// write stores a grant: a returning person's login (w) and the tokens in
// one StoreLoginGrant, or only the tokens for a person resolveAccount just
// stored (w nil).
func (g *wechatGrant) write(ctx context.Context, w *grantWrite, r fosite.Requester, atSig, rtSig string) error {
	if w == nil {
		if err := g.store.issue(ctx, r, atSig, rtSig); err != nil {
			return tokenStoreError(err)
		}
		return nil
	}
	holder, sessions, err := g.store.issuance(r, atSig, rtSig)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	err = g.store.db.StoreLoginGrant(ctx, storage.LoginGrant{Login: w.login, Phone: w.phone, Holder: holder, Sessions: sessions})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrClientInactive), errors.Is(err, storage.ErrAccountInactive):
		return tokenStoreError(holderErr(err))
	}
	return storageError(err)
}

// verifyPhone returns the E.164 number the request proves, if any.
func (g *wechatGrant) verifyPhone(ctx context.Context, app wechat.App, sess wechat.Session, p grantParams, known *storage.WeChatIdentity) (string, string, error) {
	switch {
	case p.phoneCode != "":
		ph, err := g.wechat.PhoneNumber(ctx, app, p.phoneCode, sess.OpenID)
		if err != nil {
			return "", "", g.upstreamError(ctx, "getuserphonenumber", err)
		}
		return ph.E164(), PhoneSourceCode, nil
	case p.encryptedData != "":
		ph, err := g.decryptLegacy(ctx, app, sess, p, known)
		if err != nil {
			return "", "", err
		}
		return ph.E164(), PhoneSourceLegacy, nil
	}
	return "", "", nil
}

// decryptLegacy tries the session key of this request's code, then the
// stored keys of the same (appid, openid) (known, nil for a new identity):
// the phone button's data may be encrypted under the key an earlier
// wx.login established (docs/wechat.md §4.3).
func (g *wechatGrant) decryptLegacy(ctx context.Context, app wechat.App, sess wechat.Session, p grantParams, known *storage.WeChatIdentity) (wechat.Phone, error) {
	ph, err := wechat.DecryptPhone(sess.SessionKey, p.encryptedData, p.iv, app.AppID)
	if err == nil {
		return ph, nil
	}
	if !errors.Is(err, wechat.ErrDecrypt) {
		return wechat.Phone{}, fosite.ErrServerError.WithWrap(err)
	}
	firstErr := err
	if known != nil {
		for _, sealed := range [][]byte{known.SessionKeyEncrypted, known.PreviousSessionKeyEncrypted} {
			raw, oerr := g.accounts.openSessionKey(app.AppID, sess.OpenID, sealed)
			if oerr != nil || raw == nil {
				continue
			}
			key, kerr := wechat.SessionKeyFromBytes(raw)
			if kerr != nil {
				continue
			}
			if ph, err := wechat.DecryptPhone(key, p.encryptedData, p.iv, app.AppID); err == nil {
				return ph, nil
			}
		}
	}
	g.log.InfoContext(ctx, "legacy phone data did not decrypt", "reason", firstErr.Error())
	return wechat.Phone{}, fosite.ErrInvalidGrant.WithWrap(firstErr).
		WithHint("The encrypted phone data could not be verified: it is malformed, tampered with, or encrypted under an expired WeChat session. Call wx.login before the phone button and retry.")
}

// resolveAccount finds or creates the account and records a verified phone,
// atomically: a login refused for a missing phone leaves nothing behind.
func (g *wechatGrant) resolveAccount(ctx context.Context, client *fositeClient, app wechat.App, sess wechat.Session, phone, source string, now time.Time) (acc storage.Account, ident storage.WeChatIdentity, err error) {
	db := g.store.db
	ctx, err = db.BeginTx(ctx)
	if err != nil {
		return acc, ident, fosite.ErrServerError.WithWrap(err)
	}
	defer func() {
		if err != nil {
			_ = db.Rollback(ctx)
		}
	}()
	ident, acc, err = db.ResolveWeChatLogin(ctx, withSessionKey(g.accounts, storage.WeChatLogin{
		AppID:        app.AppID,
		OpenID:       sess.OpenID,
		UnionID:      sess.UnionID,
		NewAccountID: newAccountID(),
		Now:          now,
	}, sess))
	if err != nil {
		return acc, ident, storageError(err)
	}
	if acc.Disabled {
		return acc, ident, fosite.ErrInvalidGrant.WithHint("The account is disabled.")
	}
	if phone != "" {
		if acc, err = g.accounts.setPhone(ctx, db, acc.ID, phone, source, now); err != nil {
			return acc, ident, storageError(err)
		}
	} else if client.RequirePhone && len(acc.PhoneEncrypted) == 0 {
		return acc, ident, fosite.ErrInvalidRequest.WithHint(requirePhoneHint)
	}
	if err = db.Commit(ctx); err != nil {
		return acc, ident, storageError(err)
	}
	return acc, ident, nil
}

func (g *wechatGrant) canIssueRefreshToken(r fosite.Requester) bool {
	return r.GetGrantedScopes().HasOneOf("offline_access", "offline") && r.GetClient().GetGrantTypes().Has(GrantTypeRefreshToken)
}

func (g *wechatGrant) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) (err error) {
	if _, _, err := g.checkRequest(ctx, r); err != nil {
		return err
	}
	// Sign everything before the transaction: an RS256 signature costs about
	// a millisecond, and SQLite holds its single writer for the whole
	// transaction.
	at, atSig, err := g.AccessTokenStrategy.GenerateAccessToken(ctx, r)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	resp.SetAccessToken(at)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(time.Until(r.GetSession().GetExpiresAt(fosite.AccessToken)).Round(time.Second))
	resp.SetScopes(r.GetGrantedScopes())
	var rtSig string
	if g.canIssueRefreshToken(r) {
		rt, sig, err := g.refreshStrategy.GenerateRefreshToken(ctx, r)
		if err != nil {
			return fosite.ErrServerError.WithWrap(err)
		}
		rtSig = sig
		resp.SetExtra("refresh_token", rt)
	}
	// Store the session as it is before the ID token's per-token claims
	// (nonce, at_hash, jti) are written into it.
	stored := r.Sanitize(nil)
	stored.SetSession(r.GetSession().Clone())
	if r.GetGrantedScopes().Has(ScopeOpenID) {
		if err := g.idTokens.issue(ctx, r, resp, g.lifetimes.idToken); err != nil {
			return err
		}
	}

	sess, ok := r.GetSession().(*session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	return g.write(ctx, sess.grant, stored, atSig, rtSig)
}

// tokenStoreError answers a failure to store the tokens: the account was
// disabled since the login checked it (invalid_grant, as for a login of a
// disabled account), the client deleted (invalid_client), or a server
// error.
func tokenStoreError(err error) error {
	if errors.Is(err, errAccountInactive) {
		return fosite.ErrInvalidGrant.WithWrap(err).WithHint("The account is disabled.")
	}
	if errors.Is(err, errClientGone) {
		return fosite.ErrInvalidClient.WithWrap(err).WithHint("The client no longer exists.")
	}
	return fosite.ErrServerError.WithWrap(err)
}

// upstreamError maps a WeChat failure to the token endpoint's answer
// (docs/contract.md §7, docs/wechat.md §8) and logs what operators need, never secrets.
func (g *wechatGrant) upstreamError(ctx context.Context, api string, err error) error {
	// Upstream (upstream.go) already answered: a rate limit, an open breaker.
	var answered *retryLaterError
	if errors.As(err, &answered) {
		return err
	}
	var werr *wechat.Error
	code := 0
	if errors.As(err, &werr) {
		code = werr.Code
	}
	switch {
	case errors.Is(err, wechat.ErrBlockedUser):
		return fosite.ErrInvalidGrant.WithWrap(err).WithHint("The WeChat account is restricted by WeChat's risk control.")
	case errors.Is(err, wechat.ErrInvalidCode), errors.Is(err, wechat.ErrCodeUsed):
		hint := "The WeChat login code is invalid, expired or already used: call wx.login again."
		switch api {
		case "getuserphonenumber":
			hint = "The WeChat phone code is invalid, expired or already used: ask the user to tap the phone button again."
		case "sns/oauth2/access_token":
			hint = "The WeChat authorization code is invalid, expired or already used: ask WeChat (SendAuth) for a new one."
		}
		return fosite.ErrInvalidGrant.WithWrap(err).WithHint(hint)
	case errors.Is(err, wechat.ErrRateLimited):
		g.log.WarnContext(ctx, "wechat rate limit", "api", api, "errcode", code)
		return retryLater(fosite.ErrTemporarilyUnavailable.WithWrap(err).WithHint("WeChat is rate limiting this app; retry later."), wechat.RetryAfter(err))
	case errors.Is(err, wechat.ErrBusy), errors.Is(err, wechat.ErrTransport):
		g.log.WarnContext(ctx, "wechat unavailable", "api", api, "errcode", code, "err", err.Error())
		return retryLater(fosite.ErrTemporarilyUnavailable.WithWrap(err).WithHint("WeChat is temporarily unavailable; retry with a fresh wx.login code."), 5*time.Second)
	default:
		g.log.ErrorContext(ctx, "wechat call failed", "api", api, "errcode", code, "err", err.Error())
		return fosite.ErrServerError.WithWrap(err).WithHint("The identity provider could not complete the WeChat login.")
	}
}

// storageError wraps a storage failure as a server error; conflicts are
// retryable (and an unavailable storage is, whatever wraps it: ErrorOf).
func storageError(err error) error {
	if errors.Is(err, storage.ErrConflict) {
		return retryLater(fosite.ErrTemporarilyUnavailable.WithWrap(err).WithHint("Concurrent update; please retry."), storageRetryAfter)
	}
	return fosite.ErrServerError.WithWrap(err)
}
