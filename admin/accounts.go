package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// AccountQuery names accounts by exactly one of: sub; openid (with appid,
// which may be left out when one WeChat app is configured); or a verified
// phone number in E.164 form.
type AccountQuery struct {
	Sub    string `json:"sub,omitempty"`
	OpenID string `json:"openid,omitempty"`
	AppID  string `json:"appid,omitempty"`
	Phone  string `json:"phone,omitempty"`
}

// AccountView is an account as the API and the CLI show it. The phone
// number itself is never shown (it is stored encrypted; an operator looking
// by phone already has it): only whether one is verified, and how.
type AccountView struct {
	Sub             string         `json:"sub"`
	Disabled        bool           `json:"disabled"`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
	PhoneVerified   bool           `json:"phone_verified"`
	PhoneSource     string         `json:"phone_source,omitempty"`
	PhoneVerifiedAt time.Time      `json:"phone_verified_at,omitzero"`
	Identities      []IdentityView `json:"identities"`
	// LoginSessions are the account's browser sign-ins, newest first;
	// Consents what it allowed each client, by client ID.
	LoginSessions []LoginSessionView `json:"login_sessions"`
	Consents      []ConsentView      `json:"consents"`
}

// AccountChange is the answer to disabling or enabling an account: the
// account as it now is, and what disabling ended with it.
type AccountChange struct {
	Account       AccountView `json:"account"`
	TokensRevoked int64       `json:"tokens_revoked"`
	SessionsEnded int64       `json:"sessions_ended"`
}

// IdentityView is one WeChat identity of an account.
type IdentityView struct {
	AppID     string    `json:"appid"`
	OpenID    string    `json:"openid"`
	UnionID   string    `json:"unionid,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// LastLoginAt is the latest jscode2session for this identity.
	LastLoginAt time.Time `json:"last_login_at,omitzero"`
}

// FindAccounts returns the accounts q names: one for sub and openid, any
// number (usually one) for a phone. None is ErrNotFound.
func (s *Service) FindAccounts(ctx context.Context, q AccountQuery) ([]AccountView, error) {
	var accs []storage.Account
	switch n := countSet(q.Sub, q.OpenID, q.Phone); {
	case n != 1:
		return nil, fmt.Errorf("%w: name the account by exactly one of sub, openid (with appid) or phone", ErrInvalid)
	case q.Sub != "":
		a, err := s.store.GetAccount(ctx, q.Sub)
		if err != nil {
			return nil, accountError(err, "no account with that sub")
		}
		accs = []storage.Account{a}
	case q.OpenID != "":
		appID := q.AppID
		if appID == "" {
			if len(s.appIDs) != 1 {
				return nil, fmt.Errorf("%w: appid is required with openid when several WeChat apps are configured", ErrInvalid)
			}
			appID = s.appIDs[0]
		}
		ident, err := s.store.GetWeChatIdentity(ctx, appID, q.OpenID)
		if err != nil {
			return nil, accountError(err, "no account with that openid under appid "+appID)
		}
		a, err := s.store.GetAccount(ctx, ident.AccountID)
		if err != nil {
			return nil, accountError(err, "the identity's account is missing")
		}
		accs = []storage.Account{a}
	default:
		e164, err := normalizePhone(q.Phone)
		if err != nil {
			return nil, err
		}
		found, err := s.store.GetAccountByPhoneHash(ctx, s.phoneHash(e164))
		if err != nil {
			return nil, accountError(err, "no account with that phone number")
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%w: no account with that phone number", ErrNotFound)
		}
		accs = found
	}
	out := make([]AccountView, 0, len(accs))
	for _, a := range accs {
		v, err := s.accountView(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// FindAccount is FindAccounts for actions: the query must name exactly one
// account (a recycled phone number can name several).
func (s *Service) FindAccount(ctx context.Context, q AccountQuery) (AccountView, error) {
	accs, err := s.FindAccounts(ctx, q)
	if err != nil {
		return AccountView{}, err
	}
	return OneAccount(accs)
}

// OneAccount returns the only account of a lookup's answer, or ErrConflict
// naming the subs when several match (a phone number can be on several
// accounts).
func OneAccount(accs []AccountView) (AccountView, error) {
	if len(accs) != 1 {
		subs := make([]string, len(accs))
		for i, a := range accs {
			subs[i] = a.Sub
		}
		return AccountView{}, fmt.Errorf("%w: %d accounts match (%s); name one by sub", ErrConflict, len(accs), strings.Join(subs, ", "))
	}
	return accs[0], nil
}

func (s *Service) accountView(ctx context.Context, a storage.Account) (AccountView, error) {
	ids, err := s.store.ListWeChatIdentities(ctx, a.ID)
	if err != nil {
		return AccountView{}, fmt.Errorf("listing the identities of %s: %w", a.ID, err)
	}
	v := AccountView{
		Sub: a.ID, Disabled: a.Disabled, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
		PhoneVerified: len(a.PhoneEncrypted) > 0, PhoneSource: a.PhoneSource, PhoneVerifiedAt: a.PhoneVerifiedAt,
		Identities: []IdentityView{},
	}
	for _, id := range ids {
		v.Identities = append(v.Identities, IdentityView{AppID: id.AppID, OpenID: id.OpenID, UnionID: id.UnionID, CreatedAt: id.CreatedAt, LastLoginAt: id.SessionKeyAt})
	}
	if err := s.browserState(ctx, a.ID, &v); err != nil {
		return AccountView{}, err
	}
	return v, nil
}

// SetAccountDisabled disables or enables the account sub. Disabling also
// revokes its tokens (refresh and UserInfo already refuse a disabled
// account; this also ends introspection of its access tokens) and ends its
// browser login sessions at once (not only at their next check), and says
// how many of each it ended.
func (s *Service) SetAccountDisabled(ctx context.Context, sub string, disabled bool) (AccountChange, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return AccountChange{}, err
	}
	if sub == "" {
		return AccountChange{}, fmt.Errorf("%w: sub is required", ErrInvalid)
	}
	a, err := s.store.UpdateAccount(ctx, sub, func(a storage.Account) (storage.Account, error) {
		if a.Disabled != disabled {
			a.Disabled = disabled
			a.UpdatedAt = s.now().UTC()
		}
		return a, nil
	})
	if err != nil {
		return AccountChange{}, accountError(err, "no account with that sub")
	}
	var res AccountChange
	action := "accounts.enable"
	if disabled {
		action = "accounts.disable"
		if res.TokensRevoked, err = s.store.RevokeSubjectTokens(ctx, sub); err != nil {
			return AccountChange{}, fmt.Errorf("account %s disabled, but revoking its tokens failed (repeat revoke-tokens and end-sessions): %w", sub, err)
		}
		if res.SessionsEnded, err = s.endAccountSessions(ctx, sub); err != nil {
			return AccountChange{}, fmt.Errorf("account %s disabled and its tokens revoked, but ending its login sessions failed (repeat end-sessions): %w", sub, err)
		}
	}
	s.record(ctx, actor, action, sub, map[string]any{"tokens_revoked": res.TokensRevoked, "sessions_ended": res.SessionsEnded})
	res.Account, err = s.accountView(ctx, a)
	return res, err
}

// RevokeAccountTokens deletes the access tokens and revokes the refresh
// tokens of account sub ("log out everywhere").
func (s *Service) RevokeAccountTokens(ctx context.Context, sub string) (int64, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return 0, err
	}
	if sub == "" {
		return 0, fmt.Errorf("%w: sub is required", ErrInvalid)
	}
	if _, err := s.store.GetAccount(ctx, sub); err != nil {
		return 0, accountError(err, "no account with that sub")
	}
	n, err := s.store.RevokeSubjectTokens(ctx, sub)
	if err != nil {
		return 0, fmt.Errorf("revoking the tokens of %s: %w", sub, err)
	}
	s.record(ctx, actor, "accounts.revoke_tokens", sub, map[string]any{"tokens_revoked": n})
	return n, nil
}

func accountError(err error, notFound string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, notFound)
	}
	return fmt.Errorf("looking up the account: %w", err)
}

func countSet(vs ...string) int {
	n := 0
	for _, v := range vs {
		if v != "" {
			n++
		}
	}
	return n
}

// normalizePhone accepts an E.164 number written with spaces, dashes, dots
// or parentheses ("+86 138-0013-8000") and returns it as stored
// ("+8613800138000"). Errors never echo the number.
func normalizePhone(s string) (string, error) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", fmt.Errorf("%w: phone must be an E.164 number such as +8613800138000", ErrInvalid)
		}
	}
	p := b.String()
	if !strings.HasPrefix(p, "+") || len(p) < 8 || len(p) > 16 || p[1] == '0' {
		return "", fmt.Errorf("%w: phone must be an E.164 number such as +8613800138000 (with the + and country code)", ErrInvalid)
	}
	return p, nil
}
