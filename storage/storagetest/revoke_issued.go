package storagetest

import (
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// testRevokeRefreshTokensIssued pins the window revocation that follows a
// signing-key revocation: inclusive bounds, the client filter, access tokens
// of active chains only, no grace window afterwards, and the count.
func testRevokeRefreshTokensIssued(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	from, to := baseTime, baseTime.Add(time.Hour)
	const grace = time.Hour

	type fixture struct {
		label, client, requestID string
		at                       time.Time
	}
	add := func(f fixture) (refresh, access storage.TokenSession) {
		t.Helper()
		refresh = newSession(storage.KindRefreshToken, f.label, f.requestID)
		refresh.ClientID, refresh.RequestedAt = f.client, f.at
		access = newSession(storage.KindAccessToken, f.label, f.requestID)
		access.ClientID, access.RequestedAt = f.client, f.at
		mustNoErr(t, "create refresh "+f.label, s.CreateTokenSession(ctx, refresh))
		mustNoErr(t, "create access "+f.label, s.CreateTokenSession(ctx, access))
		return refresh, access
	}
	inStart, inStartAT := add(fixture{"at-from", "client-a", "req-from", from})
	inEnd, inEndAT := add(fixture{"at-to", "client-b", "req-to", to})
	before, beforeAT := add(fixture{"before", "client-a", "req-before", from.Add(-time.Millisecond)})
	after, afterAT := add(fixture{"after", "client-a", "req-after", to.Add(time.Millisecond)})
	otherClient, otherClientAT := add(fixture{"other-client", "client-c", "req-other", from.Add(time.Minute)})

	// A chain rotated inside the window: the first token is used, its
	// successor (same request ID) was issued after the window.
	rotated, _ := add(fixture{"rotated", "client-a", "req-chain", from.Add(time.Minute)})
	mustNoErr(t, "rotate", s.RotateRefreshToken(ctx, "req-chain", rotated.Signature, from.Add(2*time.Minute), grace))
	successor, successorAT := add(fixture{"successor", "client-a", "req-chain", to.Add(time.Minute)})

	n, err := s.RevokeRefreshTokensIssued(ctx, from, to, nil)
	mustNoErr(t, "revoke without clients", err)
	if n != 0 {
		t.Fatalf("an empty client list revoked %d rows, want 0", n)
	}

	n, err = s.RevokeRefreshTokensIssued(ctx, from, to, []string{"client-a", "client-b"})
	mustNoErr(t, "revoke", err)
	// Two active refresh tokens at the bounds plus their two access tokens;
	// the already rotated token is not counted.
	if n != 4 {
		t.Errorf("revoked %d rows, want 4", n)
	}

	revoked := func(what string, ts storage.TokenSession) {
		t.Helper()
		_, err := s.GetTokenSession(ctx, ts.Kind, ts.Signature)
		mustErrIs(t, what, err, storage.ErrInactive)
	}
	deleted := func(what string, ts storage.TokenSession) {
		t.Helper()
		_, err := s.GetTokenSession(ctx, ts.Kind, ts.Signature)
		mustErrIs(t, what, err, storage.ErrNotFound)
	}
	intact := func(what string, ts storage.TokenSession) {
		t.Helper()
		_, err := s.GetTokenSession(ctx, ts.Kind, ts.Signature)
		mustNoErr(t, what, err)
	}
	revoked("refresh token issued at from", inStart)
	deleted("its access token", inStartAT)
	revoked("refresh token issued at to", inEnd)
	deleted("its access token", inEndAT)
	intact("refresh token issued before the window", before)
	intact("its access token", beforeAT)
	intact("refresh token issued after the window", after)
	intact("its access token", afterAT)
	intact("refresh token of another client", otherClient)
	intact("its access token", otherClientAT)
	intact("successor issued after the window", successor)
	intact("successor's access token", successorAT)

	// The rotated token lost its grace window: reusing it is reuse.
	mustErrIs(t, "grace rotation of a token revoked by window",
		s.RotateRefreshToken(ctx, "req-chain", rotated.Signature, from.Add(3*time.Minute), grace), storage.ErrInactive)
	// A revoked token never becomes usable again.
	mustErrIs(t, "rotation of a revoked token",
		s.RotateRefreshToken(ctx, "req-from", inStart.Signature, from.Add(3*time.Minute), grace), storage.ErrInactive)

	// Repeating the revocation changes and counts nothing.
	n, err = s.RevokeRefreshTokensIssued(ctx, from, to, []string{"client-a", "client-b"})
	mustNoErr(t, "revoke again", err)
	if n != 0 {
		t.Errorf("repeated revocation counted %d rows, want 0", n)
	}
	// An inverted window is empty.
	n, err = s.RevokeRefreshTokensIssued(ctx, to.Add(time.Hour), from.Add(-time.Hour), []string{"client-a", "client-c"})
	mustNoErr(t, "inverted window", err)
	if n != 0 {
		t.Errorf("inverted window revoked %d rows, want 0", n)
	}
	intact("refresh token of another client after an inverted window", otherClient)
}
