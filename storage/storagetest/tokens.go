package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// newSession returns a fully populated, active token session.
func newSession(kind storage.SessionKind, label, requestID string) storage.TokenSession {
	return storage.TokenSession{
		Kind:              kind,
		Signature:         hashSig(string(kind) + "/" + label),
		RequestID:         requestID,
		RequestedAt:       baseTime,
		ClientID:          "client-1",
		Subject:           "account-1",
		RequestedScopes:   []string{"openid", "offline_access", "profile"},
		GrantedScopes:     []string{"openid", "offline_access"},
		RequestedAudience: []string{"https://api.example.com"},
		GrantedAudience:   []string{"https://api.example.com"},
		Form:              "grant_type=refresh_token&scope=openid+offline_access",
		SessionData:       []byte{0x00, 0x01, 0xfe, 0xff, 'x'},
		Active:            true,
		ExpiresAt:         baseTime.Add(time.Hour),
	}
}

func testTokenSessionCRUD(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	for _, kind := range storage.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ts := newSession(kind, "crud", "req-crud")
			if kind == storage.KindRefreshToken {
				ts.AccessTokenSignature = hashSig("linked-access")
			}

			_, err := s.GetTokenSession(ctx, kind, ts.Signature)
			mustErrIs(t, "get before create", err, storage.ErrNotFound)

			mustNoErr(t, "create", s.CreateTokenSession(ctx, ts))
			checkStoredSession(ctx, t, s, "get", kind, ts.Signature, ts)

			dup := ts
			dup.RequestID = "req-other"
			mustErrIs(t, "create duplicate", s.CreateTokenSession(ctx, dup), storage.ErrAlreadyExists)
			got, err := s.GetTokenSession(ctx, kind, ts.Signature)
			mustNoErr(t, "get after duplicate", err)
			if got.RequestID != ts.RequestID {
				t.Errorf("duplicate create overwrote the row: RequestID = %q", got.RequestID)
			}

			// Deactivation keeps the row and returns it with ErrInactive.
			mustNoErr(t, "deactivate", s.DeactivateTokenSession(ctx, kind, ts.Signature))
			got, err = s.GetTokenSession(ctx, kind, ts.Signature)
			mustErrIs(t, "get inactive", err, storage.ErrInactive)
			want := ts
			want.Active = false
			checkRecord(t, "get inactive", got, want)
			mustErrIs(t, "deactivate again", s.DeactivateTokenSession(ctx, kind, ts.Signature), storage.ErrInactive)
			mustErrIs(t, "deactivate absent",
				s.DeactivateTokenSession(ctx, kind, hashSig("absent")), storage.ErrNotFound)

			mustNoErr(t, "delete", s.DeleteTokenSession(ctx, kind, ts.Signature))
			_, err = s.GetTokenSession(ctx, kind, ts.Signature)
			mustErrIs(t, "get after delete", err, storage.ErrNotFound)
			mustErrIs(t, "delete again", s.DeleteTokenSession(ctx, kind, ts.Signature), storage.ErrNotFound)

			// A session created inactive reads back inactive.
			inactive := newSession(kind, "created-inactive", "req-crud")
			inactive.Active = false
			mustNoErr(t, "create inactive", s.CreateTokenSession(ctx, inactive))
			got, err = s.GetTokenSession(ctx, kind, inactive.Signature)
			mustErrIs(t, "get created-inactive", err, storage.ErrInactive)
			checkRecord(t, "get created-inactive", got, inactive)
		})
	}

	// The same signature under different kinds names different rows.
	shared := hashSig("shared")
	for i, kind := range storage.Kinds {
		ts := newSession(kind, "shared", fmt.Sprintf("req-shared-%d", i))
		ts.Signature = shared
		mustNoErr(t, "create shared "+string(kind), s.CreateTokenSession(ctx, ts))
	}
	mustNoErr(t, "delete shared access", s.DeleteTokenSession(ctx, storage.KindAccessToken, shared))
	for i, kind := range storage.Kinds[1:] {
		got, err := s.GetTokenSession(ctx, kind, shared)
		mustNoErr(t, "get shared "+string(kind), err)
		if want := fmt.Sprintf("req-shared-%d", i+1); got.RequestID != want {
			t.Errorf("kind %s: RequestID = %q, want %q", kind, got.RequestID, want)
		}
	}
}

func testTokenSessionRoundTrip(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	full := newSession(storage.KindRefreshToken, "full", "req-rt")
	full.AccessTokenSignature = hashSig("at")
	full.FirstUsedAt = baseTime.Add(-time.Minute)
	full.Active = false
	full.RequestedScopes = []string{"b", "a", "b", "scope with space", "统一"}
	full.Form = "name=%E7%BB%9F%E4%B8%80&x=1&x=2"

	emptySlices := newSession(storage.KindAccessToken, "empty", "req-rt")
	emptySlices.RequestedScopes = []string{}
	emptySlices.GrantedScopes = []string{}
	emptySlices.RequestedAudience = []string{}
	emptySlices.GrantedAudience = []string{}
	emptySlices.SessionData = []byte{}
	emptySlices.Form = ""

	nilSlices := newSession(storage.KindAccessToken, "nil", "req-rt")
	nilSlices.RequestedScopes = nil
	nilSlices.GrantedScopes = nil
	nilSlices.RequestedAudience = nil
	nilSlices.GrantedAudience = nil
	nilSlices.SessionData = nil
	nilSlices.Subject = "" // client_credentials tokens have no account

	neverExpires := newSession(storage.KindAuthorizeCode, "never", "req-rt")
	neverExpires.ExpiresAt = time.Time{}

	utc := newSession(storage.KindOIDC, "utc", "req-rt")
	utc.RequestedAt = time.Date(2030, 12, 31, 23, 59, 59, 999000000, time.UTC)
	utc.ExpiresAt = utc.RequestedAt.Add(24 * time.Hour)

	for _, ts := range []storage.TokenSession{full, emptySlices, nilSlices, neverExpires, utc} {
		mustNoErr(t, "create", s.CreateTokenSession(ctx, ts))
	}

	got, err := s.GetTokenSession(ctx, full.Kind, full.Signature)
	mustErrIs(t, "get full", err, storage.ErrInactive)
	checkRecord(t, "full", got, full)

	// Empty and nil slices both read back nil.
	wantEmpty := emptySlices
	wantEmpty.RequestedScopes, wantEmpty.GrantedScopes = nil, nil
	wantEmpty.RequestedAudience, wantEmpty.GrantedAudience = nil, nil
	wantEmpty.SessionData = nil
	checkStoredSession(ctx, t, s, "empty slices", emptySlices.Kind, emptySlices.Signature, wantEmpty)

	checkStoredSession(ctx, t, s, "nil slices", nilSlices.Kind, nilSlices.Signature, nilSlices)

	checkStoredSession(ctx, t, s, "never-expiring", neverExpires.Kind, neverExpires.Signature, neverExpires)

	checkStoredSession(ctx, t, s, "utc", utc.Kind, utc.Signature, utc)
}

func testRevokeTokenSessions(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	for _, kind := range storage.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			reqA, reqB := "req-a-"+string(kind), "req-b-"+string(kind)
			a1 := newSession(kind, "a1", reqA)
			a2 := newSession(kind, "a2", reqA)
			b1 := newSession(kind, "b1", reqB)
			for _, ts := range []storage.TokenSession{a1, a2, b1} {
				mustNoErr(t, "create", s.CreateTokenSession(ctx, ts))
			}
			// Same request ID, other kind: must be untouched.
			other := storage.KindAccessToken
			if kind == storage.KindAccessToken {
				other = storage.KindRefreshToken
			}
			o1 := newSession(other, "o1-"+string(kind), reqA)
			mustNoErr(t, "create other kind", s.CreateTokenSession(ctx, o1))

			n, err := s.RevokeTokenSessions(ctx, kind, reqA)
			mustNoErr(t, "revoke", err)
			if n != 2 {
				t.Errorf("revoke affected %d rows, want 2", n)
			}
			for _, ts := range []storage.TokenSession{a1, a2} {
				got, err := s.GetTokenSession(ctx, kind, ts.Signature)
				if kind == storage.KindRefreshToken {
					// Kept so a later reuse is still recognised.
					mustErrIs(t, "get revoked refresh", err, storage.ErrInactive)
					want := ts
					want.Active = false
					checkRecord(t, "revoked refresh", got, want)
				} else {
					mustErrIs(t, "get revoked", err, storage.ErrNotFound)
				}
			}
			checkStoredSession(ctx, t, s, "other request", kind, b1.Signature, b1)
			checkStoredSession(ctx, t, s, "other kind", other, o1.Signature, o1)

			if _, err := s.RevokeTokenSessions(ctx, kind, reqA); err != nil {
				t.Errorf("revoke again: %v", err)
			}
			n, err = s.RevokeTokenSessions(ctx, kind, "req-unknown")
			mustNoErr(t, "revoke unknown", err)
			if n != 0 {
				t.Errorf("revoke unknown affected %d rows, want 0", n)
			}
		})
	}
}

func testRevokeSubjectTokens(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mk := func(kind storage.SessionKind, label, subject string) storage.TokenSession {
		ts := newSession(kind, label, "req-"+label)
		ts.Subject = subject
		mustNoErr(t, "create "+label, s.CreateTokenSession(ctx, ts))
		return ts
	}
	xAccess := mk(storage.KindAccessToken, "x-at", "account-x")
	xRefresh := mk(storage.KindRefreshToken, "x-rt", "account-x")
	yAccess := mk(storage.KindAccessToken, "y-at", "account-y")
	yRefresh := mk(storage.KindRefreshToken, "y-rt", "account-y")

	n, err := s.RevokeSubjectTokens(ctx, "account-x")
	mustNoErr(t, "revoke subject", err)
	if n != 2 {
		t.Errorf("revoke subject affected %d rows, want 2", n)
	}
	_, err = s.GetTokenSession(ctx, storage.KindAccessToken, xAccess.Signature)
	mustErrIs(t, "get x access", err, storage.ErrNotFound)
	got, err := s.GetTokenSession(ctx, storage.KindRefreshToken, xRefresh.Signature)
	mustErrIs(t, "get x refresh", err, storage.ErrInactive)
	want := xRefresh
	want.Active = false
	checkRecord(t, "x refresh", got, want)

	checkStoredSession(ctx, t, s, "y access", storage.KindAccessToken, yAccess.Signature, yAccess)
	checkStoredSession(ctx, t, s, "y refresh", storage.KindRefreshToken, yRefresh.Signature, yRefresh)

	n, err = s.RevokeSubjectTokens(ctx, "account-unknown")
	mustNoErr(t, "revoke unknown subject", err)
	if n != 0 {
		t.Errorf("revoke unknown subject affected %d rows, want 0", n)
	}
}

func testDeleteExpiredTokenSessions(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := baseTime
	// Five expired rows across kinds, inserted newest expiry first so that
	// insertion order cannot pass for expiry order; expired is kept oldest
	// first.
	var expired []storage.TokenSession
	for i := 1; i <= 5; i++ {
		kind := storage.Kinds[i%len(storage.Kinds)]
		ts := newSession(kind, fmt.Sprintf("expired-%d", i), fmt.Sprintf("req-exp-%d", i))
		ts.ExpiresAt = now.Add(-time.Duration(i) * time.Hour)
		mustNoErr(t, "create expired", s.CreateTokenSession(ctx, ts))
		expired = append([]storage.TokenSession{ts}, expired...)
	}
	var kept []storage.TokenSession
	for i, kind := range storage.Kinds {
		ts := newSession(kind, "valid", fmt.Sprintf("req-valid-%d", i))
		ts.ExpiresAt = now.Add(time.Hour)
		kept = append(kept, ts)
	}
	boundary := newSession(storage.KindAccessToken, "boundary", "req-boundary")
	boundary.ExpiresAt = now // not before now
	never := newSession(storage.KindRefreshToken, "never", "req-never")
	never.ExpiresAt = time.Time{}
	kept = append(kept, boundary, never)
	for _, ts := range kept {
		mustNoErr(t, "create kept", s.CreateTokenSession(ctx, ts))
	}

	n, err := s.DeleteExpiredTokenSessions(ctx, now, 2)
	mustNoErr(t, "delete expired (first batch)", err)
	if n != 2 {
		t.Fatalf("first batch deleted %d rows, want 2", n)
	}
	for i, ts := range expired {
		_, err := s.GetTokenSession(ctx, ts.Kind, ts.Signature)
		if i < 2 {
			mustErrIs(t, fmt.Sprintf("oldest expired row %d", i), err, storage.ErrNotFound)
		} else {
			mustNoErr(t, fmt.Sprintf("younger expired row %d (limit not respected or not oldest first)", i), err)
		}
	}

	total := n
	for batches := 0; ; batches++ {
		if batches > 10 {
			t.Fatal("DeleteExpiredTokenSessions does not converge")
		}
		n, err := s.DeleteExpiredTokenSessions(ctx, now, 2)
		mustNoErr(t, "delete expired", err)
		if n > 2 {
			t.Fatalf("batch deleted %d rows, limit 2", n)
		}
		total += n
		if n < 2 {
			break
		}
	}
	if total != int64(len(expired)) {
		t.Errorf("deleted %d rows in total, want %d", total, len(expired))
	}
	for _, ts := range expired {
		_, err := s.GetTokenSession(ctx, ts.Kind, ts.Signature)
		mustErrIs(t, "expired row", err, storage.ErrNotFound)
	}
	for _, ts := range kept {
		checkStoredSession(ctx, t, s, "kept row "+ts.RequestID, ts.Kind, ts.Signature, ts)
	}
}

func testRotateRefreshToken(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := baseTime.Add(10 * time.Minute)
	rt := newSession(storage.KindRefreshToken, "rt", "req-1")
	at := newSession(storage.KindAccessToken, "at", "req-1")
	rt.AccessTokenSignature = at.Signature
	at2 := newSession(storage.KindAccessToken, "at2", "req-1")
	otherAT := newSession(storage.KindAccessToken, "other-at", "req-2")
	for _, ts := range []storage.TokenSession{rt, at, at2, otherAT} {
		mustNoErr(t, "create", s.CreateTokenSession(ctx, ts))
	}

	mustErrIs(t, "rotate with wrong request ID",
		s.RotateRefreshToken(ctx, "req-2", rt.Signature, now, 0), storage.ErrNotFound)
	mustErrIs(t, "rotate absent",
		s.RotateRefreshToken(ctx, "req-1", hashSig("absent"), now, 0), storage.ErrNotFound)
	checkStoredSession(ctx, t, s, "after failed rotations", storage.KindRefreshToken, rt.Signature, rt)

	mustNoErr(t, "rotate", s.RotateRefreshToken(ctx, "req-1", rt.Signature, now, 0))
	got, err := s.GetTokenSession(ctx, storage.KindRefreshToken, rt.Signature)
	mustErrIs(t, "get rotated", err, storage.ErrInactive)
	want := rt
	want.Active = false
	want.FirstUsedAt = now
	checkRecord(t, "rotated", got, want)

	for _, ts := range []storage.TokenSession{at, at2} {
		_, err := s.GetTokenSession(ctx, storage.KindAccessToken, ts.Signature)
		mustErrIs(t, "access token of the rotated request", err, storage.ErrNotFound)
	}
	checkStoredSession(ctx, t, s, "other access token", storage.KindAccessToken, otherAT.Signature, otherAT)

	mustErrIs(t, "second rotation",
		s.RotateRefreshToken(ctx, "req-1", rt.Signature, now.Add(time.Second), 0), storage.ErrInactive)
	got, err = s.GetTokenSession(ctx, storage.KindRefreshToken, rt.Signature)
	mustErrIs(t, "get after second rotation", err, storage.ErrInactive)
	checkRecord(t, "after second rotation", got, want)

	// A token deactivated without being used (revoked) is inactive for good.
	revoked := newSession(storage.KindRefreshToken, "revoked", "req-3")
	mustNoErr(t, "create", s.CreateTokenSession(ctx, revoked))
	if _, err := s.RevokeTokenSessions(ctx, storage.KindRefreshToken, "req-3"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	mustErrIs(t, "rotate revoked",
		s.RotateRefreshToken(ctx, "req-3", revoked.Signature, now, 0), storage.ErrInactive)
}

func testRotateRefreshTokenGrace(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	const grace = time.Minute
	now := baseTime.Add(10 * time.Minute)
	rt := newSession(storage.KindRefreshToken, "rt", "req-1")
	mustNoErr(t, "create", s.CreateTokenSession(ctx, rt))

	mustNoErr(t, "first rotation", s.RotateRefreshToken(ctx, "req-1", rt.Signature, now, grace))
	at := newSession(storage.KindAccessToken, "at-after-first", "req-1")
	mustNoErr(t, "create access token", s.CreateTokenSession(ctx, at))

	mustNoErr(t, "rotation inside the grace window",
		s.RotateRefreshToken(ctx, "req-1", rt.Signature, now.Add(30*time.Second), grace))
	got, err := s.GetTokenSession(ctx, storage.KindRefreshToken, rt.Signature)
	mustErrIs(t, "get", err, storage.ErrInactive)
	if !checkTime(got.FirstUsedAt, now) {
		t.Errorf("FirstUsedAt = %v, want the first use %v", got.FirstUsedAt, now.UTC())
	}
	_, err = s.GetTokenSession(ctx, storage.KindAccessToken, at.Signature)
	mustErrIs(t, "access token after grace rotation", err, storage.ErrNotFound)

	mustErrIs(t, "rotation at the end of the grace window",
		s.RotateRefreshToken(ctx, "req-1", rt.Signature, now.Add(grace), grace), storage.ErrInactive)
	mustErrIs(t, "rotation after the grace window",
		s.RotateRefreshToken(ctx, "req-1", rt.Signature, now.Add(2*grace), grace), storage.ErrInactive)
	mustErrIs(t, "grace rotation with wrong request ID",
		s.RotateRefreshToken(ctx, "req-2", rt.Signature, now.Add(time.Second), grace), storage.ErrNotFound)

	// Grace applies to used tokens only, never to revoked ones.
	revoked := newSession(storage.KindRefreshToken, "revoked", "req-3")
	mustNoErr(t, "create", s.CreateTokenSession(ctx, revoked))
	mustNoErr(t, "deactivate", s.DeactivateTokenSession(ctx, storage.KindRefreshToken, revoked.Signature))
	mustErrIs(t, "grace rotation of a revoked token",
		s.RotateRefreshToken(ctx, "req-3", revoked.Signature, now, grace), storage.ErrInactive)

}

// testRevocationEndsGraceWindow: a refresh token rotated a moment ago is
// inside the grace window, but once its chain or account is revoked (reuse
// detection, "log out everywhere") or the token itself deactivated, the
// grace window must not revive it.
func testRevocationEndsGraceWindow(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := baseTime.Add(10 * time.Minute)
	const grace = time.Minute
	revocations := []struct {
		name   string
		revoke func(t *testing.T, ts storage.TokenSession) error
	}{
		{"RevokeTokenSessions", func(t *testing.T, ts storage.TokenSession) error {
			n, err := s.RevokeTokenSessions(ctx, storage.KindRefreshToken, ts.RequestID)
			if err == nil && n != 0 {
				t.Errorf("revoking an already inactive token counted %d rows, want 0", n)
			}
			return err
		}},
		{"RevokeSubjectTokens", func(_ *testing.T, ts storage.TokenSession) error {
			_, err := s.RevokeSubjectTokens(ctx, ts.Subject)
			return err
		}},
		{"DeactivateTokenSession", func(_ *testing.T, ts storage.TokenSession) error {
			// The rotated token is inactive already: ErrInactive, and its
			// grace window ends all the same.
			if err := s.DeactivateTokenSession(ctx, ts.Kind, ts.Signature); !errors.Is(err, storage.ErrInactive) {
				return fmt.Errorf("deactivating an inactive token: %v, want ErrInactive", err)
			}
			return nil
		}},
	}
	for _, rv := range revocations {
		t.Run(rv.name, func(t *testing.T) {
			ts := newSession(storage.KindRefreshToken, "grace-"+rv.name, "req-"+rv.name)
			ts.Subject = "account-" + rv.name
			mustNoErr(t, "create", s.CreateTokenSession(ctx, ts))
			mustNoErr(t, "rotate", s.RotateRefreshToken(ctx, ts.RequestID, ts.Signature, now, grace))
			mustNoErr(t, "retry inside the grace window before revocation",
				s.RotateRefreshToken(ctx, ts.RequestID, ts.Signature, now.Add(time.Second), grace))
			mustNoErr(t, rv.name, rv.revoke(t, ts))
			mustErrIs(t, "retry inside the grace window after revocation",
				s.RotateRefreshToken(ctx, ts.RequestID, ts.Signature, now.Add(2*time.Second), grace), storage.ErrInactive)
			// The contract: a revoked token reads with no first use, so
			// callers applying a grace window cannot revive it.
			got, err := s.GetTokenSession(ctx, ts.Kind, ts.Signature)
			mustErrIs(t, "get after revocation", err, storage.ErrInactive)
			if !got.FirstUsedAt.IsZero() {
				t.Errorf("after revocation: FirstUsedAt = %v, want zero", got.FirstUsedAt)
			}
		})
	}
}

// testTokenSessionWithAccount: the session as GetTokenSession returns it,
// with the state of the account its Subject names, whether that account
// is enabled, disabled or absent, and for an inactive session too.
func testTokenSessionWithAccount(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	_, _, err := s.ResolveWeChatLogin(ctx, login("wx-app", "openid-1", "", "key", "account-1", baseTime))
	mustNoErr(t, "login", err)

	_, _, err = s.GetTokenSessionWithAccount(ctx, storage.KindAccessToken, hashSig("absent"))
	mustErrIs(t, "absent session", err, storage.ErrNotFound)

	person := newSession(storage.KindAccessToken, "with-account", "req-with-account")
	own := newSession(storage.KindAccessToken, "client-own", "req-client-own")
	own.Subject = own.ClientID // a client's own token: no account has this ID
	mustNoErr(t, "create", s.CreateTokenSession(ctx, person))
	mustNoErr(t, "create", s.CreateTokenSession(ctx, own))

	check := func(what string, ts storage.TokenSession, wantAcc storage.AccountState, wantErr error) {
		t.Helper()
		got, acc, err := s.GetTokenSessionWithAccount(ctx, ts.Kind, ts.Signature)
		checkSameSession(t, s, what, ts, got, err, wantErr)
		if acc != wantAcc {
			t.Errorf("%s: account %+v, want %+v", what, acc, wantAcc)
		}
	}
	check("enabled account", person, storage.AccountState{Exists: true}, nil)
	check("no account", own, storage.AccountState{}, nil)

	_, err = s.UpdateAccount(ctx, "account-1", func(a storage.Account) (storage.Account, error) {
		a.Disabled = true
		return a, nil
	})
	mustNoErr(t, "disable", err)
	check("disabled account", person, storage.AccountState{Exists: true, Disabled: true}, nil)

	mustNoErr(t, "deactivate", s.DeactivateTokenSession(ctx, person.Kind, person.Signature))
	check("inactive session", person, storage.AccountState{Exists: true, Disabled: true}, storage.ErrInactive)
}

// testTokenSessionWithLogin pins the refresh's one read: the session as
// GetTokenSession reads it, the account as GetAccount and the identity as
// GetAccountIdentity (in the app of the session's client) would.
func testTokenSessionWithLogin(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	app := newClient("client-app")
	app.WeChatAppID = "wx-app-1"
	web := newClient("client-web")
	web.WeChatAppID = "" // a web app's browser sign-in: no WeChat app of its own
	for _, c := range []storage.Client{app, web} {
		mustNoErr(t, "create client", s.CreateClient(ctx, c))
	}
	// account-1 has two identities in wx-app-1 (joined by unionid) and one
	// in wx-app-2; the first by openid in the client's app is the one read.
	for _, l := range []storage.WeChatLogin{
		login("wx-app-1", "openid-b", "union-1", "k1", "account-1", baseTime),
		login("wx-app-1", "openid-a", "union-1", "k2", "account-unused", baseTime.Add(time.Minute)),
		login("wx-app-2", "openid-c", "union-1", "k3", "account-unused", baseTime.Add(2*time.Minute)),
	} {
		_, acc, err := s.ResolveWeChatLogin(ctx, l)
		mustNoErr(t, "login", err)
		if acc.ID != "account-1" {
			t.Fatalf("login %s joined account %q, want account-1", l.OpenID, acc.ID)
		}
	}

	_, _, err := s.GetTokenSessionWithLogin(ctx, storage.KindRefreshToken, hashSig("absent"))
	mustErrIs(t, "absent session", err, storage.ErrNotFound)

	session := func(label, clientID, subject string) storage.TokenSession {
		ts := newSession(storage.KindRefreshToken, label, "req-"+label)
		ts.ClientID, ts.Subject = clientID, subject
		mustNoErr(t, "create "+label, s.CreateTokenSession(ctx, ts))
		return ts
	}
	appToken := session("app", "client-app", "account-1")
	webToken := session("web", "client-web", "account-1")
	ownToken := session("own", "client-app", "client-app") // client_credentials: the client is the subject
	goneClient := session("gone-client", "client-gone", "account-1")
	goneAccount := session("gone-account", "client-app", "account-gone")

	check := func(what string, ts storage.TokenSession, wantAccount bool, identityApp string, wantErr error) {
		t.Helper()
		got, login, err := s.GetTokenSessionWithLogin(ctx, ts.Kind, ts.Signature)
		checkSameSession(t, s, what, ts, got, err, wantErr)
		var wantAcc storage.Account
		var wantID storage.WeChatIdentity
		if wantAccount {
			wantAcc, wantID, err = s.GetAccountIdentity(ctx, ts.Subject, identityApp)
			mustNoErr(t, what+": get account identity", err)
		}
		checkRecord(t, what+": account", login.Account, wantAcc)
		checkRecord(t, what+": identity", login.Identity, wantID)
	}
	check("the client's app", appToken, true, "wx-app-1", nil)
	got, login, err := s.GetTokenSessionWithLogin(ctx, appToken.Kind, appToken.Signature)
	mustNoErr(t, "get", err)
	if got.Subject != "account-1" || login.Identity.OpenID != "openid-a" || login.Account.ID != "account-1" {
		t.Errorf("the client's app: subject %q, account %q, identity %q; want account-1, account-1, openid-a",
			got.Subject, login.Account.ID, login.Identity.OpenID)
	}
	check("a client without an app", webToken, true, "", nil)
	check("a client's own token", ownToken, false, "", nil)
	check("a client gone", goneClient, true, "", nil)
	check("an account gone", goneAccount, false, "", nil)

	disableAccount(t, s, "account-1", true)
	check("a disabled account", appToken, true, "wx-app-1", nil)
	if _, login, _ := s.GetTokenSessionWithLogin(ctx, appToken.Kind, appToken.Signature); !login.Account.Disabled {
		t.Error("a disabled account: Disabled = false")
	}
	mustNoErr(t, "deactivate", s.DeactivateTokenSession(ctx, appToken.Kind, appToken.Signature))
	check("an inactive session", appToken, true, "wx-app-1", storage.ErrInactive)
}

// checkSameSession checks a read that returns ts's session with more
// (got, err): the session and the error GetTokenSession returns for ts,
// which must be wantErr.
func checkSameSession(t *testing.T, s storage.Storage, what string, ts, got storage.TokenSession, err, wantErr error) {
	t.Helper()
	plain, plainErr := s.GetTokenSession(t.Context(), ts.Kind, ts.Signature)
	if !errors.Is(err, wantErr) || (wantErr == nil && err != nil) || !errors.Is(plainErr, wantErr) {
		t.Fatalf("%s: err %v (GetTokenSession: %v), want %v", what, err, plainErr, wantErr)
	}
	checkRecord(t, what+": session", got, plain)
}
