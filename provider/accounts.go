package provider

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// Phone sources recorded with a verified number.
const (
	PhoneSourceCode   = "phone_code"
	PhoneSourceLegacy = "legacy"
)

// newAccountID returns a random, opaque, URL-safe `sub` (never the openid or
// the phone number).
func newAccountID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// accountCrypto encrypts what accounts store about a person.
type accountCrypto struct {
	sealer   Sealer
	phoneKey []byte // HMAC key for the phone blind index
}

// PhoneHash is the keyed lookup hash of an E.164 number.
func (a accountCrypto) PhoneHash(e164 string) string {
	m := hmac.New(sha256.New, a.phoneKey)
	m.Write([]byte(e164))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a accountCrypto) sealPhone(accountID, e164 string) []byte {
	return a.sealer.Seal([]byte(e164), []byte("phone:"+accountID))
}

// Phone returns an account's verified phone number, or "".
func (a accountCrypto) Phone(acc storage.Account) (string, error) {
	if len(acc.PhoneEncrypted) == 0 {
		return "", nil
	}
	b, err := a.sealer.Open(acc.PhoneEncrypted, []byte("phone:"+acc.ID))
	if err != nil {
		return "", fmt.Errorf("account %s: decrypt phone: %w", acc.ID, err)
	}
	return string(b), nil
}

func sessionKeyAAD(appID, openID string) []byte {
	return []byte("sessionkey:" + appID + ":" + openID)
}

func (a accountCrypto) sealSessionKey(appID, openID string, key []byte) []byte {
	return a.sealer.Seal(key, sessionKeyAAD(appID, openID))
}

// sessionKeyHash is the keyed hash stored beside a sealed session key: it
// tells the storage whether a login brought a new key, which the sealed
// bytes cannot (every seal has a fresh nonce). Keyed, so the database alone
// cannot test guesses; domain-separated from the phone index.
func (a accountCrypto) sessionKeyHash(appID, openID string, key []byte) []byte {
	m := hmac.New(sha256.New, a.phoneKey)
	m.Write([]byte("sessionkey-hash\x00" + appID + "\x00" + openID + "\x00"))
	m.Write(key)
	return m.Sum(nil)
}

func (a accountCrypto) openSessionKey(appID, openID string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	return a.sealer.Open(sealed, sessionKeyAAD(appID, openID))
}

// setPhone records a verified phone on the account.
func (a accountCrypto) setPhone(ctx context.Context, db storage.AccountStore, accountID, e164, source string, now time.Time) (storage.Account, error) {
	return db.UpdateAccount(ctx, accountID, func(acc storage.Account) (storage.Account, error) {
		acc.PhoneEncrypted = a.sealPhone(acc.ID, e164)
		acc.PhoneHash = a.PhoneHash(e164)
		acc.PhoneSource = source
		acc.PhoneVerifiedAt = now
		acc.UpdatedAt = now
		return acc, nil
	})
}

// PhoneHashFunc returns the phone blind index keyed by key, exactly as the
// provider computes it with Config.PhoneIndexKey when it records a verified
// phone, for tools that look accounts up by phone (the admin API, the CLI).
func PhoneHashFunc(key []byte) func(e164 string) string {
	return accountCrypto{phoneKey: append([]byte(nil), key...)}.PhoneHash
}
