package wechatstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/internal/wechatstore"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/sqlite"
	"github.com/wxoidc/wxoidc/wechat"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

const (
	testAppID  = "wx1234567890abcdef"
	testSecret = "app-secret-0123456789abcdef01234567"
	otherAppID = "wxfedcba0987654321"
	otherSecr  = "other-secret-abcdefabcdefabcdefabcd"
)

// sharedEnv is a WeChat emulator and one SQLite database that several
// clients (instances) share their app access tokens through, with a manual
// clock shared by all and a check that nothing secret reaches the logs.
type sharedEnv struct {
	t      *testing.T
	emu    *wechattest.Emulator
	clock  *testharness.Clock
	cfg    wechat.Config
	app    wechat.App
	logs   *testharness.Buffer
	db     *sqlite.Storage
	dir    string
	cipher *keys.Cipher
	leaks  testharness.Secrets
}

func newSharedEnv(t *testing.T) *sharedEnv {
	t.Helper()
	clock := testharness.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	emu, srv := wechattest.NewServer(t, wechattest.Options{Clock: clock})
	emu.RegisterApp(wechattest.App{AppID: testAppID, Secret: testSecret, PhoneAPI: true})
	emu.RegisterApp(wechattest.App{AppID: otherAppID, Secret: otherSecr, PhoneAPI: true})
	logs := &testharness.Buffer{}
	dir := t.TempDir()
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "wxoidc.db"), sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	cipher, err := keys.NewCipher(keys.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	e := &sharedEnv{
		t: t, emu: emu, clock: clock, logs: logs, db: db, dir: dir, cipher: cipher,
		cfg: wechat.Config{
			BaseURL:      srv.URL,
			Now:          clock.Now,
			Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			RetryBackoff: time.Millisecond,
			CallTimeout:  5 * time.Second,
		},
		app: wechat.App{AppID: testAppID, Secret: testSecret},
	}
	e.secret(testSecret, otherSecr)
	t.Cleanup(func() { e.leaks.Check(t, "logs", logs.String()) })
	return e
}

// instance is a client as one wxoidc instance has it: its own cache and
// holder name, the shared database behind store.
func (e *sharedEnv) instance(store wechat.TokenStore, mod ...func(*wechat.Config)) *wechat.Client {
	e.t.Helper()
	cfg := e.cfg
	cfg.TokenStore = store
	for _, m := range mod {
		m(&cfg)
	}
	c, err := wechat.NewClient(cfg)
	if err != nil {
		e.t.Fatalf("NewClient: %v", err)
	}
	return c
}

func (e *sharedEnv) sealedStore() wechat.TokenStore {
	return wechatstore.New(e.db, e.cipher)
}

func (e *sharedEnv) token(c *wechat.Client) string {
	e.t.Helper()
	tok, err := c.AccessToken(context.Background(), e.app)
	if err != nil {
		e.t.Fatalf("AccessToken: %v", err)
	}
	e.secret(tok)
	return tok
}

// secret adds values the logs must never contain.
func (e *sharedEnv) secret(s ...string) { e.leaks.Add(s...) }

func (e *sharedEnv) phone(appID, user, number string) wechattest.PhoneGrant {
	e.t.Helper()
	g, err := e.emu.Phone(appID, user, number)
	if err != nil {
		e.t.Fatalf("Phone: %v", err)
	}
	e.secret(g.Code, g.EncryptedData, number, strings.TrimPrefix(number, "+86"))
	return g
}

func (e *sharedEnv) calls(api string) int { return len(e.emu.CallsTo(api)) }

// TestSharedTokenOneCallForTwoInstances: two instances asking at once, many
// times each, make one stable_token call between them; when the token is
// due, the instance that refreshes it first shares the new one.
func TestSharedTokenOneCallForTwoInstances(t *testing.T) {
	e := newSharedEnv(t)
	answers := make(chan bool, 1000)
	a := e.instance(&leaseSpy{TokenStore: e.sealedStore(), answers: answers})
	b := e.instance(&leaseSpy{TokenStore: e.sealedStore(), answers: answers})
	// Hold WeChat's answer until one instance holds the lease and the other
	// was refused it, so the instances really overlap.
	hold := make(chan struct{})
	e.emu.Inject(wechattest.Fault{API: wechattest.APIStableToken, Hold: hold})

	const perInstance = 8
	toks := make([]string, 2*perInstance)
	errs := make([]error, 2*perInstance)
	var wg sync.WaitGroup
	for i := range 2 * perInstance {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() { toks[i], errs[i] = c.AccessToken(context.Background(), e.app) })
	}
	granted, refused := false, false
	for !granted || !refused {
		if nextAnswer(t, answers) {
			granted = true
		} else {
			refused = true
		}
	}
	close(hold)
	wg.Wait()
	for i := range toks {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		e.secret(toks[i])
		if toks[i] != toks[0] {
			t.Fatalf("caller %d got another token", i)
		}
	}
	if n := e.calls(wechattest.APIStableToken); n != 1 {
		t.Fatalf("%d stable_token calls for two instances, want 1", n)
	}

	// Inside the refresh margin both instances are due; the first one
	// refreshes, the second takes the shared result.
	e.clock.Advance(7200*time.Second - wechat.DefaultTokenRefreshMargin + time.Second)
	fresh := e.token(a)
	if fresh == toks[0] {
		t.Fatal("refresh inside the margin returned the old token")
	}
	if got := e.token(b); got != fresh {
		t.Error("the second instance did not take the shared new token")
	}
	if n := e.calls(wechattest.APIStableToken); n != 2 {
		t.Errorf("%d stable_token calls after one refresh, want 2", n)
	}
	// And both cache it again.
	e.token(a)
	e.token(b)
	if n := e.calls(wechattest.APIStableToken); n != 2 {
		t.Errorf("%d stable_token calls, want still 2", n)
	}
}

// leaseSpy reports every Lease answer, so a test can line up with the
// client's polling without sleeping.
type leaseSpy struct {
	wechat.TokenStore
	answers chan bool
}

func (s *leaseSpy) Lease(ctx context.Context, appID, holder string, ttl time.Duration, now time.Time) (bool, error) {
	ok, err := s.TokenStore.Lease(ctx, appID, holder, ttl, now)
	select {
	case s.answers <- ok:
	default:
	}
	return ok, err
}

// nextAnswer returns the next Lease answer a leaseSpy saw.
func nextAnswer(t *testing.T, answers <-chan bool) bool {
	t.Helper()
	select {
	case ok := <-answers:
		return ok
	case <-time.After(5 * time.Second):
		t.Fatal("no lease request within 5s")
		return false
	}
}

// TestSharedTokenDeadHolderTakeover: an instance that took the lease and
// died blocks the refresh only until the lease's TTL has passed.
func TestSharedTokenDeadHolderTakeover(t *testing.T) {
	e := newSharedEnv(t)
	const ttl = 20 * time.Second
	// The dead instance took the lease and never came back.
	if ok, err := e.db.AcquireAppTokenLease(t.Context(), testAppID, "dead-instance", ttl, e.clock.Now()); err != nil || !ok {
		t.Fatalf("dead instance's lease: %v, %v", ok, err)
	}
	spy := &leaseSpy{TokenStore: e.sealedStore(), answers: make(chan bool, 1000)}
	c := e.instance(spy, func(cfg *wechat.Config) { cfg.TokenLeaseTTL = ttl })

	type result struct {
		tok string
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		tok, err := c.AccessToken(ctx, e.app)
		done <- result{tok, err}
	}()
	// The client finds the lease taken and no token: it waits.
	if nextAnswer(t, spy.answers) {
		t.Fatal("lease granted while the dead instance's lease runs")
	}
	e.clock.Advance(ttl - time.Second)
	if nextAnswer(t, spy.answers) {
		t.Fatal("lease granted before its TTL ran out")
	}
	if n := e.calls(wechattest.APIStableToken); n != 0 {
		t.Fatalf("%d stable_token calls while the lease was held, want 0", n)
	}
	e.clock.Advance(time.Second)
	r := <-done
	if r.err != nil {
		t.Fatalf("AccessToken after the TTL: %v", r.err)
	}
	e.secret(r.tok)
	if n := e.calls(wechattest.APIStableToken); n != 1 {
		t.Errorf("%d stable_token calls, want 1", n)
	}
	// The survivor shared the token it fetched.
	tok, _, found, err := e.sealedStore().Load(t.Context(), testAppID)
	if err != nil || !found || tok != r.tok {
		t.Errorf("shared token after takeover: found=%v err=%v same=%v", found, err, tok == r.tok)
	}
}

// TestSharedTokenEncryptedAtRest: the database never holds the token in
// plaintext, and a sealed token is bound to its appid and KEK.
func TestSharedTokenEncryptedAtRest(t *testing.T) {
	e := newSharedEnv(t)
	tok := e.token(e.instance(e.sealedStore()))
	row, err := e.db.GetAppToken(t.Context(), testAppID)
	if err != nil {
		t.Fatal(err)
	}
	if len(row.TokenEncrypted) == 0 || bytes.Contains(row.TokenEncrypted, []byte(tok)) {
		t.Fatal("stored token is empty or in plaintext")
	}
	// Nowhere in the database files either (main file and WAL).
	files, err := filepath.Glob(filepath.Join(e.dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("database files: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(tok)) || bytes.Contains(b, []byte(tok[len(tok)/2:])) {
			t.Errorf("%s holds the token in plaintext", filepath.Base(f))
		}
	}

	// The sealed row copied to another appid does not open there: that
	// instance fetches its own token instead of using app A's.
	if err := e.db.PutAppToken(t.Context(), storage.AppToken{AppID: otherAppID, TokenEncrypted: row.TokenEncrypted, ExpiresAt: row.ExpiresAt}); err != nil {
		t.Fatal(err)
	}
	other := wechat.App{AppID: otherAppID, Secret: otherSecr}
	otherTok, err := e.instance(e.sealedStore()).AccessToken(t.Context(), other)
	if err != nil {
		t.Fatal(err)
	}
	e.secret(otherTok)
	if otherTok == tok {
		t.Error("a token sealed for one appid was used for another")
	}
	if !bytes.Contains([]byte(e.logs.String()), []byte("does not decrypt")) {
		t.Error("the undecryptable shared token was not logged")
	}

	// An instance with another KEK cannot read it either; it still works.
	wrong, err := keys.NewCipher(keys.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	before := e.calls(wechattest.APIStableToken)
	if got := e.token(e.instance(wechatstore.New(e.db, wrong))); got != tok {
		t.Error("stable_token gave another token while the current one is valid")
	}
	if n := e.calls(wechattest.APIStableToken); n != before+1 {
		t.Errorf("%d stable_token calls, want %d (fetched without the unreadable shared token)", n, before+1)
	}
}

// TestSharedTokenRejectedTokenRefreshedOnce: after an outside force_refresh
// the stored token is dead; the first instance to see 40001 fetches a new
// one, and the next takes that instead of reusing the dead copy.
func TestSharedTokenRejectedTokenRefreshedOnce(t *testing.T) {
	e := newSharedEnv(t)
	a, b := e.instance(e.sealedStore()), e.instance(e.sealedStore())
	old := e.token(a)
	if e.token(b) != old {
		t.Fatal("instances disagree on the token")
	}
	e.emu.ForceRefreshStableToken(testAppID)

	for i, c := range []*wechat.Client{a, b} {
		g := e.phone(testAppID, "alice", "+8613800138000")
		if _, err := c.PhoneNumber(context.Background(), e.app, g.Code, ""); err != nil {
			t.Fatalf("instance %d: PhoneNumber after force refresh: %v", i, err)
		}
	}
	if n := e.calls(wechattest.APIStableToken); n != 2 {
		t.Errorf("%d stable_token calls, want 2 (the first fetch and one refresh for both instances)", n)
	}
	if fresh := e.token(a); fresh == old || e.token(b) != fresh {
		t.Error("instances do not share the refreshed token")
	}
}

// TestSharedTokenFailedRefreshReleasesLease: a refresh that fails frees the
// lease at once, so the next instance does not wait for the TTL.
func TestSharedTokenFailedRefreshReleasesLease(t *testing.T) {
	e := newSharedEnv(t)
	a, b := e.instance(e.sealedStore()), e.instance(e.sealedStore())
	e.emu.Inject(wechattest.Fault{API: wechattest.APIStableToken, ErrCode: 45009})
	if _, err := a.AccessToken(context.Background(), e.app); err == nil {
		t.Fatal("AccessToken succeeded through an injected failure")
	}
	// The clock does not move: b gets the lease only if a released it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tok, err := b.AccessToken(ctx, e.app)
	if err != nil {
		t.Fatalf("second instance after a failed refresh: %v", err)
	}
	e.secret(tok)
	if n := e.calls(wechattest.APIStableToken); n != 2 {
		t.Errorf("%d stable_token calls, want 2", n)
	}
}

// TestSharedTokenForceRefreshShared: an operator's force refresh on one
// instance reaches the others through the store.
func TestSharedTokenForceRefreshShared(t *testing.T) {
	e := newSharedEnv(t)
	a, b := e.instance(e.sealedStore()), e.instance(e.sealedStore())
	old := e.token(a)
	e.clock.Advance(time.Minute)
	forced, err := a.ForceRefreshAccessToken(context.Background(), e.app)
	if err != nil {
		t.Fatal(err)
	}
	e.secret(forced)
	if forced == old {
		t.Fatal("force refresh kept the old token")
	}
	if got := e.token(b); got != forced {
		t.Error("another instance did not get the force-refreshed token")
	}
	if n := e.calls(wechattest.APIStableToken); n != 2 {
		t.Errorf("%d stable_token calls, want 2", n)
	}
}

// TestSharedTokenOldTokenServedDuringRefresh: while another instance holds
// the lease to renew a token that is due but still valid, the others keep
// using it instead of waiting or calling WeChat themselves.
func TestSharedTokenOldTokenServedDuringRefresh(t *testing.T) {
	e := newSharedEnv(t)
	old := e.token(e.instance(e.sealedStore()))
	e.clock.Advance(7200*time.Second - wechat.DefaultTokenRefreshMargin + time.Second)
	const ttl = 20 * time.Second
	if ok, err := e.db.AcquireAppTokenLease(t.Context(), testAppID, "refreshing-instance", ttl, e.clock.Now()); err != nil || !ok {
		t.Fatalf("other instance's lease: %v, %v", ok, err)
	}
	c := e.instance(e.sealedStore(), func(cfg *wechat.Config) { cfg.TokenLeaseTTL = ttl })
	if got := e.token(c); got != old {
		t.Error("the still-valid token was not served during another instance's refresh")
	}
	if n := e.calls(wechattest.APIStableToken); n != 1 {
		t.Fatalf("%d stable_token calls during another instance's refresh, want 1", n)
	}
	// The refreshing instance never finishes: once its lease runs out,
	// this one refreshes.
	e.clock.Advance(ttl)
	if got := e.token(c); got == old {
		t.Error("token not refreshed after the other instance's lease ran out")
	}
	if n := e.calls(wechattest.APIStableToken); n != 2 {
		t.Errorf("%d stable_token calls, want 2", n)
	}
}

// TestStoreRoundTrip: the adapter's own contract, without a client.
func TestStoreRoundTrip(t *testing.T) {
	e := newSharedEnv(t)
	s := wechatstore.New(e.db, e.cipher)
	ctx := t.Context()
	if _, _, found, err := s.Load(ctx, testAppID); err != nil || found {
		t.Fatalf("Load on an empty store: found=%v err=%v", found, err)
	}
	exp := e.clock.Now().Add(time.Hour).Truncate(time.Second)
	if err := s.Save(ctx, testAppID, "the-token", exp); err != nil {
		t.Fatal(err)
	}
	tok, gotExp, found, err := s.Load(ctx, testAppID)
	if err != nil || !found || tok != "the-token" || !gotExp.Equal(exp) {
		t.Fatalf("Load = %q, %v, %v, %v; want the-token, %v", tok, gotExp, found, err, exp)
	}
	if ok, err := s.Lease(ctx, testAppID, "a", time.Minute, e.clock.Now()); err != nil || !ok {
		t.Fatalf("first lease: %v, %v", ok, err)
	}
	if ok, err := s.Lease(ctx, testAppID, "b", time.Minute, e.clock.Now()); err != nil || ok {
		t.Fatalf("second holder got the lease: %v, %v", ok, err)
	}
	if err := s.Release(ctx, testAppID, "a"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Lease(ctx, testAppID, "b", time.Minute, e.clock.Now()); err != nil || !ok {
		t.Fatalf("lease after release: %v, %v", ok, err)
	}
	other, err := keys.NewCipher(keys.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := wechatstore.New(e.db, other).Load(ctx, testAppID); err == nil || !strings.Contains(err.Error(), "does not decrypt") {
		t.Errorf("Load under another KEK: %v", err)
	}
	// A closed database is an error, not "no token".
	_ = e.db.Close()
	if _, _, found, err := s.Load(ctx, testAppID); err == nil || found {
		t.Errorf("Load on a closed database: found=%v err=%v", found, err)
	}
}
