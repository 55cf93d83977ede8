package storagetest

import (
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// clientTokens stores a session of every kind for clientID, plus a rotated
// refresh token still inside its grace window at now, and returns them.
func clientTokens(t *testing.T, s storage.Storage, clientID string, now time.Time, grace time.Duration) (sessions []storage.TokenSession, rotated storage.TokenSession) {
	t.Helper()
	ctx := t.Context()
	for _, kind := range storage.Kinds {
		ts := newSession(kind, clientID, "req-"+clientID)
		ts.ClientID = clientID
		mustNoErr(t, "create "+string(kind), s.CreateTokenSession(ctx, ts))
		sessions = append(sessions, ts)
	}
	rotated = newSession(storage.KindRefreshToken, clientID+"-rotated", "req-rotated-"+clientID)
	rotated.ClientID = clientID
	mustNoErr(t, "create rotated", s.CreateTokenSession(ctx, rotated))
	mustNoErr(t, "rotate", s.RotateRefreshToken(ctx, rotated.RequestID, rotated.Signature, now, grace))
	return sessions, rotated
}

// checkClientTokensRevoked asserts that none of a client's sessions is
// usable: refresh tokens inactive without a grace window, the rest gone.
func checkClientTokensRevoked(t *testing.T, s storage.Storage, what string, sessions []storage.TokenSession, rotated storage.TokenSession, now time.Time, grace time.Duration) {
	t.Helper()
	ctx := t.Context()
	for _, ts := range sessions {
		got, err := s.GetTokenSession(ctx, ts.Kind, ts.Signature)
		if ts.Kind == storage.KindRefreshToken {
			mustErrIs(t, what+": refresh token", err, storage.ErrInactive)
			if !got.FirstUsedAt.IsZero() {
				t.Errorf("%s: revoked refresh token has FirstUsedAt %v", what, got.FirstUsedAt)
			}
			continue
		}
		mustErrIs(t, what+": "+string(ts.Kind), err, storage.ErrNotFound)
	}
	mustErrIs(t, what+": rotated refresh token inside its grace window",
		s.RotateRefreshToken(ctx, rotated.RequestID, rotated.Signature, now.Add(time.Second), grace), storage.ErrInactive)
}

// checkClientTokensLive asserts that a client's sessions are untouched.
func checkClientTokensLive(t *testing.T, s storage.Storage, what string, sessions []storage.TokenSession) {
	t.Helper()
	for _, ts := range sessions {
		got, err := s.GetTokenSession(t.Context(), ts.Kind, ts.Signature)
		mustNoErr(t, what+": "+string(ts.Kind), err)
		checkRecord(t, what+": "+string(ts.Kind), got, ts)
	}
}

// Deleting a client revokes its tokens in the same transaction, and
// re-creating the client ID brings none of them back.
func testDeleteClientRevokesTokens(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := baseTime.Add(10 * time.Minute)
	const grace = time.Minute
	for _, id := range []string{"client-del", "client-keep"} {
		mustNoErr(t, "create "+id, s.CreateClient(ctx, newClient(id)))
	}
	del, delRotated := clientTokens(t, s, "client-del", now, grace)
	keep, _ := clientTokens(t, s, "client-keep", now, grace)

	mustNoErr(t, "delete client", s.DeleteClient(ctx, "client-del"))
	checkClientTokensRevoked(t, s, "after delete", del, delRotated, now, grace)
	checkClientTokensLive(t, s, "other client", keep)

	mustNoErr(t, "re-create client", s.CreateClient(ctx, newClient("client-del")))
	checkClientTokensRevoked(t, s, "after re-create", del, delRotated, now, grace)
	mustErrIs(t, "delete absent client", s.DeleteClient(ctx, "client-absent"), storage.ErrNotFound)
}

// RevokeClientTokens revokes a client's tokens and keeps the client.
func testRevokeClientTokens(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := baseTime.Add(10 * time.Minute)
	const grace = time.Minute
	for _, id := range []string{"client-rv", "client-keep"} {
		mustNoErr(t, "create "+id, s.CreateClient(ctx, newClient(id)))
	}
	rv, rvRotated := clientTokens(t, s, "client-rv", now, grace)
	keep, _ := clientTokens(t, s, "client-keep", now, grace)

	n, err := s.RevokeClientTokens(ctx, "client-rv")
	mustNoErr(t, "revoke client tokens", err)
	// Four kinds deleted and one active refresh token deactivated (the
	// rotated one was already inactive).
	if want := int64(len(storage.Kinds)); n != want {
		t.Errorf("revoke client tokens counted %d, want %d", n, want)
	}
	checkClientTokensRevoked(t, s, "after revoke", rv, rvRotated, now, grace)
	checkClientTokensLive(t, s, "other client", keep)
	_, err = s.GetClient(ctx, "client-rv")
	mustNoErr(t, "the client stays", err)

	n, err = s.RevokeClientTokens(ctx, "client-rv")
	if err != nil || n != 0 {
		t.Errorf("revoking again: %d, %v; want 0, nil", n, err)
	}
	if _, err := s.RevokeClientTokens(ctx, ""); err == nil {
		t.Error("revoking the tokens of the empty client ID succeeded")
	}
}
