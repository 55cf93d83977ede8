// Package adminclient calls a running server's admin API (/admin/v1/, see
// docs/operations.md) with the same method set as admin.Service, so the CLI
// can run every admin command either directly on the database or through
// the API, with one code path and the same error classes.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/keys"
)

// prefix is the admin API version this client speaks.
const prefix = "/admin/v1"

// maxBody bounds what is read of an answer: admin answers are small, and a
// wrong URL must not make the CLI buffer an unbounded page.
const maxBody = 8 << 20

// Client is an admin API client. Its zero value is not usable; use New.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client for the admin listener at baseURL (e.g.
// "http://127.0.0.1:8081"), authenticating with the bearer token. A nil
// httpClient means a client with a 30 s timeout.
func New(baseURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(baseURL), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("admin URL %q: want http(s)://host[:port]", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("admin URL %q: no query, fragment or user info", baseURL)
	}
	if token = strings.TrimSpace(token); token == "" {
		return nil, errors.New("admin token is empty")
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: u, token: token, http: httpClient}, nil
}

// Error is an error answer of the admin API. It wraps the admin error
// class its status and code stand for (admin.ErrInvalid, ErrNotFound,
// ErrConflict, ErrRotationTooSoon), so callers test it as they test the
// Service's errors.
type Error struct {
	Status      int
	Code        string
	Description string
	class       error
}

func (e *Error) Error() string {
	if e.Description != "" {
		return e.Description
	}
	return fmt.Sprintf("admin API: %d %s", e.Status, e.Code)
}

func (e *Error) Unwrap() error { return e.class }

func classOf(status int, code string) error {
	switch {
	case code == "rotation_too_soon":
		return admin.ErrRotationTooSoon
	case status == http.StatusBadRequest:
		return admin.ErrInvalid
	case status == http.StatusNotFound:
		return admin.ErrNotFound
	case status == http.StatusConflict:
		return admin.ErrConflict
	}
	return nil
}

// do sends a JSON request and decodes a 2xx answer into out (when non-nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := *c.base
	u.Path += prefix + path
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("admin API %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("admin API %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Code        string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(raw, &e)
		if resp.StatusCode == http.StatusUnauthorized {
			// Say which credential is wrong: the server's description is
			// generic on purpose.
			return &Error{Status: resp.StatusCode, Code: e.Code,
				Description: "admin API refused the token (401): check --admin-token-file or WXOIDC_ADMIN_TOKEN"}
		}
		return &Error{Status: resp.StatusCode, Code: e.Code, Description: e.Description, class: classOf(resp.StatusCode, e.Code)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("admin API %s %s: answer is not the expected JSON (is %s the admin listener?): %w", method, path, c.base, err)
	}
	return nil
}

// ListKeys lists every stored signing key.
func (c *Client) ListKeys(ctx context.Context) ([]keys.KeyInfo, error) {
	var out struct {
		Keys []keys.KeyInfo `json:"keys"`
	}
	err := c.do(ctx, http.MethodGet, "/keys", nil, nil, &out)
	return out.Keys, err
}

// RotateKeys rotates algs (every configured algorithm when empty). With
// several algorithms it rotates them one request each and returns what was
// rotated before a failure together with the failure, as Service does.
func (c *Client) RotateKeys(ctx context.Context, algs []string, force bool) ([]keys.KeyInfo, error) {
	type request struct {
		Algorithm string `json:"alg,omitempty"`
		Force     bool   `json:"force"`
	}
	var out struct {
		Keys []keys.KeyInfo `json:"keys"`
	}
	if len(algs) == 0 {
		err := c.do(ctx, http.MethodPost, "/keys/rotate", nil, request{Force: force}, &out)
		return out.Keys, err
	}
	var all []keys.KeyInfo
	for _, alg := range algs {
		out.Keys = nil
		if err := c.do(ctx, http.MethodPost, "/keys/rotate", nil, request{Algorithm: alg, Force: force}, &out); err != nil {
			return all, err
		}
		all = append(all, out.Keys...)
	}
	return all, nil
}

// RevokeKey takes kid out of the JWKS and, when asked, revokes its tokens.
func (c *Client) RevokeKey(ctx context.Context, kid string, revokeTokens bool) (admin.RevokeResult, error) {
	var out admin.RevokeResult
	err := c.do(ctx, http.MethodPost, "/keys/revoke", nil, map[string]any{"kid": kid, "revoke_tokens": revokeTokens}, &out)
	return out, err
}

// ListClients lists every client.
func (c *Client) ListClients(ctx context.Context) ([]admin.ClientView, error) {
	var out struct {
		Clients []admin.ClientView `json:"clients"`
	}
	err := c.do(ctx, http.MethodGet, "/clients", nil, nil, &out)
	return out.Clients, err
}

// GetClient returns one client.
func (c *Client) GetClient(ctx context.Context, id string) (admin.ClientView, error) {
	var out admin.ClientView
	err := c.do(ctx, http.MethodGet, "/clients/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// CreateClient creates a client; a generated secret is in the answer, once.
func (c *Client) CreateClient(ctx context.Context, spec admin.ClientSpec) (admin.ClientView, error) {
	var out admin.ClientView
	err := c.do(ctx, http.MethodPost, "/clients", nil, spec, &out)
	return out, err
}

// UpdateClient changes the fields spec sets.
func (c *Client) UpdateClient(ctx context.Context, id string, spec admin.ClientSpec) (admin.ClientView, error) {
	var out admin.ClientView
	err := c.do(ctx, http.MethodPatch, "/clients/"+url.PathEscape(id), nil, spec, &out)
	return out, err
}

// DeleteClient deletes a client.
func (c *Client) DeleteClient(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/clients/"+url.PathEscape(id), nil, nil, nil)
}

// RevokeClientTokens revokes every token of a client and keeps the client.
func (c *Client) RevokeClientTokens(ctx context.Context, id string) (int64, error) {
	var out struct {
		TokensRevoked int64 `json:"tokens_revoked"`
	}
	err := c.do(ctx, http.MethodPost, "/clients/"+url.PathEscape(id)+"/revoke-tokens", nil, nil, &out)
	return out.TokensRevoked, err
}

// FindAccounts looks accounts up. The query travels in a POST body: a
// phone number must not end up in a URL or an access log.
func (c *Client) FindAccounts(ctx context.Context, q admin.AccountQuery) ([]admin.AccountView, error) {
	var out struct {
		Accounts []admin.AccountView `json:"accounts"`
	}
	err := c.do(ctx, http.MethodPost, "/accounts/search", nil, q, &out)
	return out.Accounts, err
}

// FindAccount is FindAccounts for exactly one account.
func (c *Client) FindAccount(ctx context.Context, q admin.AccountQuery) (admin.AccountView, error) {
	accs, err := c.FindAccounts(ctx, q)
	if err != nil {
		return admin.AccountView{}, err
	}
	return admin.OneAccount(accs)
}

// SetAccountDisabled disables or enables an account; disabling revokes its
// tokens and ends its login sessions, and says how many of each.
func (c *Client) SetAccountDisabled(ctx context.Context, sub string, disabled bool) (admin.AccountChange, error) {
	action := "/enable"
	if disabled {
		action = "/disable"
	}
	var out admin.AccountChange
	err := c.do(ctx, http.MethodPost, "/accounts/"+url.PathEscape(sub)+action, nil, nil, &out)
	return out, err
}

// EndLoginSessions ends every browser login session of an account and
// returns how many it ended.
func (c *Client) EndLoginSessions(ctx context.Context, sub string) (int64, error) {
	var out struct {
		SessionsEnded int64 `json:"sessions_ended"`
	}
	err := c.do(ctx, http.MethodPost, "/accounts/"+url.PathEscape(sub)+"/end-sessions", nil, nil, &out)
	return out.SessionsEnded, err
}

// RevokeConsent revokes an account's remembered consent for one client.
func (c *Client) RevokeConsent(ctx context.Context, sub, clientID string) error {
	if sub == "" || clientID == "" {
		// An empty path segment would name another route.
		return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "sub and client_id are required", class: admin.ErrInvalid}
	}
	return c.do(ctx, http.MethodDelete, "/accounts/"+url.PathEscape(sub)+"/consents/"+url.PathEscape(clientID), nil, nil, nil)
}

// RevokeAccountTokens revokes every token of an account.
func (c *Client) RevokeAccountTokens(ctx context.Context, sub string) (int64, error) {
	var out struct {
		TokensRevoked int64 `json:"tokens_revoked"`
	}
	err := c.do(ctx, http.MethodPost, "/accounts/"+url.PathEscape(sub)+"/revoke-tokens", nil, nil, &out)
	return out.TokensRevoked, err
}

// Audit returns a page of the audit log, newest first.
func (c *Client) Audit(ctx context.Context, beforeID int64, limit int) (admin.AuditPage, error) {
	q := url.Values{}
	if beforeID > 0 {
		q.Set("before", strconv.FormatInt(beforeID, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out admin.AuditPage
	err := c.do(ctx, http.MethodGet, "/audit", q, nil, &out)
	return out, err
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }
