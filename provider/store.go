package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/wxoidc/wxoidc/storage"
)

// Store is what provider needs from a storage backend.
type Store interface {
	storage.LoginSessionStore
	storage.ConsentStore
	storage.AuthFlowStore
	storage.ScanTicketStore
	storage.TokenSessionStore
	storage.ClientStore
	storage.AccountStore
	storage.Transactor
}

// Sealer encrypts data at rest (keys.Cipher implements it).
type Sealer interface {
	Seal(plaintext, additionalData []byte) []byte
	Open(sealed, additionalData []byte) ([]byte, error)
}

// fositeStore adapts Store to fosite's storage interfaces. It hashes token
// signatures (a leaked database yields no usable signature, and JWT
// signatures become fixed-length keys) and encrypts session JSON, which may
// hold a phone number.
type fositeStore struct {
	db     Store
	sealer Sealer
	grace  time.Duration
	now    func() time.Time
	// defaultAudience is the access-token aud of clients that name none.
	defaultAudience string
	// clients caches client look-ups: every token and introspection
	// request needs its client, often twice.
	clients clientCache
}

var (
	_ fosite.ClientManager               = (*fositeStore)(nil)
	_ oauth2.CoreStorage                 = (*fositeStore)(nil)
	_ oauth2.TokenRevocationStorage      = (*fositeStore)(nil)
	_ openid.OpenIDConnectRequestStorage = (*fositeStore)(nil)
	_ pkce.PKCERequestStorage            = (*fositeStore)(nil)
	_ fositestorage.Transactional        = (*fositeStore)(nil)
)

func hashSignature(sig string) string {
	sum := sha256.Sum256([]byte(sig))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// mapErr translates storage errors into the ones fosite branches on.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%w: %w", fosite.ErrNotFound, err)
	case errors.Is(err, storage.ErrInactive):
		return fmt.Errorf("%w: %w", fosite.ErrInactiveToken, err)
	case errors.Is(err, storage.ErrConflict):
		return fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, err)
	default:
		return err
	}
}

// GetClient loads a client; disabled clients do not exist for fosite.
func (s *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	version := s.clientsVersion()
	if c, ok := s.clients.get(id, version); ok {
		if c == nil {
			return nil, fosite.ErrNotFound
		}
		return c, nil
	}
	c, err := s.db.GetClient(ctx, id)
	if err != nil {
		return nil, mapErr(err) // not cached: a client created now must work at once
	}
	var client *fositeClient
	if !c.Disabled {
		if c.DefaultAudience == "" {
			c.DefaultAudience = s.defaultAudience
		}
		client = &fositeClient{Client: c}
	}
	s.clients.put(id, client, version)
	if client == nil {
		return nil, fosite.ErrNotFound
	}
	return client, nil
}

// clientsVersioner is a Store that counts the client changes made through
// it (sqlite.Storage), so that the cache drops entries at once.
type clientsVersioner interface{ ClientsVersion() uint64 }

func (s *fositeStore) clientsVersion() uint64 {
	if v, ok := s.db.(clientsVersioner); ok {
		return v.ClientsVersion()
	}
	return 0
}

// Client cache bounds. A change made through this process's Store is seen
// at once (when the Store counts changes, or Provider.InvalidateClient is
// called); one made elsewhere (the CLI, another instance) within
// clientCacheTTL. Its time is the monotonic clock, not the injected one: it
// bounds staleness, it is not a token lifetime.
const (
	clientCacheTTL = 5 * time.Second
	clientCacheMax = 10000
)

// clientCache maps client IDs to loaded clients. Entries are immutable and
// shared by concurrent requests; fosite only reads clients.
type clientCache struct {
	m sync.Map // id → *cachedClient
	n atomic.Int64
}

type cachedClient struct {
	client  *fositeClient // nil: the client is disabled
	version uint64        // the Store's ClientsVersion before the load
	expires time.Time
}

func (c *clientCache) get(id string, version uint64) (*fositeClient, bool) {
	v, ok := c.m.Load(id)
	if !ok {
		return nil, false
	}
	e := v.(*cachedClient)
	if e.version != version || !time.Now().Before(e.expires) {
		return nil, false
	}
	return e.client, true
}

func (c *clientCache) put(id string, client *fositeClient, version uint64) {
	if _, loaded := c.m.Swap(id, &cachedClient{client: client, version: version, expires: time.Now().Add(clientCacheTTL)}); !loaded {
		if c.n.Add(1) > clientCacheMax {
			// Clients are few; this only guards against unbounded growth.
			c.clear()
		}
	}
}

func (c *clientCache) clear() {
	c.m.Clear()
	c.n.Store(0)
}

// InvalidateClient drops a client from the look-up cache, so that a change
// made without going through this provider's Store (or a Store that does
// not count changes, as PostgreSQL's) takes effect at once. An empty id
// drops every client.
func (p *Provider) InvalidateClient(id string) {
	if id == "" {
		p.store.clients.clear()
		return
	}
	p.store.clients.m.Delete(id)
}

func (s *fositeStore) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	used, err := s.db.ClientAssertionJTIUsed(ctx, jti, s.now())
	if err != nil {
		return err
	}
	if used {
		return fosite.ErrJTIKnown
	}
	return nil
}

func (s *fositeStore) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	err := s.db.SetClientAssertionJTI(ctx, jti, exp, s.now())
	switch {
	case errors.Is(err, storage.ErrAlreadyExists):
		return fosite.ErrJTIKnown
	case err != nil:
		// fosite passes this error through as is: make it a server error,
		// not a bare error clientAuthError would take for a client's.
		return fosite.ErrServerError.WithWrap(err)
	}
	return nil
}

func (s *fositeStore) create(ctx context.Context, kind storage.SessionKind, signature, accessSig string, r fosite.Requester) error {
	raw, err := encodeSession(r)
	if err != nil {
		return err
	}
	rec := s.record(kind, signature, accessSig, r, raw)
	if kind == storage.KindRefreshToken {
		if memo := requestMemoFrom(ctx); memo != nil && memo.refreshScopes != nil {
			// A narrowed refresh: the access token has the narrower scope, the
			// new refresh token the scope of the one it replaces (RFC 6749 §6).
			rec.RequestedScopes, rec.GrantedScopes = memo.refreshScopes.requested, memo.refreshScopes.granted
		}
	}
	if kind != storage.KindAccessToken && kind != storage.KindRefreshToken {
		return mapErr(s.db.CreateTokenSession(ctx, rec))
	}
	holder := holderOf(r, rec)
	p, _ := ctx.Value(pendingKey{}).(*pendingAccess)
	switch {
	case p == nil:
		return holderErr(s.db.CreateTokenSessions(ctx, holder, rec))
	case kind == storage.KindAccessToken && p.rec == nil:
		p.rec, p.holder = &rec, holder
		return nil
	case kind == storage.KindRefreshToken && p.rec != nil && p.holder == holder && rec.AccessTokenSignature == p.rec.Signature:
		at := *p.rec
		p.rec = nil
		return holderErr(s.db.CreateTokenSessions(ctx, holder, at, rec))
	}
	// Anything else: the pending row first, so rows are written in the
	// order fosite created them.
	if err := s.flushPending(ctx, p); err != nil {
		return err
	}
	return holderErr(s.db.CreateTokenSessions(ctx, holder, rec))
}

// pendingKey carries the pendingAccess of a transaction begun with BeginTX.
type pendingKey struct{}

// pendingAccess is an access token row that a transaction begun with BeginTX
// has not written yet. fosite's refresh and authorization code handlers
// store the access token and then, when there is one, the refresh token
// issued with it; create writes the two rows in one statement, as a WeChat
// grant does (one holder check and one statement fewer). Commit writes a
// row still pending. Nothing reads a token back inside these transactions.
type pendingAccess struct {
	rec    *storage.TokenSession
	holder storage.TokenHolder
}

// flushPending writes the access token row p holds, if any.
func (s *fositeStore) flushPending(ctx context.Context, p *pendingAccess) error {
	if p == nil || p.rec == nil {
		return nil
	}
	rec := *p.rec
	p.rec = nil
	return holderErr(s.db.CreateTokenSessions(ctx, p.holder, rec))
}

// issue stores a grant's access token and, when rtSig is set, the refresh
// token issued with it, in one statement that also checks their holder.
func (s *fositeStore) issue(ctx context.Context, r fosite.Requester, atSig, rtSig string) error {
	holder, recs, err := s.issuance(r, atSig, rtSig)
	if err != nil {
		return err
	}
	return holderErr(s.db.CreateTokenSessions(ctx, holder, recs...))
}

// issuance is the rows of a grant's access token and, when rtSig is set, of
// the refresh token issued with it, and who holds them.
func (s *fositeStore) issuance(r fosite.Requester, atSig, rtSig string) (storage.TokenHolder, []storage.TokenSession, error) {
	raw, err := encodeSession(r)
	if err != nil {
		return storage.TokenHolder{}, nil, err
	}
	recs := []storage.TokenSession{s.record(storage.KindAccessToken, atSig, "", r, raw)}
	if rtSig != "" {
		recs = append(recs, s.record(storage.KindRefreshToken, rtSig, atSig, r, raw))
	}
	return holderOf(r, recs[0]), recs, nil
}

func encodeSession(r fosite.Requester) ([]byte, error) {
	sess, ok := r.GetSession().(*session)
	if !ok {
		return nil, fmt.Errorf("store: unexpected session type %T", r.GetSession())
	}
	raw, err := json.Marshal(sess)
	if err != nil {
		return nil, fmt.Errorf("store: encode session: %w", err)
	}
	return raw, nil
}

// record is the stored row of one token of r, its session sealed to the
// row's kind and signature.
func (s *fositeStore) record(kind storage.SessionKind, signature, accessSig string, r fosite.Requester, sessionJSON []byte) storage.TokenSession {
	key := hashSignature(signature)
	rec := storage.TokenSession{
		Kind:              kind,
		Signature:         key,
		RequestID:         r.GetID(),
		RequestedAt:       r.GetRequestedAt(),
		ClientID:          r.GetClient().GetID(),
		Subject:           r.GetSession().GetSubject(),
		RequestedScopes:   r.GetRequestedScopes(),
		GrantedScopes:     r.GetGrantedScopes(),
		RequestedAudience: r.GetRequestedAudience(),
		GrantedAudience:   r.GetGrantedAudience(),
		Form:              r.GetRequestForm().Encode(),
		SessionData:       s.sealer.Seal(sessionJSON, []byte(string(kind)+":"+key)),
		Active:            true,
		ExpiresAt:         expiryFor(kind, r.GetSession().(*session), s.now()),
	}
	if accessSig != "" {
		rec.AccessTokenSignature = hashSignature(accessSig)
	}
	return rec
}

// holderOf names who a token row of r is issued to: its client and, for a
// person's token, the account (the row's subject). A client's own token
// (client_credentials) has the client ID as its subject and no account.
func holderOf(r fosite.Requester, rec storage.TokenSession) storage.TokenHolder {
	h := storage.TokenHolder{ClientID: rec.ClientID}
	if sess, ok := r.GetSession().(*session); ok && sess.authenticatedUser() {
		h.Subject = rec.Subject
	}
	return h
}

// errAccountInactive refuses tokens for an account that is disabled or
// gone. It is an inactive-token error, so fosite's refresh handler answers
// it as a refused refresh, not a server error.
var errAccountInactive = fmt.Errorf("%w: the account is disabled or no longer exists", fosite.ErrInactiveToken)

// errClientGone refuses tokens for a client deleted or disabled since the
// request loaded it (the client cache keeps a client for a few seconds).
var errClientGone = fmt.Errorf("%w: the client was deleted or disabled", fosite.ErrInactiveToken)

// holderErr answers a refused CreateTokenSessions. The storage checks the
// holder in the statement that stores the tokens and holds it until the
// transaction ends, so a disable-with-revoke (or a client deletion) racing
// the request either refuses the tokens here or revokes them: a token stored
// for a deleted client would otherwise come back to life when the client ID
// is created again.
func holderErr(err error) error {
	switch {
	case errors.Is(err, storage.ErrAccountInactive):
		return fmt.Errorf("%w: %w", errAccountInactive, err)
	case errors.Is(err, storage.ErrClientInactive):
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	return mapErr(err)
}

// expiryFor picks the row's expiry for cleanup; rows of kinds without their
// own lifetime live as long as the longest token of the session.
func expiryFor(kind storage.SessionKind, sess *session, now time.Time) time.Time {
	var t time.Time
	switch kind {
	case storage.KindAccessToken:
		t = sess.GetExpiresAt(fosite.AccessToken)
	case storage.KindRefreshToken:
		t = sess.GetExpiresAt(fosite.RefreshToken)
	case storage.KindAuthorizeCode, storage.KindPKCE, storage.KindOIDC:
		t = sess.GetExpiresAt(fosite.AuthorizeCode)
	}
	if t.IsZero() {
		// Refresh tokens without a lifespan never expire; keep them a year
		// for cleanup purposes rather than forever.
		t = now.Add(365 * 24 * time.Hour)
	}
	return t
}

// requestMemo keeps what one token request read for a later step of the
// same request:
//   - the authorization code row read first: fosite's code handler reads the
//     code when it checks the request and again when it issues the tokens.
//     The second read may reuse the first: spending the code is a
//     compare-and-swap (InvalidateAuthorizeCodeSession), so a code spent in
//     between is still caught when it is written.
//   - for a refresh, the person behind the refresh token, read with it in one
//     statement (GetTokenSessionWithLogin), whom refreshAccount would read
//     next. The tokens' write re-checks the account (CreateTokenSessions).
//   - for a refresh that narrowed its scope, the refresh token's own scopes,
//     which the new refresh token keeps (narrowRefreshScope).
type requestMemo struct {
	codeKey       string
	code          storage.TokenSession
	codeErr       error
	login         *refreshLogin
	refreshScopes *scopeGrant
}

// scopeGrant is the requested and granted scopes of a token.
type scopeGrant struct{ requested, granted []string }

// refreshLogin is the person behind a refresh token: the account its
// subject names and the identity in the app of its client.
type refreshLogin struct {
	clientID, subject string
	storage.SessionLogin
}

type requestMemoKey struct{}

// withRequestMemo returns ctx with an empty requestMemo (Token sets one per
// request).
func withRequestMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, requestMemoKey{}, &requestMemo{})
}

// requestMemoFrom returns the request's memo, nil outside Token.
func requestMemoFrom(ctx context.Context) *requestMemo {
	memo, _ := ctx.Value(requestMemoKey{}).(*requestMemo)
	return memo
}

// memoLogin returns the person a refresh of this request read with its
// refresh token, if it was the token of clientID and subject.
func memoLogin(ctx context.Context, clientID, subject string) (storage.SessionLogin, bool) {
	memo := requestMemoFrom(ctx)
	if memo == nil || memo.login == nil || memo.login.clientID != clientID || memo.login.subject != subject {
		return storage.SessionLogin{}, false
	}
	return memo.login.SessionLogin, true
}

func (s *fositeStore) get(ctx context.Context, kind storage.SessionKind, signature string, into fosite.Session) (fosite.Requester, error) {
	key := hashSignature(signature)
	var rec storage.TokenSession
	var err error
	memo := requestMemoFrom(ctx)
	switch {
	case kind == storage.KindAuthorizeCode && memo != nil && memo.codeKey == key:
		rec, err = memo.code, memo.codeErr
	case kind == storage.KindRefreshToken && memo != nil:
		var login storage.SessionLogin
		rec, login, err = s.db.GetTokenSessionWithLogin(ctx, kind, key)
		if err == nil || errors.Is(err, storage.ErrInactive) {
			memo.login = &refreshLogin{clientID: rec.ClientID, subject: rec.Subject, SessionLogin: login}
		}
	default:
		rec, err = s.db.GetTokenSession(ctx, kind, key)
		if kind == storage.KindAuthorizeCode && memo != nil && (err == nil || errors.Is(err, storage.ErrInactive)) {
			memo.codeKey, memo.code, memo.codeErr = key, rec, err
		}
	}
	inactive := errors.Is(err, storage.ErrInactive)
	if err != nil && !inactive {
		return nil, mapErr(err)
	}
	req, derr := s.toRequest(ctx, kind, rec, into)
	if derr != nil {
		return nil, derr
	}
	if inactive {
		// Inside the grace window a rotated refresh token still works.
		if kind == storage.KindRefreshToken && s.grace > 0 && !rec.FirstUsedAt.IsZero() && s.now().Before(rec.FirstUsedAt.Add(s.grace)) {
			return req, nil
		}
		return req, mapErr(err)
	}
	return req, nil
}

func (s *fositeStore) toRequest(ctx context.Context, kind storage.SessionKind, rec storage.TokenSession, into fosite.Session) (*fosite.Request, error) {
	sess, _ := into.(*session)
	if sess == nil {
		sess = newSession()
	}
	raw, err := s.sealer.Open(rec.SessionData, []byte(string(kind)+":"+rec.Signature))
	if err != nil {
		return nil, fmt.Errorf("store: decrypt session: %w", err)
	}
	if err := json.Unmarshal(raw, sess); err != nil {
		return nil, fmt.Errorf("store: decode session: %w", err)
	}
	sess.ensure()
	client, err := s.GetClient(ctx, rec.ClientID)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(rec.Form)
	if err != nil {
		return nil, fmt.Errorf("store: decode form: %w", err)
	}
	return &fosite.Request{
		ID:                rec.RequestID,
		RequestedAt:       rec.RequestedAt,
		Client:            client,
		RequestedScope:    fosite.Arguments(rec.RequestedScopes),
		GrantedScope:      fosite.Arguments(rec.GrantedScopes),
		RequestedAudience: fosite.Arguments(rec.RequestedAudience),
		GrantedAudience:   fosite.Arguments(rec.GrantedAudience),
		Form:              form,
		Session:           sess,
	}, nil
}

func (s *fositeStore) delete(ctx context.Context, kind storage.SessionKind, signature string) error {
	return mapErr(s.db.DeleteTokenSession(ctx, kind, hashSignature(signature)))
}

// Access tokens.
func (s *fositeStore) CreateAccessTokenSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.create(ctx, storage.KindAccessToken, sig, "", r)
}
func (s *fositeStore) GetAccessTokenSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, storage.KindAccessToken, sig, sess)
}
func (s *fositeStore) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return s.delete(ctx, storage.KindAccessToken, sig)
}

// Refresh tokens.
func (s *fositeStore) CreateRefreshTokenSession(ctx context.Context, sig, accessSig string, r fosite.Requester) error {
	return s.create(ctx, storage.KindRefreshToken, sig, accessSig, r)
}
func (s *fositeStore) GetRefreshTokenSession(ctx context.Context, sig string, sess fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, storage.KindRefreshToken, sig, sess)
}
func (s *fositeStore) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	return s.delete(ctx, storage.KindRefreshToken, sig)
}
func (s *fositeStore) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	return mapErr(s.db.RotateRefreshToken(ctx, requestID, hashSignature(sig), s.now(), s.grace))
}
func (s *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	_, err := s.db.RevokeTokenSessions(ctx, storage.KindRefreshToken, requestID)
	return mapErr(err)
}
func (s *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	_, err := s.db.RevokeTokenSessions(ctx, storage.KindAccessToken, requestID)
	return mapErr(err)
}

// Authorize codes (ready for a future web flow; introspection's factory needs CoreStorage).
func (s *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.create(ctx, storage.KindAuthorizeCode, code, "", r)
}
func (s *fositeStore) GetAuthorizeCodeSession(ctx context.Context, code string, sess fosite.Session) (fosite.Requester, error) {
	req, err := s.get(ctx, storage.KindAuthorizeCode, code, sess)
	if errors.Is(err, fosite.ErrInactiveToken) {
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, err
}

// InvalidateAuthorizeCodeSession spends a code. It is the compare-and-swap
// that makes a code single use even when two token requests present it at
// once: the loser gets ErrInvalidatedAuthorizeCode (Token answers it as a
// replay).
func (s *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	err := s.db.DeactivateTokenSession(ctx, storage.KindAuthorizeCode, hashSignature(code))
	if errors.Is(err, storage.ErrInactive) {
		return fmt.Errorf("%w: %w", fosite.ErrInvalidatedAuthorizeCode, err)
	}
	return mapErr(err)
}

// OpenID Connect code-flow sessions. fosite's explicit handler stores the
// authorization request's OIDC parameters for its own token half, which
// wxoidc replaces (codeIDToken): the nonce and auth_time travel in the
// code's session (CompleteAuthorize). Nothing reads these rows, so none
// is written: a code costs one insert, not three.
func (s *fositeStore) CreateOpenIDConnectSession(context.Context, string, fosite.Requester) error {
	return nil
}
func (s *fositeStore) GetOpenIDConnectSession(context.Context, string, fosite.Requester) (fosite.Requester, error) {
	return nil, fosite.ErrNotFound
}
func (s *fositeStore) DeleteOpenIDConnectSession(context.Context, string) error { return nil }

// PKCE sessions live in the code's own session (CompleteAuthorize stores
// the challenge there): fosite's PKCE handler asks for them by the code's
// signature with the session the code handler just loaded from the code's
// row, so no second read is needed. A code without a challenge has no
// PKCE session (fosite then refuses public clients).
func (s *fositeStore) CreatePKCERequestSession(context.Context, string, fosite.Requester) error {
	return nil
}
func (s *fositeStore) GetPKCERequestSession(ctx context.Context, _ string, sess fosite.Session) (fosite.Requester, error) {
	code, ok := sess.(*session)
	if !ok || code.PKCEChallenge == "" {
		return nil, fosite.ErrNotFound
	}
	client, err := s.GetClient(ctx, code.ClientID)
	if err != nil {
		return nil, err
	}
	return &fosite.Request{
		Client:  client,
		Form:    url.Values{"code_challenge": {code.PKCEChallenge}, "code_challenge_method": {code.PKCEMethod}},
		Session: sess,
	}, nil
}
func (s *fositeStore) DeletePKCERequestSession(context.Context, string) error { return nil }

// Transactions.
func (s *fositeStore) BeginTX(ctx context.Context) (context.Context, error) {
	ctx, err := s.db.BeginTx(ctx)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, pendingKey{}, &pendingAccess{}), nil
}

// Commit writes a token row still pending (see pendingAccess), then commits.
// A refused write rolls the transaction back, so that a failed Commit leaves
// it finished whatever failed, as a failed commit does (fosite's handlers
// then roll back too, which does nothing).
func (s *fositeStore) Commit(ctx context.Context) error {
	p, _ := ctx.Value(pendingKey{}).(*pendingAccess)
	if err := s.flushPending(ctx, p); err != nil {
		_ = s.db.Rollback(ctx)
		return err
	}
	return mapErr(s.db.Commit(ctx))
}
func (s *fositeStore) Rollback(ctx context.Context) error { return s.db.Rollback(ctx) }

// scopeString joins scopes for responses and logs.
func scopeString(a []string) string { return strings.Join(a, " ") }
