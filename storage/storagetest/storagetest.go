// Package storagetest is the conformance suite every storage backend passes.
//
// A backend's test is a few lines:
//
//	func TestStorage(t *testing.T) {
//		storagetest.RunTests(t, func(t *testing.T) storage.Storage {
//			return openFreshStorage(t)
//		})
//	}
//
// newStorage must return an empty, migrated storage; RunTests closes it when
// its sub-test ends. The suite is backend-neutral: it pins the contract
// documented in package storage and nothing else.
//
// Conventions the suite enforces (see also storage/doc.go):
//   - times come back in UTC, within a millisecond of what was stored; a zero
//     time comes back zero;
//   - empty and nil slices (and byte slices) both come back nil;
//   - a token session, login session, auth flow or scan ticket with a zero
//     ExpiresAt never expires.
package storagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// RunTests runs every conformance sub-test, each on a fresh storage from
// newStorage.
func RunTests(t *testing.T, newStorage func(t *testing.T) storage.Storage) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.Storage)
	}{
		{"Ping", testPing},
		{"TokenSessionCRUD", testTokenSessionCRUD},
		{"TokenSessionWithAccount", testTokenSessionWithAccount},
		{"TokenSessionWithLogin", testTokenSessionWithLogin},
		{"TokenSessionRoundTrip", testTokenSessionRoundTrip},
		{"RevokeTokenSessions", testRevokeTokenSessions},
		{"RevokeSubjectTokens", testRevokeSubjectTokens},
		{"RevokeRefreshTokensIssued", testRevokeRefreshTokensIssued},
		{"DeleteExpiredTokenSessions", testDeleteExpiredTokenSessions},
		{"RotateRefreshToken", testRotateRefreshToken},
		{"ConcurrentDeactivate", testConcurrentDeactivate},
		{"RotateRefreshTokenGrace", testRotateRefreshTokenGrace},
		{"RevocationEndsGraceWindow", testRevocationEndsGraceWindow},
		{"ClientCRUD", testClientCRUD},
		{"UpdateClient", testUpdateClient},
		{"ListClientsPage", testListClientsPage},
		{"ClientAssertionJTI", testClientAssertionJTI},
		{"DeleteClientRevokesTokens", testDeleteClientRevokesTokens},
		{"RevokeClientTokens", testRevokeClientTokens},
		{"ResolveWeChatLoginNewAccount", testResolveNewAccount},
		{"ResolveWeChatLoginExistingIdentity", testResolveExistingIdentity},
		{"ResolveWeChatLoginKnownUnionID", testResolveKnownUnionID},
		{"ResolveWeChatLoginSameKeyFreshSeal", testResolveSameKeyFreshSeal},
		{"AccountLookups", testAccountLookups},
		{"UpdateAccount", testUpdateAccount},
		{"CreateTokenSessions", testCreateTokenSessions},
		{"CreateTokenSessionsHoldsAccount", testCreateTokenSessionsHoldsAccount},
		{"CreateTokenSessionsHoldsClient", testCreateTokenSessionsHoldsClient},
		{"GetWeChatLogin", testGetWeChatLogin},
		{"GetAccountIdentity", testGetAccountIdentity},
		{"RecordWeChatLogin", testRecordWeChatLogin},
		{"SetAccountPhone", testSetAccountPhone},
		{"StoreLoginGrant", testStoreLoginGrant},
		{"StoreLoginGrantHoldsAccount", testStoreLoginGrantHoldsAccount},
		{"SigningKeys", testSigningKeys},
		{"SigningKeysFnError", testSigningKeysFnError},
		{"Audit", testAudit},
		{"AuditFilter", testAuditFilter},
		{"TxCommit", testTxCommit},
		{"TxRollback", testTxRollback},
		{"TxNested", testTxNested},
		{"TxIsolation", testTxIsolation},
		{"TxMisuse", testTxMisuse},
		{"ConcurrentRefreshRotation", testConcurrentRefreshRotation},
		{"ConcurrentResolveWeChatLogin", testConcurrentResolveWeChatLogin},
		{"ConcurrentResolveSameUnionID", testConcurrentResolveSameUnionID},
		{"ConcurrentUpdateSigningKeys", testConcurrentUpdateSigningKeys},
		{"AppTokenLease", testAppTokenLease},
		{"AppTokenPutGet", testAppTokenPutGet},
		{"AppTokenRelease", testAppTokenRelease},
		{"AppTokenValidation", testAppTokenValidation},
		{"ConcurrentAppTokenLease", testConcurrentAppTokenLease},
		{"LoginSessionCRUD", testLoginSessionCRUD},
		{"GetLoginSessionAccount", testGetLoginSessionAccount},
		{"AccountLoginSessions", testAccountLoginSessions},
		{"DeleteExpiredLoginSessions", testDeleteExpiredLoginSessions},
		{"Consents", testConsents},
		{"AuthFlows", testAuthFlows},
		{"TakeAuthFlowTx", testTakeAuthFlowTx},
		{"DeleteExpiredAuthFlows", testDeleteExpiredAuthFlows},
		{"ConcurrentTakeAuthFlow", testConcurrentTakeAuthFlow},
		{"ScanTicketCRUD", testScanTicketCRUD},
		{"ScanTicketValidation", testScanTicketValidation},
		{"UpdateScanTicket", testUpdateScanTicket},
		{"ScanTicketExpiry", testScanTicketExpiry},
		{"ListScanTicketsUpdatedSince", testListScanTicketsUpdatedSince},
		{"DeleteExpiredScanTickets", testDeleteExpiredScanTickets},
		{"UpdateScanTicketTx", testUpdateScanTicketTx},
		{"ConcurrentUpdateScanTicket", testConcurrentUpdateScanTicket},
		{"DeleteClientRemovesSignIns", testDeleteClientRemovesSignIns},
		{"SignInTx", testSignInTx},
		{"InputValidation", testInputValidation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStorage(t)
			// Registered after newStorage's own cleanups, so it runs before
			// them (LIFO): the backend may drop its database afterwards.
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.run(t, s)
		})
	}
}

func testPing(t *testing.T, s storage.Storage) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// baseTime is deliberately not UTC and carries sub-millisecond digits, so
// the suite checks normalisation to UTC and millisecond precision.
var baseTime = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CST", 8*3600))

// hashSig returns a fixed-length hex string, the shape callers store as a
// token signature hash.
func hashSig(label string) string {
	sum := sha256.Sum256([]byte(label))
	return hex.EncodeToString(sum[:])
}

// mustErrIs fails the test unless errors.Is(err, target).
func mustErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// mustNoErr fails the test on a non-nil error.
func mustNoErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// checkStoredSession reads the session stored under kind and signature,
// which must exist, and compares it with want.
func checkStoredSession(ctx context.Context, t *testing.T, s storage.Storage, what string, kind storage.SessionKind, signature string, want storage.TokenSession) {
	t.Helper()
	got, err := s.GetTokenSession(ctx, kind, signature)
	mustNoErr(t, "get "+what, err)
	checkRecord(t, what, got, want)
}

// checkStoredAppToken reads appID's stored app access token, which must
// exist, and compares it with want.
func checkStoredAppToken(ctx context.Context, t *testing.T, s storage.Storage, what, appID string, want storage.AppToken) {
	t.Helper()
	got, err := s.GetAppToken(ctx, appID)
	mustNoErr(t, "get "+what, err)
	checkRecord(t, what, got, want)
}

// checkTime reports whether got is what a backend may return for want: zero
// for zero, otherwise UTC and within a millisecond.
func checkTime(got, want time.Time) bool {
	if want.IsZero() {
		return got.IsZero()
	}
	if got.Location() != time.UTC {
		return false
	}
	d := got.Sub(want)
	if d < 0 {
		d = -d
	}
	return d < time.Millisecond
}

var timeType = reflect.TypeFor[time.Time]()

// checkRecord compares two records of the same struct type field by field:
// time fields with checkTime, every other field with reflect.DeepEqual.
func checkRecord[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	typ := gv.Type()
	for i := range typ.NumField() {
		f := typ.Field(i)
		g, w := gv.Field(i), wv.Field(i)
		if f.Type == timeType {
			gt, wt := g.Interface().(time.Time), w.Interface().(time.Time)
			if !checkTime(gt, wt) {
				t.Errorf("%s: %s = %v (%v), want %v in UTC", what, f.Name, gt, gt.Location(), wt.UTC())
			}
			continue
		}
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			t.Errorf("%s: %s = %#v, want %#v", what, f.Name, g.Interface(), w.Interface())
		}
	}
}

// checkRecords compares two lists element by element with checkRecord.
func checkRecords[T any](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d records, want %d:\ngot  %+v\nwant %+v", what, len(got), len(want), got, want)
	}
	for i := range got {
		checkRecord(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
	}
}

// inTx runs fn the way fosite's handlers do: BeginTx, fn, Commit; Rollback
// when fn fails.
func inTx(ctx context.Context, s storage.Storage, fn func(ctx context.Context) error) error {
	txCtx, err := s.BeginTx(ctx)
	if err != nil {
		return err
	}
	if err := fn(txCtx); err != nil {
		if rbErr := s.Rollback(txCtx); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		return err
	}
	return s.Commit(txCtx)
}

// checkDeleteBatches calls del once per want and checks how many rows each
// call deleted; the calls are numbered from first in failure messages (a
// bounded cleanup's batches: "delete expired #N").
func checkDeleteBatches(t *testing.T, del func() (int64, error), first int, wants ...int64) {
	t.Helper()
	for i, want := range wants {
		n, err := del()
		mustNoErr(t, fmt.Sprintf("delete expired #%d", first+i), err)
		if n != want {
			t.Fatalf("delete expired #%d: deleted %d, want %d", first+i, n, want)
		}
	}
}
