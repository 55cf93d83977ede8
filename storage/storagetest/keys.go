package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

func newKey(kid, alg string, state storage.KeyState, created time.Time) storage.SigningKey {
	return storage.SigningKey{
		KID:                 kid,
		Algorithm:           alg,
		State:               state,
		PrivateKeyEncrypted: []byte("enc-private-" + kid),
		PublicJWK:           []byte(`{"kid":"` + kid + `"}`),
		CreatedAt:           created,
	}
}

func testSigningKeys(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	keys, err := s.ListSigningKeys(ctx)
	mustNoErr(t, "list empty", err)
	if len(keys) != 0 {
		t.Fatalf("empty storage lists %d keys", len(keys))
	}

	t0 := baseTime
	current := newKey("kid-b", "RS256", storage.KeyCurrent, t0)
	current.ActivatedAt = t0
	next := newKey("kid-a", "RS256", storage.KeyNext, t0.Add(time.Hour)) // same CreatedAt as ec: tie broken by KID
	ec := newKey("kid-c", "ES256", storage.KeyCurrent, t0.Add(time.Hour))
	ec.ActivatedAt = t0.Add(time.Hour)
	retired := newKey("kid-z", "RS256", storage.KeyRetired, t0.Add(-time.Hour))
	retired.ActivatedAt = t0.Add(-time.Hour)
	retired.RetiredAt = t0
	retired.RemoveAfter = t0.Add(2 * time.Hour)

	var seen []storage.SigningKey
	got, err := s.UpdateSigningKeys(ctx, func(old []storage.SigningKey) ([]storage.SigningKey, error) {
		seen = old
		return []storage.SigningKey{current, next, ec, retired}, nil
	})
	mustNoErr(t, "insert", err)
	if len(seen) != 0 {
		t.Errorf("first updater saw %d keys, want 0", len(seen))
	}
	want := []storage.SigningKey{retired, current, next, ec} // by CreatedAt, then KID
	checkRecords(t, "insert result", got, want)
	keys, err = s.ListSigningKeys(ctx)
	mustNoErr(t, "list", err)
	checkRecords(t, "list after insert", keys, want)

	// Rotate: next becomes current, current retires, the retired key is
	// deleted by omission.
	t1 := t0.Add(2 * time.Hour)
	got, err = s.UpdateSigningKeys(ctx, func(old []storage.SigningKey) ([]storage.SigningKey, error) {
		seen = old
		var out []storage.SigningKey
		for _, k := range old {
			switch k.KID {
			case "kid-z":
				continue
			case "kid-a":
				k.State = storage.KeyCurrent
				k.ActivatedAt = t1
			case "kid-b":
				k.State = storage.KeyRetired
				k.RetiredAt = t1
				k.RemoveAfter = t1.Add(time.Hour)
			}
			out = append(out, k)
		}
		return out, nil
	})
	mustNoErr(t, "rotate", err)
	checkRecords(t, "updater input", seen, want)
	next.State, next.ActivatedAt = storage.KeyCurrent, t1
	current.State, current.RetiredAt, current.RemoveAfter = storage.KeyRetired, t1, t1.Add(time.Hour)
	want = []storage.SigningKey{current, next, ec}
	checkRecords(t, "rotate result", got, want)
	keys, err = s.ListSigningKeys(ctx)
	mustNoErr(t, "list", err)
	checkRecords(t, "list after rotate", keys, want)

	// Revoke one and delete everything else.
	t2 := t1.Add(time.Minute)
	got, err = s.UpdateSigningKeys(ctx, func(old []storage.SigningKey) ([]storage.SigningKey, error) {
		k := old[2]
		k.State = storage.KeyRevoked
		k.RevokedAt = t2
		return []storage.SigningKey{k}, nil
	})
	mustNoErr(t, "revoke", err)
	ec.State, ec.RevokedAt = storage.KeyRevoked, t2
	checkRecords(t, "revoke result", got, []storage.SigningKey{ec})

	got, err = s.UpdateSigningKeys(ctx, func([]storage.SigningKey) ([]storage.SigningKey, error) { return nil, nil })
	mustNoErr(t, "delete all", err)
	if len(got) != 0 {
		t.Errorf("delete all left %d keys", len(got))
	}
	keys, err = s.ListSigningKeys(ctx)
	mustNoErr(t, "list", err)
	if len(keys) != 0 {
		t.Errorf("delete all left %d keys in storage", len(keys))
	}
}

func testSigningKeysFnError(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	k := newKey("kid-1", "EdDSA", storage.KeyCurrent, baseTime)
	_, err := s.UpdateSigningKeys(ctx, func([]storage.SigningKey) ([]storage.SigningKey, error) {
		return []storage.SigningKey{k}, nil
	})
	mustNoErr(t, "insert", err)

	fnErr := errors.New("rotation not due")
	_, err = s.UpdateSigningKeys(ctx, func(old []storage.SigningKey) ([]storage.SigningKey, error) {
		old[0].State = storage.KeyRevoked
		return append(old, newKey("kid-2", "RS256", storage.KeyNext, baseTime)), fnErr
	})
	mustErrIs(t, "failing updater", err, fnErr)
	keys, err := s.ListSigningKeys(ctx)
	mustNoErr(t, "list", err)
	checkRecords(t, "after failing updater", keys, []storage.SigningKey{k})

	// A result with a duplicate KID is refused as a whole.
	_, err = s.UpdateSigningKeys(ctx, func(old []storage.SigningKey) ([]storage.SigningKey, error) {
		dup := newKey("kid-1", "RS256", storage.KeyNext, baseTime)
		return append(old, newKey("kid-3", "RS256", storage.KeyNext, baseTime), dup), nil
	})
	if err == nil {
		t.Fatal("updater result with a duplicate KID accepted")
	}
	keys, err = s.ListSigningKeys(ctx)
	mustNoErr(t, "list", err)
	checkRecords(t, "after duplicate KID", keys, []storage.SigningKey{k})
}
