package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/wxoidc/wxoidc/storage"
)

const consentColumns = `account_id, client_id, scopes, granted_at`

func scanConsent(row pgx.Row) (storage.Consent, error) {
	var c storage.Consent
	err := row.Scan(&c.AccountID, &c.ClientID, &c.Scopes, &c.GrantedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, storage.ErrNotFound
	}
	c.GrantedAt = c.GrantedAt.UTC()
	return c, err
}

// GetConsent returns the consent of (account, client).
func (s *Storage) GetConsent(ctx context.Context, accountID, clientID string) (storage.Consent, error) {
	var c storage.Consent
	err := s.read(ctx, "get consent", func(q querier) error {
		var err error
		c, err = scanConsent(q.QueryRow(ctx, `SELECT `+consentColumns+` FROM consents
			WHERE account_id = $1 AND client_id = $2`, accountID, clientID))
		return err
	})
	if err != nil {
		return storage.Consent{}, err
	}
	return c, nil
}

// PutConsent creates or replaces the consent of (account, client), in one
// statement (no race between two puts: the later one wins).
func (s *Storage) PutConsent(ctx context.Context, c storage.Consent) error {
	switch {
	case c.AccountID == "":
		return errors.New("storage/postgres: put consent: empty account ID")
	case c.ClientID == "":
		return errors.New("storage/postgres: put consent: empty client ID")
	}
	return s.run(ctx, "put consent", func(q querier) error {
		_, err := q.Exec(ctx, `INSERT INTO consents (`+consentColumns+`) VALUES ($1, $2, $3, $4)
			ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = EXCLUDED.scopes, granted_at = EXCLUDED.granted_at`,
			c.AccountID, c.ClientID, nilIfEmpty(c.Scopes), c.GrantedAt)
		return err
	})
}

// ListAccountConsents returns an account's consents ordered by client ID.
func (s *Storage) ListAccountConsents(ctx context.Context, accountID string) ([]storage.Consent, error) {
	var out []storage.Consent
	err := s.read(ctx, "list account consents", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT `+consentColumns+` FROM consents
			WHERE account_id = $1 ORDER BY client_id`, accountID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Consent, error) { return scanConsent(r) })
		return err
	})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return out, nil
}

// DeleteConsent removes one consent.
func (s *Storage) DeleteConsent(ctx context.Context, accountID, clientID string) error {
	return s.run(ctx, "delete consent", func(q querier) error {
		tag, err := q.Exec(ctx, `DELETE FROM consents WHERE account_id = $1 AND client_id = $2`, accountID, clientID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return nil
	})
}
