// Package storage defines the records wxoidc persists and the contract every
// backend (storage/sqlite, storage/postgres) implements. It knows nothing of
// OAuth libraries or HTTP: provider and keys translate their own types to
// these records and declare the narrow interfaces they need.
//
// Secrets never reach this package in plaintext: session keys, phone numbers,
// token-session data and private keys arrive already encrypted by the caller,
// and token signatures arrive already hashed.
package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors every backend returns (wrapped with context; test with errors.Is).
var (
	// ErrNotFound: no row matches.
	ErrNotFound = errors.New("storage: not found")
	// ErrAlreadyExists: a unique key is taken.
	ErrAlreadyExists = errors.New("storage: already exists")
	// ErrInactive: the row exists but was rotated, revoked or invalidated.
	// Methods that return it also return the row, so callers can act on its
	// request ID (refresh-token reuse detection revokes the whole chain).
	ErrInactive = errors.New("storage: inactive")
	// ErrConflict: a concurrent writer won (SQLITE_BUSY past the timeout,
	// which is also ErrUnavailable; PostgreSQL serialization failure). The
	// caller may retry.
	ErrConflict = errors.New("storage: concurrent update conflict")
	// ErrUnavailable: the database cannot be reached or is refusing work
	// for now (a restart, a failover, a connection cut, another process
	// holding the SQLite lock past the busy timeout). It is temporary: the
	// request may succeed if retried later. A write that fails with it may
	// or may not have been committed.
	ErrUnavailable = errors.New("storage: temporarily unavailable")
	// ErrClientInactive: CreateTokenSessions found the holder's client
	// absent or disabled, and stored nothing.
	ErrClientInactive = errors.New("storage: client absent or disabled")
	// ErrAccountInactive: CreateTokenSessions found the holder's account
	// absent or disabled, and stored nothing.
	ErrAccountInactive = errors.New("storage: account absent or disabled")
)

// SessionKind separates the token-session families that share one shape.
type SessionKind string

const (
	KindAccessToken   SessionKind = "access_token"
	KindRefreshToken  SessionKind = "refresh_token"
	KindAuthorizeCode SessionKind = "authorize_code"
	KindPKCE          SessionKind = "pkce"
	KindOIDC          SessionKind = "oidc"
)

// Kinds lists every SessionKind, for conformance tests and cleanup.
var Kinds = []SessionKind{KindAccessToken, KindRefreshToken, KindAuthorizeCode, KindPKCE, KindOIDC}

// TokenSession is one issued token (or code) as fosite needs it back.
// Signature is the caller's hash of the token signature (fixed length).
type TokenSession struct {
	Kind              SessionKind
	Signature         string
	RequestID         string // constant along a refresh chain; revocation key
	RequestedAt       time.Time
	ClientID          string
	Subject           string // account id; denormalized for per-account revocation
	RequestedScopes   []string
	GrantedScopes     []string
	RequestedAudience []string
	GrantedAudience   []string
	Form              string // URL-encoded sanitized form
	SessionData       []byte // encrypted session JSON (opaque here)
	Active            bool
	ExpiresAt         time.Time
	// AccessTokenSignature links a refresh token to the access token issued with it.
	AccessTokenSignature string
	// FirstUsedAt is set when a refresh token is rotated (zero while unused).
	FirstUsedAt time.Time
}

// AccountState is the state of the account a token session's Subject
// names, read with the session (GetTokenSessionWithAccount).
type AccountState struct {
	Exists   bool // an account has the Subject as its ID
	Disabled bool
}

// TokenHolder is who a token is issued to: a client and, for a person's
// token, an account (Subject; empty for a client's own token, whose
// sessions may carry the client ID as their subject).
type TokenHolder struct {
	ClientID string
	Subject  string
}

// SessionLogin is the person behind a token session, as
// GetTokenSessionWithLogin reads it.
type SessionLogin struct {
	Account  Account
	Identity WeChatIdentity
}

// TokenSessionStore persists token sessions of every kind.
type TokenSessionStore interface {
	// CreateTokenSession inserts s (s.Active is stored as given).
	// A duplicate (kind, signature) is ErrAlreadyExists; an unknown kind or
	// an empty signature is an error.
	CreateTokenSession(ctx context.Context, s TokenSession) error
	// CreateTokenSessions inserts the sessions of one issuance (a grant's
	// access and refresh token) if, and only if, the holder's client exists
	// and is enabled and, when holder.Subject is set, so is its account;
	// otherwise it stores nothing and returns ErrClientInactive or
	// ErrAccountInactive. Inside a transaction the check holds the client
	// and the account until the transaction ends: a concurrent UpdateAccount,
	// UpdateClient or DeleteClient waits, so a disable followed by
	// RevokeSubjectTokens (or a DeleteClient) either is seen by the check or
	// revokes these sessions. Every session's ClientID must be the holder's
	// and, for a person's token, its Subject the holder's account. Backends do it in one statement: it is the hot path of
	// every token request.
	CreateTokenSessions(ctx context.Context, holder TokenHolder, sessions ...TokenSession) error
	// GetTokenSession returns the session; ErrNotFound if absent. An inactive
	// session is returned together with ErrInactive.
	GetTokenSession(ctx context.Context, kind SessionKind, signature string) (TokenSession, error)
	// GetTokenSessionWithAccount is GetTokenSession plus the state of the
	// account whose ID is the session's Subject, read in the same statement:
	// introspection's one read. A Subject that names no account (a client's
	// own token) has a zero AccountState.
	GetTokenSessionWithAccount(ctx context.Context, kind SessionKind, signature string) (TokenSession, AccountState, error)
	// GetTokenSessionWithLogin is GetTokenSession plus, read in the same
	// statement, the account its Subject names and that account's identity
	// in the WeChat app of the session's client (the first by openid, as
	// GetAccountIdentity picks it): the one read of a refresh and of
	// UserInfo. Each is zero when there is none (a client's own token, an
	// account gone, a client without an app or an account without an
	// identity in it).
	GetTokenSessionWithLogin(ctx context.Context, kind SessionKind, signature string) (TokenSession, SessionLogin, error)
	// DeleteTokenSession removes one session; ErrNotFound if absent.
	DeleteTokenSession(ctx context.Context, kind SessionKind, signature string) error
	// DeactivateTokenSession marks one session inactive (authorize codes after use)
	// and clears FirstUsedAt as RevokeTokenSessions does; ErrNotFound if
	// absent. It is a compare-and-swap: a session that is already inactive
	// gets ErrInactive (its FirstUsedAt is cleared all the same), so of
	// several concurrent callers exactly one succeeds — a code is
	// redeemed once even when two requests present it at the same time.
	DeactivateTokenSession(ctx context.Context, kind SessionKind, signature string) error
	// RevokeTokenSessions makes every session of kind with requestID unusable:
	// access tokens, codes, PKCE and OIDC rows are deleted, refresh tokens set
	// inactive (kept, so a later reuse is still recognised) with FirstUsedAt
	// cleared, so that no grace window can bring a revoked token back. It
	// returns the number of rows affected; zero is not an error.
	RevokeTokenSessions(ctx context.Context, kind SessionKind, requestID string) (int64, error)
	// RotateRefreshToken marks the refresh token with signature as used at now
	// and deletes every access token of its request ID. It is the compare-and-
	// swap that makes exactly one of several concurrent rotations win:
	//   - active token: set inactive, FirstUsedAt = now; nil.
	//   - inactive token with FirstUsedAt + grace > now (grace > 0): nil again
	//     (the grace window for clients that lost the previous response).
	//   - otherwise: ErrInactive; absent: ErrNotFound.
	// requestID must match the token's; a mismatch is ErrNotFound.
	RotateRefreshToken(ctx context.Context, requestID, signature string, now time.Time, grace time.Duration) error
	// RevokeSubjectTokens deletes all access tokens and deactivates all refresh
	// tokens of one account (account disabled, "log out everywhere"), clearing
	// FirstUsedAt as RevokeTokenSessions does. An empty subject is an error:
	// tokens without an account (client_credentials) all share it.
	RevokeSubjectTokens(ctx context.Context, subject string) (int64, error)
	// RevokeClientTokens makes every token session of one client unusable:
	// access tokens, codes, PKCE and OIDC rows are deleted, refresh tokens
	// revoked as RevokeTokenSessions does (kept inactive, FirstUsedAt
	// cleared). It counts the rows deleted plus the refresh tokens newly
	// deactivated. An empty clientID is an error. It scans token sessions
	// without an index on the client: an operator's rare action.
	RevokeClientTokens(ctx context.Context, clientID string) (int64, error)
	// RevokeRefreshTokensIssued revokes, as RevokeTokenSessions does, every
	// refresh token issued (RequestedAt) within [from, to] to one of clientIDs,
	// and deletes the access tokens of those still active (issued with them;
	// a rotated token's request ID also names its successors, which are
	// spared). An empty clientIDs revokes nothing. It counts refresh tokens
	// newly deactivated plus access tokens deleted. This is the follow-up of a
	// signing-key revocation: the tokens issued while the key was signing. It
	// scans token sessions without an index: an operator's rare action.
	RevokeRefreshTokensIssued(ctx context.Context, from, to time.Time, clientIDs []string) (int64, error)
	// DeleteExpiredTokenSessions deletes at most limit rows (all kinds) whose
	// ExpiresAt is before now, oldest first, and returns how many it deleted.
	// Callers loop until it returns less than limit.
	DeleteExpiredTokenSessions(ctx context.Context, now time.Time, limit int) (int64, error)
}

// Client is a registered OAuth client.
type Client struct {
	ID   string
	Name string
	// SecretHash is the hasher's encoding of the secret; empty for public clients.
	SecretHash string
	// TokenEndpointAuthMethod: none | client_secret_basic | client_secret_post | private_key_jwt.
	TokenEndpointAuthMethod string
	// WeChatAppID binds a public mini-program client to one appid.
	WeChatAppID     string
	GrantTypes      []string
	Scopes          []string
	Audiences       []string // audiences the client may request
	DefaultAudience string   // `aud` of access tokens when none is requested
	RequirePhone    bool     // login fails without a verified phone
	// IDTokenSignedResponseAlg: RS256 (default), ES256 or EdDSA.
	IDTokenSignedResponseAlg string
	JWKS                     []byte // public JWK set JSON for private_key_jwt
	// Browser sign-in (docs/contract.md §1.5). RedirectURIs are matched
	// exactly; PostLogoutRedirectURIs likewise for RP-initiated logout.
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// SkipConsent marks a first-party client: no consent page.
	SkipConsent bool
	// BackchannelLogoutURI receives logout tokens (OIDC Back-Channel Logout).
	BackchannelLogoutURI string
	// WeChatApps are the appids of the WeChat apps (website, official
	// account, mini-program for scan sign-in) a person may use to sign in
	// to this client through the browser. Distinct from WeChatAppID, which
	// binds a grant-based client (mini-program, mobile app) to one app.
	WeChatApps []string
	Disabled   bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ClientStore persists clients and private_key_jwt assertion IDs.
type ClientStore interface {
	CreateClient(ctx context.Context, c Client) error // ErrAlreadyExists
	GetClient(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error) // ordered by ID
	// ListClientsPage returns at most limit clients whose ID starts with
	// prefix ("" for all) and sorts after after ("" for the first page),
	// ordered by ID as ListClients orders them: one page of a keyset
	// pagination (pass the last ID of a page as the next page's after). It
	// reads only the rows it returns, so a page costs the same with ten
	// clients or ten thousand. A limit below 1 returns none.
	ListClientsPage(ctx context.Context, prefix, after string, limit int) ([]Client, error)
	// UpdateClient reads the client, applies fn and writes the result in one
	// transaction (compare-and-swap); fn must not change the ID.
	UpdateClient(ctx context.Context, id string, fn func(Client) (Client, error)) (Client, error)
	// DeleteClient removes the client and, in the same transaction, revokes
	// its token sessions as RevokeClientTokens does: token sessions name
	// their client by ID only, so a client re-created with the same ID
	// must find none of them usable. In the same transaction it deletes the
	// client's consents and the links of login sessions to it (the sessions
	// stay: they belong to the person, not the client), so a client
	// re-created with the same ID starts with no consent and is told of no
	// earlier sign-in. ErrNotFound if absent (nothing changes). Anything
	// stored later that names a client and grants access must be removed or
	// revoked here too, and the conformance suite extended.
	DeleteClient(ctx context.Context, id string) error
	// SetClientAssertionJTI records a used assertion ID until exp;
	// ErrAlreadyExists if it is recorded and not yet expired at now.
	SetClientAssertionJTI(ctx context.Context, jti string, exp, now time.Time) error
	// ClientAssertionJTIUsed reports whether jti is recorded and unexpired at now.
	ClientAssertionJTIUsed(ctx context.Context, jti string, now time.Time) (bool, error)
}

// Account is one person. ID is the OIDC `sub`: random, opaque, stable.
type Account struct {
	ID        string
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
	// Phone: encrypted E.164 number, and a keyed hash of it for lookups.
	PhoneEncrypted  []byte
	PhoneHash       string
	PhoneSource     string // "phone_code" or "legacy"
	PhoneVerifiedAt time.Time
}

// AccountPhone is a verified phone as an account stores it.
type AccountPhone struct {
	Encrypted  []byte
	Hash       string
	Source     string // "phone_code" or "legacy"
	VerifiedAt time.Time
}

// LoginGrant is a returning person's WeChat grant as stored: the login,
// a phone the grant verified (nil leaves the account's alone), and the
// tokens issued to Holder, whose Subject is the person's account.
type LoginGrant struct {
	Login    WeChatLogin
	Phone    *AccountPhone
	Holder   TokenHolder
	Sessions []TokenSession
}

// CheckLoginGrant is the validation every backend applies in
// StoreLoginGrant before it stores anything.
func CheckLoginGrant(g LoginGrant) error {
	if g.Holder.Subject == "" {
		return errors.New("login grant without an account")
	}
	return CheckIssuance(g.Holder, g.Sessions)
}

// WeChatIdentity is one (appid, openid) and the account it belongs to.
type WeChatIdentity struct {
	AppID     string
	OpenID    string
	AccountID string
	UnionID   string // empty when unknown
	// Encrypted session keys: the latest from jscode2session and the one before.
	SessionKeyEncrypted         []byte
	PreviousSessionKeyEncrypted []byte
	// SessionKeyHash is the caller's keyed hash of the current session key
	// (WeChatLogin.SessionKeyHash); nil for identities stored without one.
	SessionKeyHash []byte
	SessionKeyAt   time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// WeChatLogin is what a successful jscode2session tells us.
type WeChatLogin struct {
	AppID               string
	OpenID              string
	UnionID             string
	SessionKeyEncrypted []byte
	// SessionKeyHash is a keyed hash of the plaintext session key. Sealing
	// is randomized (a fresh nonce each time), so the sealed bytes of the same
	// key never match; the hash is what tells an unchanged key from a new one.
	SessionKeyHash []byte
	// NewAccountID is used only when neither the identity nor its unionid is known.
	NewAccountID string
	Now          time.Time
}

// AccountStore persists accounts and their WeChat identities.
type AccountStore interface {
	// ResolveWeChatLogin finds or creates, atomically, the account for a login
	// (docs/contract.md §3): an existing (appid, openid) keeps its account, records a
	// newly learned unionid and rotates its session keys as RotateSessionKey
	// says (current → previous, unless the key is unchanged); a new (appid, openid) whose unionid is known
	// joins that account; otherwise an account NewAccountID is created. It
	// returns the identity as stored after the update and the account.
	ResolveWeChatLogin(ctx context.Context, l WeChatLogin) (WeChatIdentity, Account, error)
	// GetWeChatLogin returns an identity and its account in one read:
	// ErrNotFound when the identity is unknown.
	GetWeChatLogin(ctx context.Context, appID, openID string) (WeChatIdentity, Account, error)
	// RecordWeChatLogin records a login of a known identity in one write, as
	// ResolveWeChatLogin does for one (a newly learned unionid, the session
	// keys rotated as RotateSessionKey says; l.NewAccountID is ignored),
	// provided the identity still belongs to accountID: otherwise (absent,
	// or moved) it changes nothing and returns ErrConflict.
	RecordWeChatLogin(ctx context.Context, l WeChatLogin, accountID string) error
	// StoreLoginGrant stores what a returning person's WeChat grant writes,
	// all or nothing: RecordWeChatLogin(g.Login, g.Holder.Subject), then
	// SetAccountPhone when g.Phone is set, then CreateTokenSessions(g.Holder,
	// g.Sessions...). A refusal stores nothing and is, in this order:
	// ErrConflict (the identity is absent or not the account's),
	// ErrClientInactive, ErrAccountInactive. Backends do it in as few round
	// trips as they can: it is the hot path of the product.
	StoreLoginGrant(ctx context.Context, g LoginGrant) error
	GetAccount(ctx context.Context, id string) (Account, error)
	// GetAccountIdentity returns an account and, in one read, its identity
	// in appID: the first by openid, or a zero identity when it has none
	// there (or appID is empty). ErrNotFound when the account is absent.
	GetAccountIdentity(ctx context.Context, accountID, appID string) (Account, WeChatIdentity, error)
	// SetAccountPhone records a verified phone on an account in one write
	// (UpdatedAt becomes p.VerifiedAt); ErrNotFound if the account is absent.
	SetAccountPhone(ctx context.Context, accountID string, p AccountPhone) error
	GetAccountByPhoneHash(ctx context.Context, phoneHash string) ([]Account, error)
	GetWeChatIdentity(ctx context.Context, appID, openID string) (WeChatIdentity, error)
	// ListWeChatIdentities returns an account's identities ordered by (appid, openid).
	ListWeChatIdentities(ctx context.Context, accountID string) ([]WeChatIdentity, error)
	// UpdateAccount is a read-modify-write in one transaction; fn must not change the ID.
	UpdateAccount(ctx context.Context, id string, fn func(Account) (Account, error)) (Account, error)
}

// LoginSession is a browser's signed-in state (docs/contract.md §1.5): a
// server-side record every instance sees, named by a cookie. ID is the
// caller's hash of the cookie value, never the value itself.
type LoginSession struct {
	ID        string
	AccountID string
	AuthTime  time.Time // when the person last authenticated with WeChat
	AMR       []string  // authentication methods, e.g. ["wechat"]
	AppID     string    // the WeChat app used to sign in
	CreatedAt time.Time
	// LastSeenAt moves on use (idle timeout); ExpiresAt is the hard end.
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// LoginSessionStore persists login sessions and the clients each one has
// signed in to (for back-channel logout).
type LoginSessionStore interface {
	// CreateLoginSession inserts s; a duplicate ID is ErrAlreadyExists. An
	// empty ID or AccountID is an error. A zero ExpiresAt never expires
	// (DeleteExpiredLoginSessions leaves it alone).
	CreateLoginSession(ctx context.Context, s LoginSession) error
	// GetLoginSession returns the session; ErrNotFound if absent (expiry
	// is the caller's check: the row may outlive it until cleanup).
	GetLoginSession(ctx context.Context, id string) (LoginSession, error)
	// GetLoginSessionAccount returns a login session and its account in one
	// read (a signed-in browser's every request needs both); ErrNotFound
	// when either is absent.
	GetLoginSessionAccount(ctx context.Context, id string) (LoginSession, Account, error)
	// TouchLoginSession sets LastSeenAt; ErrNotFound if absent.
	TouchLoginSession(ctx context.Context, id string, now time.Time) error
	// DeleteLoginSession removes the session and its client links;
	// ErrNotFound if absent.
	DeleteLoginSession(ctx context.Context, id string) error
	// AddLoginSessionClient records that the session signed in to clientID
	// (idempotent). ErrNotFound if the session is absent; an empty clientID
	// is an error.
	AddLoginSessionClient(ctx context.Context, id, clientID string) error
	// ListLoginSessionClients returns the client IDs linked to the session,
	// ordered; an absent session has none (nil, no error).
	ListLoginSessionClients(ctx context.Context, id string) ([]string, error)
	// ListAccountLoginSessions returns an account's sessions, newest first
	// (CreatedAt descending, then ID ascending); none is nil, no error.
	ListAccountLoginSessions(ctx context.Context, accountID string) ([]LoginSession, error)
	// DeleteAccountLoginSessions removes every session of an account (and
	// their links) and returns how many sessions it removed.
	DeleteAccountLoginSessions(ctx context.Context, accountID string) (int64, error)
	// DeleteExpiredLoginSessions deletes at most limit sessions whose
	// ExpiresAt is before now (and their links), oldest first, and returns
	// how many it deleted; callers loop while it returns limit. limit must
	// be positive.
	DeleteExpiredLoginSessions(ctx context.Context, now time.Time, limit int) (int64, error)
}

// Consent is what a person allowed one client: the scopes, remembered until
// revoked (docs/contract.md §1.5).
type Consent struct {
	AccountID string
	ClientID  string
	Scopes    []string // sorted, distinct
	GrantedAt time.Time
}

// ConsentStore persists remembered consents.
type ConsentStore interface {
	// GetConsent returns the consent; ErrNotFound if none.
	GetConsent(ctx context.Context, accountID, clientID string) (Consent, error)
	// PutConsent creates or replaces the consent of (account, client).
	// Scopes are stored as given (sorting them is the caller's part). An
	// empty AccountID or ClientID is an error.
	PutConsent(ctx context.Context, c Consent) error
	// ListAccountConsents returns an account's consents ordered by client
	// ID; none is nil, no error.
	ListAccountConsents(ctx context.Context, accountID string) ([]Consent, error)
	// DeleteConsent removes one consent; ErrNotFound if absent.
	DeleteConsent(ctx context.Context, accountID, clientID string) error
}

// AuthFlow is an authorization request waiting on the browser's trip to
// WeChat: the state sent upstream names it, and it is bound to the browser
// that started it. It is taken (read and deleted) exactly once.
type AuthFlow struct {
	ID string // the state sent to WeChat: random, [A-Za-z0-9]
	// BrowserHash is the caller's hash of a secret held in the browser's
	// cookie; the callback must present the same secret.
	BrowserHash []byte
	ClientID    string
	AppID       string // the WeChat app the browser was sent to
	// Request is the authorization request, URL-encoded, to resume after
	// the person signed in.
	Request   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuthFlowStore persists pending authorization flows.
type AuthFlowStore interface {
	// CreateAuthFlow inserts f; a duplicate ID is ErrAlreadyExists, an
	// empty ID an error. A flow is expired at now when its ExpiresAt is not
	// after now; a zero ExpiresAt never expires.
	CreateAuthFlow(ctx context.Context, f AuthFlow) error
	// TakeAuthFlow deletes the flow and returns it, atomically: of several
	// concurrent calls exactly one gets it, the others ErrNotFound. An
	// expired flow is deleted and ErrNotFound.
	TakeAuthFlow(ctx context.Context, id string, now time.Time) (AuthFlow, error)
	// DeleteExpiredAuthFlows deletes at most limit flows expired at now,
	// oldest first, and returns how many it deleted; callers loop while it
	// returns limit. limit must be positive.
	DeleteExpiredAuthFlows(ctx context.Context, now time.Time, limit int) (int64, error)
}

// ScanStatus is where a scan ticket stands (docs/contract.md §1.6).
// Expiry is not a status: a ticket is expired when its ExpiresAt has
// passed, whatever its status.
type ScanStatus string

const (
	ScanPending  ScanStatus = "pending"  // shown, nobody scanned it yet
	ScanScanned  ScanStatus = "scanned"  // the mini-program opened it
	ScanApproved ScanStatus = "approved" // the person confirmed on the phone
	ScanDenied   ScanStatus = "denied"   // the person cancelled on the phone
	// ScanUsed: approved, and the browser that shows the ticket has
	// signed in with it; it cannot sign in twice.
	ScanUsed ScanStatus = "used"
)

// Valid reports whether s is one of the statuses above; backends refuse to
// store any other.
func (s ScanStatus) Valid() bool {
	switch s {
	case ScanPending, ScanScanned, ScanApproved, ScanDenied, ScanUsed:
		return true
	}
	return false
}

// ScanTicket is a PC sign-in waiting on a person to scan a mini-program
// code (docs/contract.md §1.6). Its ID is the code's scene; it is bound to
// the browser that shows it and to the authorization request it serves.
type ScanTicket struct {
	ID string // the scene: random, at most 32 characters
	// BrowserHash is the caller's hash of a secret held in the showing
	// browser's cookie; only that browser may read or use the ticket.
	BrowserHash []byte
	ClientID    string
	AppID       string // the mini-program whose code shows the ticket
	// Request is the authorization request, URL-encoded, to resume once
	// the person approved.
	Request string
	Status  ScanStatus
	// AccountID is the person who scanned (set with the first status
	// change that names one); empty while pending.
	AccountID string
	CreatedAt time.Time
	// UpdatedAt is the time of the last status change (CreatedAt at
	// first): other instances find changes by it.
	UpdatedAt time.Time
	ExpiresAt time.Time
}

// MaxScanTicketID is the longest ID a scan ticket may have: the scene of a
// mini-program code holds at most 32 characters (docs/wechat.md §6.3).
const MaxScanTicketID = 32

// CheckNewScanTicket is the rule every backend applies before it stores a
// ticket: an ID of 1 to MaxScanTicketID bytes and a Valid status.
func CheckNewScanTicket(t ScanTicket) error {
	switch {
	case t.ID == "":
		return errors.New("empty ID")
	case len(t.ID) > MaxScanTicketID:
		return fmt.Errorf("ID of %d bytes, at most %d allowed", len(t.ID), MaxScanTicketID)
	case !t.Status.Valid():
		return fmt.Errorf("invalid status %q", t.Status)
	}
	return nil
}

// ScanTicketRefusal says why UpdateScanTicket leaves t, as stored, alone at
// now: ErrNotFound when it expired, ErrConflict when its status is not in
// from or another account scanned it; nil when the update would apply. Every
// backend explains a refused compare-and-swap with it.
func ScanTicketRefusal(t ScanTicket, from []ScanStatus, accountID string, now time.Time) error {
	switch {
	case !t.ExpiresAt.IsZero() && !t.ExpiresAt.After(now):
		return fmt.Errorf("expired: %w", ErrNotFound)
	case !slices.Contains(from, t.Status):
		return fmt.Errorf("status is %s: %w", t.Status, ErrConflict)
	case accountID != "" && t.AccountID != "" && t.AccountID != accountID:
		return fmt.Errorf("scanned by another account: %w", ErrConflict)
	}
	return nil
}

// ScanTicketStore persists scan tickets.
type ScanTicketStore interface {
	// CreateScanTicket inserts t; a duplicate ID is ErrAlreadyExists. An
	// empty ID, an ID longer than 32 bytes or a status that is not Valid is
	// an error.
	CreateScanTicket(ctx context.Context, t ScanTicket) error
	// GetScanTicket returns the ticket; ErrNotFound if absent (expiry is
	// the caller's check: the row may outlive it until cleanup).
	GetScanTicket(ctx context.Context, id string) (ScanTicket, error)
	// UpdateScanTicket is a compare-and-swap: when the ticket's status is
	// one of from, it sets Status to to and UpdatedAt to now, and AccountID
	// to accountID when accountID is not empty, atomically, and returns the
	// updated ticket. Of several concurrent calls with the same from, one
	// wins. ErrNotFound: absent, or expired at now (ExpiresAt not after now;
	// a zero ExpiresAt never expires). ErrConflict: the status is not in
	// from, or accountID is not empty and differs from an AccountID already
	// recorded (a ticket one person scanned cannot be approved by another).
	// An invalid to is an error.
	UpdateScanTicket(ctx context.Context, id string, from []ScanStatus, to ScanStatus, accountID string, now time.Time) (ScanTicket, error)
	// ListScanTicketsUpdatedSince returns at most limit tickets whose
	// UpdatedAt is after since, ordered by UpdatedAt then ID: how an
	// instance learns of changes other instances made. limit must be
	// positive.
	ListScanTicketsUpdatedSince(ctx context.Context, since time.Time, limit int) ([]ScanTicket, error)
	// DeleteExpiredScanTickets deletes at most limit tickets expired at
	// now, oldest first, and returns how many it deleted; callers loop
	// while it returns limit. limit must be positive.
	DeleteExpiredScanTickets(ctx context.Context, now time.Time, limit int) (int64, error)
}

// KeyState is a signing key's place in its lifecycle (docs/contract.md §4).
type KeyState string

const (
	KeyNext    KeyState = "next"    // published, not yet signing
	KeyCurrent KeyState = "current" // signing (one per algorithm)
	KeyRetired KeyState = "retired" // published until its tokens expire
	KeyRevoked KeyState = "revoked" // removed from the JWKS at once
)

// Valid reports whether s is one of the states above; backends refuse to
// store any other.
func (s KeyState) Valid() bool {
	switch s {
	case KeyNext, KeyCurrent, KeyRetired, KeyRevoked:
		return true
	}
	return false
}

// SigningKey is one key of the set. PrivateKeyEncrypted is opaque here.
type SigningKey struct {
	KID                 string
	Algorithm           string // RS256, ES256, EdDSA
	State               KeyState
	PrivateKeyEncrypted []byte
	PublicJWK           []byte // public JWK JSON
	CreatedAt           time.Time
	ActivatedAt         time.Time // became current (zero before)
	RetiredAt           time.Time // became retired (zero before)
	RemoveAfter         time.Time // retired keys: unpublish after this
	RevokedAt           time.Time
}

// KeyStore persists the signing-key set.
type KeyStore interface {
	ListSigningKeys(ctx context.Context) ([]SigningKey, error) // ordered by CreatedAt, then KID
	// UpdateSigningKeys runs fn on the whole set inside one serialized
	// transaction and replaces the set with fn's result (rows missing from the
	// result are deleted). This is the compare-and-swap that lets several
	// instances rotate at once with one outcome. If fn returns an error nothing
	// changes and that error is returned. A key in the result with an empty
	// KID, a KID already in the result, or a state that is not Valid is an
	// error, and nothing changes.
	UpdateSigningKeys(ctx context.Context, fn func([]SigningKey) ([]SigningKey, error)) ([]SigningKey, error)
}

// AuditEvent is one admin action or key-state change.
type AuditEvent struct {
	ID      int64 // assigned by the store
	At      time.Time
	Actor   string // "cli", "admin-api:<token name>", "rotation"
	Action  string // e.g. "keys.rotate", "clients.create"
	Target  string // kid, client id, account id
	Details string // JSON, never secrets
}

// AuditStore appends and lists audit events.
type AuditStore interface {
	AppendAudit(ctx context.Context, e AuditEvent) error
	// ListAudit returns up to limit events, newest first, with ID < beforeID
	// (0: from the newest). limit must be positive and beforeID not negative.
	ListAudit(ctx context.Context, beforeID int64, limit int) ([]AuditEvent, error)
	// ListAuditFiltered is ListAudit with the filter f (see AuditFilter):
	// up to f.Limit matching events, newest first. An f that fails f.Check
	// is an error.
	ListAuditFiltered(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// Transactor runs several calls atomically. BeginTx returns a context that
// carries the transaction; every method called with that context uses it.
// BeginTx on a context that already carries a transaction is a no-op whose
// Commit and Rollback do nothing (the outer owner decides), as fosite's
// handlers nest MaybeBeginTx inside ours. Commit or Rollback on a context
// without a transaction is an error; Rollback after Commit does nothing, so
// that a deferred Rollback is safe.
type Transactor interface {
	BeginTx(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Storage is everything a backend provides.
type Storage interface {
	TokenSessionStore
	ClientStore
	AccountStore
	KeyStore
	AuditStore
	AppTokenStore
	LoginSessionStore
	ConsentStore
	AuthFlowStore
	ScanTicketStore
	Transactor
	// Ping reports whether the database answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// CheckIssuance is the validation every backend applies in
// CreateTokenSessions before it stores anything: at least one session, a
// holder with a client, and sessions of known kinds, with signatures, that
// are all the holder's (its client's and, with a Subject, its account's).
func CheckIssuance(holder TokenHolder, sessions []TokenSession) error {
	switch {
	case len(sessions) == 0:
		return errors.New("no token session to store")
	case holder.ClientID == "":
		return errors.New("token holder without a client")
	}
	for _, ts := range sessions {
		switch {
		case !slices.Contains(Kinds, ts.Kind):
			return fmt.Errorf("unknown session kind %q", ts.Kind)
		case ts.Signature == "":
			return fmt.Errorf("%s: empty signature", ts.Kind)
		case ts.ClientID != holder.ClientID || (holder.Subject != "" && ts.Subject != holder.Subject):
			return fmt.Errorf("%s: issued to client %q and subject %q, not to its holder", ts.Kind, ts.ClientID, ts.Subject)
		}
	}
	return nil
}

// RotateSessionKey is the session-key rule every backend applies when a
// known identity logs in again: a new key becomes current and the current
// one previous; the same key again (equal SessionKeyHash, or identical
// sealed bytes) changes nothing, so the previous key survives any number of
// logins that keep the key (docs/contract.md §1.1). A login without a key
// leaves the keys alone.
func RotateSessionKey(id WeChatIdentity, l WeChatLogin) (current, previous, hash []byte) {
	current, previous, hash = id.SessionKeyEncrypted, id.PreviousSessionKeyEncrypted, id.SessionKeyHash
	if len(l.SessionKeyEncrypted) == 0 {
		return current, previous, hash
	}
	sameHash := len(l.SessionKeyHash) > 0 && bytes.Equal(l.SessionKeyHash, id.SessionKeyHash)
	if sameHash || bytes.Equal(l.SessionKeyEncrypted, id.SessionKeyEncrypted) {
		return current, previous, hash
	}
	return l.SessionKeyEncrypted, id.SessionKeyEncrypted, l.SessionKeyHash
}
