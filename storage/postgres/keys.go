package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wxoidc/wxoidc/storage"
)

const signingKeyColumns = `kid, algorithm, state, private_key_encrypted, public_jwk,
	created_at, activated_at, retired_at, remove_after, revoked_at`

// signingKeysLock serializes UpdateSigningKeys across instances.
var signingKeysLock = lockKey("signing-keys")

func scanSigningKey(row pgx.CollectableRow) (storage.SigningKey, error) {
	var k storage.SigningKey
	var activated, retired, removeAfter, revoked pgtype.Timestamptz
	err := row.Scan(&k.KID, &k.Algorithm, &k.State, &k.PrivateKeyEncrypted, &k.PublicJWK,
		&k.CreatedAt, &activated, &retired, &removeAfter, &revoked)
	k.CreatedAt = k.CreatedAt.UTC()
	k.ActivatedAt = fromNullTime(activated)
	k.RetiredAt = fromNullTime(retired)
	k.RemoveAfter = fromNullTime(removeAfter)
	k.RevokedAt = fromNullTime(revoked)
	return k, err
}

func listSigningKeys(ctx context.Context, q querier) ([]storage.SigningKey, error) {
	rows, err := q.Query(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanSigningKey)
}

// ListSigningKeys returns the key set ordered by CreatedAt, then KID.
func (s *Storage) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	var ks []storage.SigningKey
	err := s.read(ctx, "list signing keys", func(q querier) error {
		var err error
		ks, err = listSigningKeys(ctx, q)
		return err
	})
	return ks, err
}

func validateSigningKeys(ks []storage.SigningKey) error {
	seen := make(map[string]bool, len(ks))
	for _, k := range ks {
		if k.KID == "" {
			return errors.New("signing key with empty KID")
		}
		if seen[k.KID] {
			return fmt.Errorf("duplicate signing key %q", k.KID)
		}
		seen[k.KID] = true
		if !k.State.Valid() {
			return fmt.Errorf("signing key %q: unknown state %q", k.KID, k.State)
		}
	}
	return nil
}

// UpdateSigningKeys runs fn on the whole set and replaces the set with its
// result, under a transaction advisory lock so that concurrent updates (from
// any instance) apply one after the other, each seeing the previous result.
// Outside a caller's transaction fn may run again if the transaction has to
// be retried.
func (s *Storage) UpdateSigningKeys(ctx context.Context, fn func([]storage.SigningKey) ([]storage.SigningKey, error)) ([]storage.SigningKey, error) {
	var out []storage.SigningKey
	err := s.inTx(ctx, "update signing keys", func(q querier) error {
		if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, signingKeysLock); err != nil {
			return err
		}
		old, err := listSigningKeys(ctx, q)
		if err != nil {
			return err
		}
		next, err := fn(slices.Clone(old))
		if err != nil {
			return err
		}
		if err := validateSigningKeys(next); err != nil {
			return err
		}
		kids := make([]string, len(next))
		for i, k := range next {
			kids[i] = k.KID
		}
		if _, err := q.Exec(ctx, `DELETE FROM signing_keys WHERE NOT (kid = ANY($1))`, kids); err != nil {
			return err
		}
		// Every instance runs key maintenance on each reload tick, usually
		// changing nothing: write only the keys that differ.
		stored := make(map[string]storage.SigningKey, len(old))
		for _, k := range old {
			stored[k.KID] = k
		}
		for _, k := range next {
			if prev, ok := stored[k.KID]; ok && sameSigningKey(prev, k) {
				continue
			}
			if _, err := q.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (kid) DO UPDATE SET (`+signingKeyColumns+`) = (
					EXCLUDED.kid, EXCLUDED.algorithm, EXCLUDED.state, EXCLUDED.private_key_encrypted,
					EXCLUDED.public_jwk, EXCLUDED.created_at, EXCLUDED.activated_at, EXCLUDED.retired_at,
					EXCLUDED.remove_after, EXCLUDED.revoked_at)`,
				k.KID, k.Algorithm, k.State, nilIfEmpty(k.PrivateKeyEncrypted), nilIfEmpty(k.PublicJWK), k.CreatedAt,
				nullTime(k.ActivatedAt), nullTime(k.RetiredAt), nullTime(k.RemoveAfter), nullTime(k.RevokedAt)); err != nil {
				return fmt.Errorf("write signing key %q: %w", k.KID, err)
			}
		}
		out, err = listSigningKeys(ctx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sameSigningKey reports whether a and b would be stored identically
// (timestamps compared at the database's microsecond precision).
func sameSigningKey(a, b storage.SigningKey) bool {
	sameTime := func(x, y time.Time) bool {
		return x.Truncate(time.Microsecond).Equal(y.Truncate(time.Microsecond))
	}
	return a.KID == b.KID && a.Algorithm == b.Algorithm && a.State == b.State &&
		bytes.Equal(a.PrivateKeyEncrypted, b.PrivateKeyEncrypted) && bytes.Equal(a.PublicJWK, b.PublicJWK) &&
		sameTime(a.CreatedAt, b.CreatedAt) && sameTime(a.ActivatedAt, b.ActivatedAt) &&
		sameTime(a.RetiredAt, b.RetiredAt) && sameTime(a.RemoveAfter, b.RemoveAfter) &&
		sameTime(a.RevokedAt, b.RevokedAt)
}
