package keys

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/wxoidc/wxoidc/storage"
)

// KeyInfo describes one signing key without any key material, for listings,
// audit events and revocation follow-up.
type KeyInfo struct {
	KID         string           `json:"kid"`
	Algorithm   string           `json:"alg"`
	State       storage.KeyState `json:"state"`
	CreatedAt   time.Time        `json:"created_at"`
	ActivatedAt time.Time        `json:"activated_at,omitzero"`
	RetiredAt   time.Time        `json:"retired_at,omitzero"`
	RemoveAfter time.Time        `json:"remove_after,omitzero"`
	RevokedAt   time.Time        `json:"revoked_at,omitzero"`
}

// Published reports whether the key's state puts it in the JWKS.
func (k KeyInfo) Published() bool { return published(k.State) }

func published(s storage.KeyState) bool {
	return s == storage.KeyNext || s == storage.KeyCurrent || s == storage.KeyRetired
}

func infoOf(r storage.SigningKey) KeyInfo {
	return KeyInfo{
		KID:         r.KID,
		Algorithm:   r.Algorithm,
		State:       r.State,
		CreatedAt:   r.CreatedAt,
		ActivatedAt: r.ActivatedAt,
		RetiredAt:   r.RetiredAt,
		RemoveAfter: r.RemoveAfter,
		RevokedAt:   r.RevokedAt,
	}
}

// sortRows orders rows as the storage contract does (CreatedAt, then KID),
// so results do not depend on the backend.
func sortRows(rows []storage.SigningKey) {
	slices.SortStableFunc(rows, func(a, b storage.SigningKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.KID, b.KID)
	})
}

func infosOf(rows []storage.SigningKey) []KeyInfo {
	sorted := slices.Clone(rows)
	sortRows(sorted)
	out := make([]KeyInfo, len(sorted))
	for i, r := range sorted {
		out[i] = infoOf(r)
	}
	return out
}

// snapshot is one loaded key set. It is immutable once built and shared by
// every goroutine through an atomic pointer, so the signing and verifying
// paths take no lock.
type snapshot struct {
	fingerprint [sha256.Size]byte
	infos       []KeyInfo
	byKID       map[string]*loadedKey // published keys only
	current     map[string]*loadedKey // algorithm → the signing key
	verifyAlgs  []jose.SignatureAlgorithm
	jwks        []byte
	etag        string
}

func emptySnapshot() *snapshot {
	s := &snapshot{byKID: map[string]*loadedKey{}, current: map[string]*loadedKey{}}
	s.jwks, s.etag = encodeJWKS(nil)
	return s
}

// fingerprintRows hashes every field of every row, so an unchanged set is
// recognised and not decrypted and parsed again.
func fingerprintRows(rows []storage.SigningKey) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	writeBytes := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	writeTime := func(t time.Time) {
		binary.BigEndian.PutUint64(n[:], uint64(t.UnixNano()))
		if t.IsZero() {
			binary.BigEndian.PutUint64(n[:], 0)
		}
		h.Write(n[:])
	}
	for _, r := range rows {
		writeBytes([]byte(r.KID))
		writeBytes([]byte(r.Algorithm))
		writeBytes([]byte(r.State))
		writeBytes(r.PrivateKeyEncrypted)
		writeBytes(r.PublicJWK)
		writeTime(r.CreatedAt)
		writeTime(r.ActivatedAt)
		writeTime(r.RetiredAt)
		writeTime(r.RemoveAfter)
		writeTime(r.RevokedAt)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// buildSnapshot decrypts and parses the published rows. It always returns a
// usable snapshot of what could be loaded; the error lists every row that
// could not be used and every configured algorithm left without a current
// key.
func buildSnapshot(c *Cipher, rows []storage.SigningKey, algorithms []string) (*snapshot, error) {
	rows = slices.Clone(rows)
	sortRows(rows)
	s := &snapshot{
		fingerprint: fingerprintRows(rows),
		infos:       infosOf(rows),
		byKID:       map[string]*loadedKey{},
		current:     map[string]*loadedKey{},
	}
	var errs []error
	for _, r := range rows {
		if !published(r.State) {
			continue // revoked: never published, never parsed
		}
		k, err := openKey(c, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := s.byKID[r.KID]; dup {
			errs = append(errs, fmt.Errorf("keys: duplicate kid %s", r.KID))
			continue
		}
		s.byKID[r.KID] = k
		if r.State != storage.KeyCurrent {
			continue
		}
		if prev, ok := s.current[r.Algorithm]; ok {
			// The lifecycle keeps one current key per algorithm; if storage
			// holds two anyway, sign with the most recently activated one
			// (maintenance retires the other).
			errs = append(errs, fmt.Errorf("keys: several current %s keys (%s, %s)", r.Algorithm, prev.info.KID, r.KID))
			if r.ActivatedAt.Before(prev.info.ActivatedAt) {
				continue
			}
		}
		s.current[r.Algorithm] = k
	}
	for _, alg := range algorithms {
		if _, ok := s.current[alg]; !ok {
			errs = append(errs, fmt.Errorf("keys: no usable current %s key", alg))
		}
	}

	pub := make([]*loadedKey, 0, len(s.byKID))
	for _, r := range rows {
		k, ok := s.byKID[r.KID]
		if !ok || slices.Contains(pub, k) {
			continue
		}
		pub = append(pub, k)
		if !slices.Contains(s.verifyAlgs, k.alg) {
			s.verifyAlgs = append(s.verifyAlgs, k.alg)
		}
	}
	s.jwks, s.etag = encodeJWKS(pub)
	return s, errors.Join(errs...)
}

// stateRank puts current keys first in the JWKS: some clients naively take
// the first key of the set.
func stateRank(s storage.KeyState) int {
	switch s {
	case storage.KeyCurrent:
		return 0
	case storage.KeyNext:
		return 1
	}
	return 2
}

// encodeJWKS builds the JWKS body and its strong ETag once per change.
// Entries are derived from the private keys (not copied from storage) and
// carry only public members: kty, kid, alg, use, and n/e or crv/x(/y).
func encodeJWKS(pub []*loadedKey) ([]byte, string) {
	pub = slices.Clone(pub)
	slices.SortStableFunc(pub, func(a, b *loadedKey) int {
		return cmp.Compare(stateRank(a.info.State), stateRank(b.info.State))
	})
	var b bytes.Buffer
	b.WriteString(`{"keys":[`)
	for i, k := range pub {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(k.jwk)
	}
	b.WriteString("]}")
	body := b.Bytes()
	sum := sha256.Sum256(body)
	return body, `"` + hex.EncodeToString(sum[:]) + `"`
}
