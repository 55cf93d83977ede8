package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/wxoidc/wxoidc/storage"
)

const keyColumns = `kid, algorithm, state, private_key_encrypted, public_jwk,
	created_at, activated_at, retired_at, remove_after, revoked_at`

var (
	listKeysSQL   = readSQL(`SELECT ` + keyColumns + ` FROM signing_keys ORDER BY created_at, kid`)
	deleteKeysSQL = writeSQL(`DELETE FROM signing_keys`)
	insertKeySQL  = writeSQL(`INSERT INTO signing_keys (` + keyColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
)

func (s *Storage) listKeys(ctx context.Context) ([]storage.SigningKey, error) {
	var out []storage.SigningKey
	err := s.queryRows(ctx, listKeysSQL, nil, func(rows *sql.Rows) error {
		var k storage.SigningKey
		var state string
		if err := rows.Scan(&k.KID, &k.Algorithm, &state, bytesCol{&k.PrivateKeyEncrypted}, bytesCol{&k.PublicJWK},
			timeCol{&k.CreatedAt}, timeCol{&k.ActivatedAt}, timeCol{&k.RetiredAt}, timeCol{&k.RemoveAfter},
			timeCol{&k.RevokedAt}); err != nil {
			return err
		}
		k.State = storage.KeyState(state)
		out = append(out, k)
		return nil
	})
	return out, err
}

// ListSigningKeys returns the key set ordered by CreatedAt, then KID.
func (s *Storage) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	keys, err := s.listKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list signing keys: %w", err)
	}
	return keys, nil
}

// UpdateSigningKeys replaces the key set with fn's result in one write
// transaction; concurrent calls serialize on the writer.
func (s *Storage) UpdateSigningKeys(ctx context.Context, fn func([]storage.SigningKey) ([]storage.SigningKey, error)) ([]storage.SigningKey, error) {
	var out []storage.SigningKey
	err := s.inTx(ctx, func(ctx context.Context) error {
		old, err := s.listKeys(ctx)
		if err != nil {
			return err
		}
		keys, err := fn(old)
		if err != nil {
			return err
		}
		seen := make(map[string]bool, len(keys))
		for _, k := range keys {
			switch {
			case k.KID == "":
				return fmt.Errorf("key with empty kid")
			case seen[k.KID]:
				return fmt.Errorf("duplicate kid %q: %w", k.KID, storage.ErrAlreadyExists)
			case !k.State.Valid():
				return fmt.Errorf("key %q: unknown state %q", k.KID, k.State)
			}
			seen[k.KID] = true
		}
		// The set is a handful of rows: rewriting it whole is simplest.
		if _, err := s.exec(ctx, deleteKeysSQL); err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := s.exec(ctx, insertKeySQL, k.KID, k.Algorithm, string(k.State),
				bytesArg(k.PrivateKeyEncrypted), bytesArg(k.PublicJWK), timeArg(k.CreatedAt), timeArg(k.ActivatedAt),
				timeArg(k.RetiredAt), timeArg(k.RemoveAfter), timeArg(k.RevokedAt)); err != nil {
				return err
			}
		}
		out, err = s.listKeys(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: update signing keys: %w", err)
	}
	return out, nil
}
