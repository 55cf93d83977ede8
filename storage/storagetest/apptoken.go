package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// appTokenTTL is the lease TTL the app-token tests use.
const appTokenTTL = 30 * time.Second

// acquire asks for the lease and fails the test on an error.
func acquire(t *testing.T, s storage.Storage, appID, holder string, at time.Time) bool {
	t.Helper()
	ok, err := s.AcquireAppTokenLease(t.Context(), appID, holder, appTokenTTL, at)
	mustNoErr(t, fmt.Sprintf("acquire %s lease for %s", appID, holder), err)
	return ok
}

// testAppTokenLease walks a lease through its lifecycle with an injected
// clock: exclusive while it runs, renewable by its holder, free for anyone
// once its TTL has passed (a crashed holder), per appid.
func testAppTokenLease(t *testing.T, s storage.Storage) {
	t0 := baseTime
	steps := []struct {
		name   string
		holder string
		at     time.Time
		want   bool
	}{
		{"first caller gets the lease", "instance-a", t0, true},
		{"second caller is refused", "instance-b", t0.Add(time.Second), false},
		{"holder renews", "instance-a", t0.Add(10 * time.Second), true},
		{"renewal extends the lease", "instance-b", t0.Add(appTokenTTL + time.Second), false},
		{"just before the end it still holds", "instance-b", t0.Add(10*time.Second + appTokenTTL - time.Millisecond), false},
		{"a lease runs out at its end", "instance-b", t0.Add(10*time.Second + appTokenTTL), true},
		{"the former holder is refused now", "instance-a", t0.Add(11*time.Second + appTokenTTL), false},
	}
	for _, st := range steps {
		if got := acquire(t, s, "wx-app", st.holder, st.at); got != st.want {
			t.Errorf("%s: acquired = %v, want %v", st.name, got, st.want)
		}
	}
	// A lease alone is not a token.
	_, err := s.GetAppToken(t.Context(), "wx-app")
	mustErrIs(t, "GetAppToken with only a lease", err, storage.ErrNotFound)
	// Leases are per appid.
	if !acquire(t, s, "wx-other", "instance-a", t0.Add(11*time.Second+appTokenTTL)) {
		t.Error("lease of another appid refused")
	}
}

// testAppTokenPutGet checks the stored token: bytes and expiry round-trip,
// a token expiring earlier never replaces a later one, and Put ends the
// lease whoever holds it.
func testAppTokenPutGet(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	_, err := s.GetAppToken(ctx, "wx-app")
	mustErrIs(t, "GetAppToken before any Put", err, storage.ErrNotFound)

	t0 := baseTime
	first := storage.AppToken{AppID: "wx-app", TokenEncrypted: []byte("sealed-1\x00\xff"), ExpiresAt: t0.Add(2 * time.Hour)}
	if !acquire(t, s, "wx-app", "instance-a", t0) {
		t.Fatal("first lease refused")
	}
	mustNoErr(t, "put first token", s.PutAppToken(ctx, first))
	checkStoredAppToken(ctx, t, s, "first token", "wx-app", first)
	// Put ended instance-a's lease: another instance may refresh at once.
	if !acquire(t, s, "wx-app", "instance-b", t0.Add(time.Second)) {
		t.Error("lease refused after Put")
	}
	// The lease does not hide the stored token.
	checkStoredAppToken(ctx, t, s, "token during a refresh", "wx-app", first)

	// A slow refresh that returns an older token does not replace the
	// newer one, but its lease ends all the same.
	older := storage.AppToken{AppID: "wx-app", TokenEncrypted: []byte("sealed-older"), ExpiresAt: first.ExpiresAt.Add(-time.Minute)}
	mustNoErr(t, "put older token", s.PutAppToken(ctx, older))
	checkStoredAppToken(ctx, t, s, "token after an older Put", "wx-app", first)
	if !acquire(t, s, "wx-app", "instance-c", t0.Add(2*time.Second)) {
		t.Error("lease refused after a Put that kept the stored token")
	}

	// A later expiry replaces; so does an equal one (the same token fetched twice).
	newer := storage.AppToken{AppID: "wx-app", TokenEncrypted: []byte("sealed-2"), ExpiresAt: first.ExpiresAt.Add(time.Hour)}
	mustNoErr(t, "put newer token", s.PutAppToken(ctx, newer))
	checkStoredAppToken(ctx, t, s, "token after a newer Put", "wx-app", newer)
	same := storage.AppToken{AppID: "wx-app", TokenEncrypted: []byte("sealed-2-again"), ExpiresAt: newer.ExpiresAt}
	mustNoErr(t, "put token with the same expiry", s.PutAppToken(ctx, same))
	checkStoredAppToken(ctx, t, s, "token after a same-expiry Put", "wx-app", same)

	// A Put without a lease stores too (an operator's force refresh), per appid.
	other := storage.AppToken{AppID: "wx-other", TokenEncrypted: []byte("sealed-other"), ExpiresAt: t0.Add(time.Hour)}
	mustNoErr(t, "put other appid", s.PutAppToken(ctx, other))
	checkStoredAppToken(ctx, t, s, "other appid's token", "wx-other", other)
	checkStoredAppToken(ctx, t, s, "first appid's token after another appid's Put", "wx-app", same)
}

// testAppTokenRelease: only the holder's release ends a lease.
func testAppTokenRelease(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	t0 := baseTime
	mustNoErr(t, "release without any row", s.ReleaseAppTokenLease(ctx, "wx-app", "instance-a"))
	if !acquire(t, s, "wx-app", "instance-a", t0) {
		t.Fatal("first lease refused")
	}
	mustNoErr(t, "release by a non-holder", s.ReleaseAppTokenLease(ctx, "wx-app", "instance-b"))
	if acquire(t, s, "wx-app", "instance-b", t0.Add(time.Second)) {
		t.Fatal("a non-holder's release ended the lease")
	}
	mustNoErr(t, "release by the holder", s.ReleaseAppTokenLease(ctx, "wx-app", "instance-a"))
	if !acquire(t, s, "wx-app", "instance-b", t0.Add(2*time.Second)) {
		t.Fatal("lease refused after its holder released it")
	}
	// Releasing keeps the token.
	tok := storage.AppToken{AppID: "wx-app", TokenEncrypted: []byte("sealed"), ExpiresAt: t0.Add(time.Hour)}
	mustNoErr(t, "put", s.PutAppToken(ctx, tok))
	if !acquire(t, s, "wx-app", "instance-a", t0.Add(3*time.Second)) {
		t.Fatal("lease refused after Put")
	}
	mustNoErr(t, "release after put", s.ReleaseAppTokenLease(ctx, "wx-app", "instance-a"))
	checkStoredAppToken(ctx, t, s, "token after a release", "wx-app", tok)
}

// testAppTokenValidation: malformed calls are refused, not stored.
func testAppTokenValidation(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	exp := baseTime.Add(time.Hour)
	cases := []struct {
		name string
		call func() error
	}{
		{"put without appid", func() error {
			return s.PutAppToken(ctx, storage.AppToken{TokenEncrypted: []byte("x"), ExpiresAt: exp})
		}},
		{"put without token", func() error { return s.PutAppToken(ctx, storage.AppToken{AppID: "wx", ExpiresAt: exp}) }},
		{"put without expiry", func() error {
			return s.PutAppToken(ctx, storage.AppToken{AppID: "wx", TokenEncrypted: []byte("x")})
		}},
		{"lease without appid", func() error {
			_, err := s.AcquireAppTokenLease(ctx, "", "h", time.Minute, baseTime)
			return err
		}},
		{"lease without holder", func() error {
			_, err := s.AcquireAppTokenLease(ctx, "wx", "", time.Minute, baseTime)
			return err
		}},
		{"lease with zero ttl", func() error {
			_, err := s.AcquireAppTokenLease(ctx, "wx", "h", 0, baseTime)
			return err
		}},
		{"release without holder", func() error { return s.ReleaseAppTokenLease(ctx, "wx", "") }},
	}
	for _, c := range cases {
		if err := c.call(); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	_, err := s.GetAppToken(ctx, "wx")
	mustErrIs(t, "GetAppToken after refused calls", err, storage.ErrNotFound)
	if !acquire(t, s, "wx", "h", baseTime) {
		t.Error("a refused call left a lease behind")
	}
}

// testConcurrentAppTokenLease: of many instances asking at once, exactly
// one gets the lease.
func testConcurrentAppTokenLease(t *testing.T, s storage.Storage) {
	got := make([]bool, concurrency)
	errs := race(concurrency, func(i int) error {
		var err error
		got[i], err = s.AcquireAppTokenLease(t.Context(), "wx-app", fmt.Sprintf("instance-%d", i), appTokenTTL, baseTime)
		return err
	})
	winners := 0
	for i := range concurrency {
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
		}
		if got[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d callers got the lease, want exactly 1", winners)
	}
}
