package postgres

import (
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// TestStatementsCountsGrant counts the statements of a WeChat grant's
// storage work in one transaction: the login read, its record and the
// issuance are one statement each, and BEGIN and COMMIT are not counted.
func TestStatementsCountsGrant(t *testing.T) {
	s := newTestStorage(t)
	ctx := t.Context()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := s.CreateClient(ctx, storage.Client{ID: "client-count", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	l := storage.WeChatLogin{AppID: "wx-app", OpenID: "openid-count", SessionKeyEncrypted: []byte("k1"),
		NewAccountID: "account-count", Now: now}
	if _, _, err := s.ResolveWeChatLogin(ctx, l); err != nil {
		t.Fatalf("ResolveWeChatLogin: %v", err)
	}

	before := s.Statements()
	tx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatalf("BeginTx: %v", err)
	}
	defer func() { _ = s.Rollback(tx) }()
	_, acc, err := s.GetWeChatLogin(tx, l.AppID, l.OpenID)
	if err != nil {
		t.Fatalf("GetWeChatLogin: %v", err)
	}
	l.SessionKeyEncrypted, l.Now = []byte("k2"), now.Add(time.Minute)
	if err := s.RecordWeChatLogin(tx, l, acc.ID); err != nil {
		t.Fatalf("RecordWeChatLogin: %v", err)
	}
	h := storage.TokenHolder{ClientID: "client-count", Subject: acc.ID}
	var sessions []storage.TokenSession
	for _, kind := range []storage.SessionKind{storage.KindAccessToken, storage.KindRefreshToken} {
		sessions = append(sessions, storage.TokenSession{Kind: kind, Signature: "sig-" + string(kind),
			RequestID: "req-count", RequestedAt: now, ClientID: h.ClientID, Subject: h.Subject, Active: true})
	}
	if err := s.CreateTokenSessions(tx, h, sessions...); err != nil {
		t.Fatalf("CreateTokenSessions: %v", err)
	}
	if err := s.Commit(tx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := s.Statements() - before; got != 3 {
		t.Errorf("Statements() grew by %d over the grant, want 3", got)
	}

	// The counter sees what was sent, not what succeeded: a refused
	// issuance is two statements (the insert, then the look at why).
	before = s.Statements()
	h.ClientID = "client-absent"
	for i := range sessions {
		sessions[i].ClientID, sessions[i].Signature = h.ClientID, sessions[i].Signature+"-refused"
	}
	if err := s.CreateTokenSessions(ctx, h, sessions...); err == nil {
		t.Fatal("CreateTokenSessions for an absent client succeeded")
	}
	if got := s.Statements() - before; got != 2 {
		t.Errorf("Statements() grew by %d over a refused issuance, want 2", got)
	}
}

func TestTransactionControl(t *testing.T) {
	for sql, want := range map[string]bool{
		"begin": true, "BEGIN ISOLATION LEVEL SERIALIZABLE": true, "commit": true, "rollback": true,
		"savepoint sp_1": true, "release savepoint sp_1": true, "rollback to savepoint sp_1": true,
		"SELECT 1": false, " WITH c AS (SELECT 1) SELECT 1": false, "UPDATE accounts SET phone_hash = ''": false,
	} {
		if got := transactionControl(sql); got != want {
			t.Errorf("transactionControl(%q) = %v, want %v", sql, got, want)
		}
	}
}
