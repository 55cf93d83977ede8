package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/wxoidc/wxoidc/storage"
)

const consentColumns = `account_id, client_id, scopes, granted_at`

var (
	selectConsentSQL = readSQL(`SELECT ` + consentColumns + ` FROM consents WHERE account_id = ? AND client_id = ?`)
	putConsentSQL    = writeSQL(`INSERT INTO consents (` + consentColumns + `) VALUES (?, ?, ?, ?)
	ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`)
	accountConsentsSQL      = readSQL(`SELECT ` + consentColumns + ` FROM consents WHERE account_id = ? ORDER BY client_id`)
	deleteConsentSQL        = writeSQL(`DELETE FROM consents WHERE account_id = ? AND client_id = ?`)
	deleteClientConsentsSQL = writeSQL(`DELETE FROM consents WHERE client_id = ?`)
)

func consentDest(c *storage.Consent) []any {
	return []any{&c.AccountID, &c.ClientID, listCol{&c.Scopes}, timeCol{&c.GrantedAt}}
}

// GetConsent returns the consent of (account, client).
func (s *Storage) GetConsent(ctx context.Context, accountID, clientID string) (storage.Consent, error) {
	var c storage.Consent
	if err := s.queryRow(ctx, selectConsentSQL, []any{accountID, clientID}, consentDest(&c)...); err != nil {
		return storage.Consent{}, fmt.Errorf("sqlite: get consent (client %q): %w", clientID, err)
	}
	return c, nil
}

// PutConsent creates or replaces the consent of (account, client).
func (s *Storage) PutConsent(ctx context.Context, c storage.Consent) error {
	switch {
	case c.AccountID == "":
		return errors.New("sqlite: put consent: empty account ID")
	case c.ClientID == "":
		return errors.New("sqlite: put consent: empty client ID")
	}
	if _, err := s.exec(ctx, putConsentSQL, c.AccountID, c.ClientID, listArg(c.Scopes), timeArg(c.GrantedAt)); err != nil {
		return fmt.Errorf("sqlite: put consent (client %q): %w", c.ClientID, err)
	}
	return nil
}

// ListAccountConsents returns an account's consents ordered by client ID.
func (s *Storage) ListAccountConsents(ctx context.Context, accountID string) ([]storage.Consent, error) {
	var out []storage.Consent
	err := s.queryRows(ctx, accountConsentsSQL, []any{accountID}, func(rows *sql.Rows) error {
		var c storage.Consent
		if err := rows.Scan(consentDest(&c)...); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: list account consents: %w", err)
	}
	return out, nil
}

// DeleteConsent removes one consent.
func (s *Storage) DeleteConsent(ctx context.Context, accountID, clientID string) error {
	if err := s.execFound(ctx, deleteConsentSQL, accountID, clientID); err != nil {
		return fmt.Errorf("sqlite: delete consent (client %q): %w", clientID, err)
	}
	return nil
}
