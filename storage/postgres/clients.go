package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxoidc/wxoidc/storage"
)

const clientColumns = `id, name, secret_hash, token_endpoint_auth_method, wechat_app_id,
	grant_types, scopes, audiences, default_audience, require_phone,
	id_token_signed_response_alg, jwks, redirect_uris, post_logout_redirect_uris,
	skip_consent, backchannel_logout_uri, wechat_apps, disabled, created_at, updated_at`

func clientArgs(c storage.Client) []any {
	return []any{c.ID, c.Name, c.SecretHash, c.TokenEndpointAuthMethod, c.WeChatAppID,
		nilIfEmpty(c.GrantTypes), nilIfEmpty(c.Scopes), nilIfEmpty(c.Audiences), c.DefaultAudience, c.RequirePhone,
		c.IDTokenSignedResponseAlg, nilIfEmpty(c.JWKS), nilIfEmpty(c.RedirectURIs), nilIfEmpty(c.PostLogoutRedirectURIs),
		c.SkipConsent, c.BackchannelLogoutURI, nilIfEmpty(c.WeChatApps), c.Disabled, c.CreatedAt, c.UpdatedAt}
}

func scanClient(row pgx.Row) (storage.Client, error) {
	var c storage.Client
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.TokenEndpointAuthMethod, &c.WeChatAppID,
		&c.GrantTypes, &c.Scopes, &c.Audiences, &c.DefaultAudience, &c.RequirePhone,
		&c.IDTokenSignedResponseAlg, &c.JWKS, &c.RedirectURIs, &c.PostLogoutRedirectURIs,
		&c.SkipConsent, &c.BackchannelLogoutURI, &c.WeChatApps, &c.Disabled, &c.CreatedAt, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, storage.ErrNotFound
	}
	c.CreatedAt = c.CreatedAt.UTC()
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c, err
}

// CreateClient inserts c (timestamps as given).
func (s *Storage) CreateClient(ctx context.Context, c storage.Client) error {
	if c.ID == "" {
		return errors.New("storage/postgres: create client: empty client ID")
	}
	return s.run(ctx, "create client", func(q querier) error {
		tag, err := q.Exec(ctx, `INSERT INTO clients (`+clientColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
			ON CONFLICT DO NOTHING`, clientArgs(c)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrAlreadyExists
		}
		return nil
	})
}

// GetClient returns one client.
func (s *Storage) GetClient(ctx context.Context, id string) (storage.Client, error) {
	var c storage.Client
	err := s.read(ctx, "get client", func(q querier) error {
		var err error
		c, err = scanClient(q.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return storage.Client{}, err
	}
	return c, nil
}

// ListClients returns every client ordered by ID.
func (s *Storage) ListClients(ctx context.Context) ([]storage.Client, error) {
	var cs []storage.Client
	err := s.read(ctx, "list clients", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY id`)
		if err != nil {
			return err
		}
		cs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Client, error) { return scanClient(r) })
		return err
	})
	return cs, err
}

// ListClientsPage returns at most limit clients whose ID starts with
// prefix and sorts after after, ordered by ID; see storage.ClientStore. The
// primary key is scanned from after; the prefix is tested with starts_with
// rather than as a range, because under the database's collation the IDs
// sharing a prefix need not sort next to each other.
func (s *Storage) ListClientsPage(ctx context.Context, prefix, after string, limit int) ([]storage.Client, error) {
	if limit < 1 {
		return nil, nil
	}
	var cs []storage.Client
	err := s.read(ctx, "list clients page", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT `+clientColumns+` FROM clients
			WHERE id > $1 AND starts_with(id, $2) ORDER BY id LIMIT $3`, after, prefix, limit)
		if err != nil {
			return err
		}
		cs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Client, error) { return scanClient(r) })
		return err
	})
	return cs, err
}

// UpdateClient locks the row, applies fn and writes the result. Outside a
// caller's transaction fn may run again if the transaction has to be retried.
// Timestamps are stored as fn returns them.
func (s *Storage) UpdateClient(ctx context.Context, id string, fn func(storage.Client) (storage.Client, error)) (storage.Client, error) {
	var out storage.Client
	err := s.inTx(ctx, "update client", func(q querier) error {
		old, err := scanClient(q.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		c, err := fn(old)
		if err != nil {
			return err
		}
		if c.ID != old.ID {
			return fmt.Errorf("update function changed the client ID from %q to %q", old.ID, c.ID)
		}
		// RETURNING gives back what the row now holds (times at microsecond
		// precision), exactly what GetClient will return.
		out, err = scanClient(q.QueryRow(ctx, `UPDATE clients SET (`+clientColumns+`) =
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
			WHERE id = $1 RETURNING `+clientColumns, clientArgs(c)...))
		return err
	})
	if err != nil {
		return storage.Client{}, err
	}
	return out, nil
}

// DeleteClient removes one client, revokes its token sessions and deletes
// its consents and login-session links, in one transaction: a client
// re-created with the same ID must not bring any of them back (see
// storage.ClientStore).
func (s *Storage) DeleteClient(ctx context.Context, id string) error {
	return s.inTx(ctx, "delete client", func(q querier) error {
		tag, err := q.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		if _, err := revokeClientTokens(ctx, q, id); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM consents WHERE client_id = $1`, id); err != nil {
			return err
		}
		_, err = q.Exec(ctx, `DELETE FROM login_session_clients WHERE client_id = $1`, id)
		return err
	})
}

// assertionJTIPruneBatch bounds the expired IDs each SetClientAssertionJTI
// removes, so the table stays small without a separate collector.
const assertionJTIPruneBatch = 100

// SetClientAssertionJTI records jti until exp. It fails with
// storage.ErrAlreadyExists if jti is recorded and unexpired at now (an
// expired record is replaced). Concurrent calls with one jti: the second
// waits for the first's insert and then sees it.
func (s *Storage) SetClientAssertionJTI(ctx context.Context, jti string, exp, now time.Time) error {
	return s.run(ctx, "set client assertion jti", func(q querier) error {
		rows, err := q.Query(ctx, `WITH pruned AS (
				DELETE FROM client_assertion_jtis WHERE ctid = ANY (ARRAY(
					SELECT ctid FROM client_assertion_jtis
					WHERE expires_at <= $3 AND jti <> $1
					LIMIT $4 FOR UPDATE SKIP LOCKED))
			)
			INSERT INTO client_assertion_jtis AS t (jti, expires_at) VALUES ($1, $2)
			ON CONFLICT (jti) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE t.expires_at <= $3
			RETURNING 1`, jti, exp, now, assertionJTIPruneBatch)
		if err != nil {
			return err
		}
		n, err := countRows(rows)
		if err != nil {
			return err
		}
		if n == 0 {
			return storage.ErrAlreadyExists
		}
		return nil
	})
}

// ClientAssertionJTIUsed reports whether jti is recorded and unexpired at now.
func (s *Storage) ClientAssertionJTIUsed(ctx context.Context, jti string, now time.Time) (bool, error) {
	var used bool
	err := s.read(ctx, "check client assertion jti", func(q querier) error {
		return q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM client_assertion_jtis WHERE jti = $1 AND expires_at > $2)`,
			jti, now).Scan(&used)
	})
	return used, err
}

// countRows drains rows and counts them.
func countRows(rows pgx.Rows) (int, error) {
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	return n, rows.Err()
}
