package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// LoginSessionView is one browser login session of an account
// (docs/contract.md §1.5). ID is the storage ID (a hash of the cookie
// value); the cookie value itself is never stored, so never shown.
type LoginSessionView struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at,omitzero"`
	// ExpiresAt is the hard end; zero never expires.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	AuthTime  time.Time `json:"auth_time,omitzero"`
	// AppID is the WeChat app the person signed in with.
	AppID string `json:"appid,omitempty"`
	// ClientIDs are the clients the session signed in to.
	ClientIDs []string `json:"client_ids"`
}

// ConsentView is a remembered consent: the scopes a person allowed a
// client, kept until the person or an admin revokes it.
type ConsentView struct {
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	GrantedAt time.Time `json:"granted_at"`
}

// browserState adds the login sessions and consents of account sub to v.
func (s *Service) browserState(ctx context.Context, sub string, v *AccountView) error {
	sessions, err := s.store.ListAccountLoginSessions(ctx, sub)
	if err != nil {
		return fmt.Errorf("listing the login sessions of %s: %w", sub, err)
	}
	v.LoginSessions = make([]LoginSessionView, 0, len(sessions))
	for _, ls := range sessions {
		clients, err := s.store.ListLoginSessionClients(ctx, ls.ID)
		if err != nil {
			return fmt.Errorf("listing the clients of a login session of %s: %w", sub, err)
		}
		v.LoginSessions = append(v.LoginSessions, LoginSessionView{
			ID: ls.ID, CreatedAt: ls.CreatedAt, LastSeenAt: ls.LastSeenAt, ExpiresAt: ls.ExpiresAt,
			AuthTime: ls.AuthTime, AppID: ls.AppID, ClientIDs: orEmpty(clients),
		})
	}
	consents, err := s.store.ListAccountConsents(ctx, sub)
	if err != nil {
		return fmt.Errorf("listing the consents of %s: %w", sub, err)
	}
	v.Consents = make([]ConsentView, 0, len(consents))
	for _, c := range consents {
		v.Consents = append(v.Consents, ConsentView{ClientID: c.ClientID, Scopes: orEmpty(c.Scopes), GrantedAt: c.GrantedAt})
	}
	return nil
}

// RevokeConsent forgets what account sub allowed client clientID: its next
// browser sign-in to that client asks again (unless the client skips
// consent). Tokens already issued stay valid; revoke them separately.
func (s *Service) RevokeConsent(ctx context.Context, sub, clientID string) error {
	actor, err := actorOf(ctx)
	if err != nil {
		return err
	}
	if sub == "" || clientID == "" {
		return fmt.Errorf("%w: sub and client_id are required", ErrInvalid)
	}
	if _, err := s.store.GetAccount(ctx, sub); err != nil {
		return accountError(err, "no account with that sub")
	}
	if err := s.store.DeleteConsent(ctx, sub, clientID); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("%w: account %s has no consent for client %q", ErrNotFound, sub, clientID)
		}
		return fmt.Errorf("revoking the consent of %s for client %q: %w", sub, clientID, err)
	}
	s.record(ctx, actor, "accounts.revoke_consent", sub, map[string]any{"client_id": clientID})
	return nil
}

// EndLoginSessions ends every browser login session of account sub (its
// browsers must sign in again) and returns how many it ended. Tokens
// already issued stay valid; RevokeAccountTokens ends those.
func (s *Service) EndLoginSessions(ctx context.Context, sub string) (int64, error) {
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
	n, err := s.endAccountSessions(ctx, sub)
	if err != nil {
		return 0, fmt.Errorf("ending the login sessions of %s: %w", sub, err)
	}
	s.record(ctx, actor, "accounts.end_sessions", sub, map[string]any{"sessions_ended": n})
	return n, nil
}

// endAccountSessions ends an account's login sessions through the
// server's provider when there is one (it notifies the clients by
// back-channel logout), else in storage (the CLI on a database).
func (s *Service) endAccountSessions(ctx context.Context, sub string) (int64, error) {
	if s.endSessions != nil {
		return s.endSessions(ctx, sub)
	}
	return s.store.DeleteAccountLoginSessions(ctx, sub)
}
