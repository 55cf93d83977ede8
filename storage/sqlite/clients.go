package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

const clientColumns = `id, name, secret_hash, token_endpoint_auth_method, wechat_appid,
	grant_types, scopes, audiences, default_audience, require_phone,
	id_token_signed_response_alg, jwks, redirect_uris, post_logout_redirect_uris,
	skip_consent, backchannel_logout_uri, wechat_apps, disabled, created_at, updated_at`

var (
	insertClientSQL = writeSQL(`INSERT INTO clients (` + clientColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	selectClientSQL = readSQL(`SELECT ` + clientColumns + ` FROM clients WHERE id = ?`)
	listClientsSQL  = readSQL(`SELECT ` + clientColumns + ` FROM clients ORDER BY id`)
	// One page from a lower bound, inclusive (the prefix) or exclusive (the
	// last ID of the page before): a range scan of the primary key.
	clientsFromSQL  = readSQL(`SELECT ` + clientColumns + ` FROM clients WHERE id >= ? ORDER BY id LIMIT ?`)
	clientsAfterSQL = readSQL(`SELECT ` + clientColumns + ` FROM clients WHERE id > ? ORDER BY id LIMIT ?`)
	updateClientSQL = writeSQL(`UPDATE clients SET name = ?, secret_hash = ?, token_endpoint_auth_method = ?,
	wechat_appid = ?, grant_types = ?, scopes = ?, audiences = ?, default_audience = ?,
	require_phone = ?, id_token_signed_response_alg = ?, jwks = ?, redirect_uris = ?,
	post_logout_redirect_uris = ?, skip_consent = ?, backchannel_logout_uri = ?, wechat_apps = ?, disabled = ?,
	created_at = ?, updated_at = ? WHERE id = ?`)
	deleteClientSQL = writeSQL(`DELETE FROM clients WHERE id = ?`)

	purgeJTIsSQL = writeSQL(`DELETE FROM client_assertion_jtis WHERE expires_at <= ?`)
	insertJTISQL = writeSQL(`INSERT INTO client_assertion_jtis (jti, expires_at) VALUES (?, ?)`)
	selectJTISQL = readSQL(`SELECT count(*) FROM client_assertion_jtis WHERE jti = ? AND expires_at > ?`)
)

// clientDest lists the scan destinations for clientColumns.
func clientDest(c *storage.Client) []any {
	return []any{&c.ID, &c.Name, &c.SecretHash, &c.TokenEndpointAuthMethod, &c.WeChatAppID,
		listCol{&c.GrantTypes}, listCol{&c.Scopes}, listCol{&c.Audiences}, &c.DefaultAudience, &c.RequirePhone,
		&c.IDTokenSignedResponseAlg, bytesCol{&c.JWKS}, listCol{&c.RedirectURIs}, listCol{&c.PostLogoutRedirectURIs},
		&c.SkipConsent, &c.BackchannelLogoutURI, listCol{&c.WeChatApps}, &c.Disabled, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt}}
}

// CreateClient inserts c; a taken ID is storage.ErrAlreadyExists.
func (s *Storage) CreateClient(ctx context.Context, c storage.Client) error {
	if c.ID == "" {
		return fmt.Errorf("sqlite: create client: empty ID")
	}
	_, err := s.exec(ctx, insertClientSQL, c.ID, c.Name, c.SecretHash, c.TokenEndpointAuthMethod, c.WeChatAppID,
		listArg(c.GrantTypes), listArg(c.Scopes), listArg(c.Audiences), c.DefaultAudience, c.RequirePhone,
		c.IDTokenSignedResponseAlg, bytesArg(c.JWKS), listArg(c.RedirectURIs), listArg(c.PostLogoutRedirectURIs),
		c.SkipConsent, c.BackchannelLogoutURI, listArg(c.WeChatApps), c.Disabled, timeArg(c.CreatedAt), timeArg(c.UpdatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: create client %q: %w", c.ID, err)
	}
	return nil
}

// GetClient returns one client.
func (s *Storage) GetClient(ctx context.Context, id string) (storage.Client, error) {
	var c storage.Client
	if err := s.queryRow(ctx, selectClientSQL, []any{id}, clientDest(&c)...); err != nil {
		return storage.Client{}, fmt.Errorf("sqlite: get client %q: %w", id, err)
	}
	return c, nil
}

// ListClients returns every client ordered by ID.
func (s *Storage) ListClients(ctx context.Context) ([]storage.Client, error) {
	var out []storage.Client
	err := s.queryRows(ctx, listClientsSQL, nil, func(rows *sql.Rows) error {
		var c storage.Client
		if err := rows.Scan(clientDest(&c)...); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list clients: %w", err)
	}
	return out, nil
}

// ListClientsPage returns at most limit clients whose ID starts with
// prefix and sorts after after, ordered by ID; see storage.ClientStore.
// SQLite compares TEXT byte by byte, so the IDs starting with prefix are
// the ones from prefix on up to the first that does not: the page is read
// from the larger of the two bounds and stops there.
func (s *Storage) ListClientsPage(ctx context.Context, prefix, after string, limit int) ([]storage.Client, error) {
	if limit < 1 {
		return nil, nil
	}
	query, from := clientsAfterSQL, after
	if prefix > after {
		query, from = clientsFromSQL, prefix
	}
	var out []storage.Client
	err := s.queryRows(ctx, query, []any{from, limit}, func(rows *sql.Rows) error {
		var c storage.Client
		if err := rows.Scan(clientDest(&c)...); err != nil {
			return err
		}
		if strings.HasPrefix(c.ID, prefix) {
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list clients after %q: %w", after, err)
	}
	return out, nil
}

// UpdateClient applies fn to the stored client in one transaction.
func (s *Storage) UpdateClient(ctx context.Context, id string, fn func(storage.Client) (storage.Client, error)) (storage.Client, error) {
	var out storage.Client
	err := s.inTx(ctx, func(ctx context.Context) error {
		var old storage.Client
		if err := s.queryRow(ctx, selectClientSQL, []any{id}, clientDest(&old)...); err != nil {
			return err
		}
		c, err := fn(old)
		if err != nil {
			return err
		}
		if c.ID != id {
			return fmt.Errorf("updater changed the ID to %q", c.ID)
		}
		_, err = s.exec(ctx, updateClientSQL, c.Name, c.SecretHash, c.TokenEndpointAuthMethod, c.WeChatAppID,
			listArg(c.GrantTypes), listArg(c.Scopes), listArg(c.Audiences), c.DefaultAudience, c.RequirePhone,
			c.IDTokenSignedResponseAlg, bytesArg(c.JWKS), listArg(c.RedirectURIs), listArg(c.PostLogoutRedirectURIs),
			c.SkipConsent, c.BackchannelLogoutURI, listArg(c.WeChatApps), c.Disabled, timeArg(c.CreatedAt), timeArg(c.UpdatedAt), id)
		if err != nil {
			return err
		}
		// Read back, so the caller gets exactly what GetClient will return.
		return s.queryRow(ctx, selectClientSQL, []any{id}, clientDest(&out)...)
	})
	if err != nil {
		return storage.Client{}, fmt.Errorf("sqlite: update client %q: %w", id, err)
	}
	return out, nil
}

// DeleteClient removes one client, revokes its token sessions and deletes
// its consents and login-session links, in one transaction; see
// storage.ClientStore.
func (s *Storage) DeleteClient(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(ctx context.Context) error {
		if err := s.execFound(ctx, deleteClientSQL, id); err != nil {
			return err
		}
		if _, err := s.revokeClientTokens(ctx, id); err != nil {
			return err
		}
		if _, err := s.exec(ctx, deleteClientConsentsSQL, id); err != nil {
			return err
		}
		_, err := s.exec(ctx, deleteClientSessionLinksSQL, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete client %q: %w", id, err)
	}
	return nil
}

// SetClientAssertionJTI records jti until exp; storage.ErrAlreadyExists if
// it is recorded and unexpired at now. Expired IDs are purged on the way, so
// the table holds only live ones.
func (s *Storage) SetClientAssertionJTI(ctx context.Context, jti string, exp, now time.Time) error {
	err := s.inTx(ctx, func(ctx context.Context) error {
		if _, err := s.exec(ctx, purgeJTIsSQL, now.UnixMicro()); err != nil {
			return err
		}
		_, err := s.exec(ctx, insertJTISQL, jti, exp.UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: set client assertion jti: %w", err)
	}
	return nil
}

// ClientAssertionJTIUsed reports whether jti is recorded and unexpired at now.
func (s *Storage) ClientAssertionJTIUsed(ctx context.Context, jti string, now time.Time) (bool, error) {
	var n int
	if err := s.queryRow(ctx, selectJTISQL, []any{jti, now.UnixMicro()}, &n); err != nil {
		return false, fmt.Errorf("sqlite: client assertion jti used: %w", err)
	}
	return n > 0, nil
}
