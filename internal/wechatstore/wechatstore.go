// Package wechatstore keeps the WeChat client's shared app access tokens
// (wechat.TokenStore) in the storage backend, sealed, so that the instances
// on one database make one stable_token call between them. It is the
// adapter between the two packages: wechat knows nothing of storage, and
// storage nothing of WeChat.
package wechatstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
)

// Sealer encrypts data at rest (keys.Cipher implements it).
type Sealer interface {
	Seal(plaintext, additionalData []byte) []byte
	Open(sealed, additionalData []byte) ([]byte, error)
}

// Store is a wechat.TokenStore on a storage backend. Tokens are sealed
// before they reach the database, bound to their appid, so that neither a
// database dump nor a row copied to another appid yields a usable token.
type Store struct {
	db     storage.AppTokenStore
	sealer Sealer
}

var _ wechat.TokenStore = (*Store)(nil)

// New returns a Store keeping tokens in db, sealed by sealer.
func New(db storage.AppTokenStore, sealer Sealer) *Store {
	return &Store{db: db, sealer: sealer}
}

// tokenAD is the additional data sealing appID's token. The label predates
// this package; changing it would make every stored token unreadable.
func tokenAD(appID string) []byte { return []byte("wxoidc/wechat-app-token/v1\x00" + appID) }

// Load implements wechat.TokenStore.
func (s *Store) Load(ctx context.Context, appID string) (string, time.Time, bool, error) {
	t, err := s.db.GetAppToken(ctx, appID)
	if errors.Is(err, storage.ErrNotFound) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("wechatstore: loading the shared access token of %s: %w", appID, err)
	}
	tok, err := s.sealer.Open(t.TokenEncrypted, tokenAD(appID))
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("wechatstore: shared access token of %s does not decrypt (another key-encryption key?): %w", appID, err)
	}
	return string(tok), t.ExpiresAt, true, nil
}

// Save implements wechat.TokenStore.
func (s *Store) Save(ctx context.Context, appID, token string, expiresAt time.Time) error {
	err := s.db.PutAppToken(ctx, storage.AppToken{
		AppID:          appID,
		TokenEncrypted: s.sealer.Seal([]byte(token), tokenAD(appID)),
		ExpiresAt:      expiresAt,
	})
	if err != nil {
		return fmt.Errorf("wechatstore: saving the shared access token of %s: %w", appID, err)
	}
	return nil
}

// Lease implements wechat.TokenStore.
func (s *Store) Lease(ctx context.Context, appID, holder string, ttl time.Duration, now time.Time) (bool, error) {
	ok, err := s.db.AcquireAppTokenLease(ctx, appID, holder, ttl, now)
	if err != nil {
		return false, fmt.Errorf("wechatstore: leasing the access token refresh of %s: %w", appID, err)
	}
	return ok, nil
}

// Release implements wechat.TokenStore.
func (s *Store) Release(ctx context.Context, appID, holder string) error {
	if err := s.db.ReleaseAppTokenLease(ctx, appID, holder); err != nil {
		return fmt.Errorf("wechatstore: releasing the access token lease of %s: %w", appID, err)
	}
	return nil
}
