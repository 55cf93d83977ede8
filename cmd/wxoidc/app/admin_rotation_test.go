package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/wxoidc/wxoidc/config"
)

// maxAgeCache is an HTTP cache in front of a relying party, as a CDN or a
// caching proxy is: it answers GETs from a stored copy while the copy's
// Cache-Control max-age lasts, whatever the client asks (go-oidc sends
// "Cache-Control: no-cache", which a shared cache may ignore). keepForever
// makes it keep copies regardless of max-age: a client holding a stale set,
// which is what a forced rotation meets.
type maxAgeCache struct {
	next        http.RoundTripper
	keepForever bool
	mu          sync.Mutex
	copies      map[string]cachedResponse
	fetches     atomic.Int64
}

type cachedResponse struct {
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

func (c *maxAgeCache) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet {
		return c.next.RoundTrip(req)
	}
	key := req.URL.String()
	c.mu.Lock()
	cp, ok := c.copies[key]
	c.mu.Unlock()
	if ok && (c.keepForever || time.Now().Before(cp.expires)) {
		return &http.Response{StatusCode: cp.status, Header: cp.header.Clone(), Body: io.NopCloser(bytes.NewReader(cp.body)), Request: req}, nil
	}
	c.fetches.Add(1)
	resp, err := c.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if age, ok := maxAge(resp.Header.Get("Cache-Control")); ok && age > 0 {
		c.mu.Lock()
		c.copies[key] = cachedResponse{status: resp.StatusCode, header: resp.Header.Clone(), body: body, expires: time.Now().Add(age)}
		c.mu.Unlock()
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func maxAge(cc string) (time.Duration, bool) {
	for _, d := range strings.Split(cc, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "max-age="); ok {
			n, err := strconv.Atoi(v)
			return time.Duration(n) * time.Second, err == nil
		}
	}
	return 0, false
}

// relyingParty is a stock go-oidc verifier with its own JWKS cache
// (RemoteKeySet), behind a max-age cache.
type relyingParty struct {
	ctx      context.Context
	keySet   *oidc.RemoteKeySet
	verifier *oidc.IDTokenVerifier
	cache    *maxAgeCache
}

func newRelyingParty(s *stack, clientID string, keepForever bool) *relyingParty {
	cache := &maxAgeCache{next: s.client.Transport, keepForever: keepForever, copies: map[string]cachedResponse{}}
	ctx := oidc.ClientContext(context.Background(), &http.Client{Transport: cache})
	ks := oidc.NewRemoteKeySet(ctx, s.URL+"/.well-known/jwks.json")
	return &relyingParty{ctx: ctx, keySet: ks, verifier: oidc.NewVerifier(s.URL, ks, &oidc.Config{ClientID: clientID}), cache: cache}
}

func (rp *relyingParty) verify(idToken string) error {
	_, err := rp.verifier.Verify(rp.ctx, idToken)
	return err
}

// refresh makes go-oidc refetch the JWKS, as it does on any unknown kid.
func (rp *relyingParty) refresh() {
	enc := base64.RawURLEncoding.EncodeToString
	probe := enc([]byte(`{"alg":"RS256","kid":"cache-refresh-probe"}`)) + "." + enc([]byte(`{}`)) + "." + enc([]byte("not-a-signature"))
	_, _ = rp.keySet.VerifySignature(rp.ctx, probe)
}

// issued is one login's tokens and the key that signed its ID token.
type issued struct {
	idToken, refreshToken, kid string
	at                         time.Time
}

// loadLogin logs user in with offline_access; safe in any goroutine.
func loadLogin(s *stack, user string) (issued, error) {
	code, err := s.Emu.Login(appA, user)
	if err != nil {
		return issued{}, err
	}
	form := wechatForm(miniA, code, "scope", "openid offline_access")
	resp, err := s.client.Post(s.URL+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return issued{}, err
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK {
		return issued{}, fmt.Errorf("login %s: %d %s %s (%v)", user, resp.StatusCode, tr.Error, tr.Description, err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(tr.IDToken, ".")[0])
	_ = json.Unmarshal(raw, &h)
	return issued{idToken: tr.IDToken, refreshToken: tr.RefreshToken, kid: h.KID, at: time.Now()}, nil
}

// TestRotationUnderLoadNeverFailsVerification is the promise of
// docs/operations.md ("The safe timings and where they come from"):
// while logins and verifications run against a stock go-oidc relying party
// whose JWKS sits behind a max-age cache, a rotation refused as too soon is
// retried until publish-safe and then causes zero verification failures
// (new tokens and tokens of the retired key alike). A forced rotation would
// not be safe, as a relying party holding an older set shows. Revoking the
// retired key with revoke_tokens revokes the refresh tokens issued while it
// signed (not the later ones), and its ID tokens fail verification once the
// relying party's cache refreshes.
//
// Timings: reload interval and JWKS max-age 1s (max-age has whole-second
// resolution), so the safe publish delay is 2s and the test about 5s.
func TestRotationUnderLoadNeverFailsVerification(t *testing.T) {
	const reload = time.Second
	s := newAdmStack(t, func(c *config.Config) {
		c.Keys.ReloadInterval = config.D(reload)
		c.Keys.JWKSMaxAge = config.D(reload)
	})
	rp := newRelyingParty(s.stack, miniA, false)
	// A relying party that fetched the set once, now, and never refreshes
	// its copy (see the forced rotation below).
	stale := newRelyingParty(s.stack, miniA, true)
	stale.refresh()

	var (
		mu         sync.Mutex
		pool       []issued // every login, for re-verification
		logins     atomic.Int64
		verifies   atomic.Int64
		failures   []string
		kidsSigned = map[string]int{}
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Paced well under the token endpoint's rate limits.
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				is, err := loadLogin(s.stack, fmt.Sprintf("load-%d-%d", w, n))
				if err != nil {
					fail("%v", err)
					continue
				}
				logins.Add(1)
				if err := rp.verify(is.idToken); err != nil {
					fail("fresh ID token (kid %s) rejected: %v", is.kid, err)
				}
				verifies.Add(1)
				mu.Lock()
				pool = append(pool, is)
				kidsSigned[is.kid]++
				old := pool[(n*7+w)%len(pool)]
				mu.Unlock()
				if err := rp.verify(old.idToken); err != nil {
					fail("earlier ID token (kid %s) rejected: %v", old.kid, err)
				}
				verifies.Add(1)
			}
		}()
	}
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	defer stopLoad()

	rotate := func(force bool) (int, string) {
		status, raw := s.admDo("POST", "/admin/v1/keys/rotate", map[string]any{"alg": "RS256", "force": force})
		var out struct {
			Keys []struct {
				KID string `json:"kid"`
			} `json:"keys"`
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &out)
		if status == http.StatusOK && len(out.Keys) == 1 {
			return status, out.Keys[0].KID
		}
		return status, out.Error
	}
	oldKID := s.App.Keys.Keys()
	var k1 string
	for _, k := range oldKID {
		if k.Algorithm == "RS256" && k.State == "current" {
			k1 = k.KID
		}
	}

	// Too soon: the next key has not been published for 2s yet.
	if status, code := rotate(false); status != http.StatusConflict || code != "rotation_too_soon" {
		t.Fatalf("early rotation: %d %s, want 409 rotation_too_soon", status, code)
	}
	// Retry without force until the lifecycle allows it.
	var k2 string
	deadline := time.Now().Add(10 * reload)
	for k2 == "" {
		if time.Now().After(deadline) {
			t.Fatal("the rotation never became publish-safe")
		}
		time.Sleep(100 * time.Millisecond)
		switch status, v := rotate(false); status {
		case http.StatusOK:
			k2 = v
		case http.StatusConflict:
		default:
			t.Fatalf("rotation: %d %s", status, v)
		}
	}
	rotatedAt := time.Now()

	// Keep the load going until the new key has signed plenty and the
	// window of the retired key (reload + skew) has closed.
	for {
		mu.Lock()
		n := kidsSigned[k2]
		mu.Unlock()
		if n >= 10 && time.Since(rotatedAt) > reload+300*time.Millisecond {
			break
		}
		if time.Since(rotatedAt) > 10*reload {
			t.Fatalf("the new key signed only %d tokens", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopLoad()
	mu.Lock()
	t.Logf("%d logins, %d verifications, signed by %v, JWKS fetched %d times", logins.Load(), verifies.Load(), kidsSigned, rp.cache.fetches.Load())
	if len(failures) > 0 {
		t.Fatalf("%d failures under rotation, first: %s", len(failures), failures[0])
	}
	if kidsSigned[k1] == 0 || kidsSigned[k2] == 0 {
		t.Fatalf("tokens signed per key %v: want both %s and %s", kidsSigned, k1, k2)
	}
	var beforeRotation issued
	for _, is := range pool {
		if is.kid == k1 {
			beforeRotation = is
			break
		}
	}
	mu.Unlock()

	// A session begun after the rotation, outside the retired key's window.
	after, err := loadLogin(s.stack, "after-rotation")
	if err != nil || after.kid != k2 {
		t.Fatalf("login after rotation: %v (kid %s)", err, after.kid)
	}

	// The stale relying party holds the set from before the rotation. The
	// safely promoted key was in it; the key made at the rotation was not,
	// so forcing that one to sign now fails it, which is what the lifecycle
	// prevents (and shows that the verifier above would catch it).
	if err := stale.verify(after.idToken); err != nil {
		t.Fatalf("stale relying party, safely rotated key: %v", err)
	}
	if status, k3 := rotate(true); status != http.StatusOK || k3 == k2 {
		t.Fatalf("forced rotation: %d %s", status, k3)
	}
	forced, err := loadLogin(s.stack, "after-forced-rotation")
	if err != nil {
		t.Fatal(err)
	}
	if err := stale.verify(forced.idToken); err == nil {
		t.Fatal("a relying party with a stale JWKS accepted a token of a force-promoted key: the test's verifier could not detect an unsafe rotation")
	}

	// Revoke the retired key and the refresh tokens issued while it signed.
	var rev struct {
		Revoked int64 `json:"tokens_revoked"`
	}
	s.admJSON("POST", "/admin/v1/keys/revoke", map[string]any{"kid": k1, "revoke_tokens": true}, http.StatusOK, &rev)
	if rev.Revoked < 2 {
		t.Errorf("revoke_tokens revoked %d tokens", rev.Revoked)
	}
	if _, err := refresh(s.stack, miniA, beforeRotation.refreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh token issued while %s signed: %v, want invalid_grant", k1, err)
	}
	if _, err := refresh(s.stack, miniA, after.refreshToken); err != nil {
		t.Errorf("refresh token issued after the window: %v", err)
	}

	// The relying party still trusts its cached key until the cache
	// refreshes; then the revoked key's tokens fail.
	deadline = time.Now().Add(5 * reload)
	for {
		rp.refresh()
		if err := rp.verify(beforeRotation.idToken); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the revoked key's ID token still verifies after the JWKS cache expired")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Tokens of the keys still published keep verifying.
	for _, tok := range []string{after.idToken, forced.idToken} {
		if err := rp.verify(tok); err != nil {
			t.Errorf("token of a published key rejected after the revocation: %v", err)
		}
	}
	if e, ok := s.admFindAudit("keys.revoke_tokens", k1); !ok || e.Details["tokens_revoked"] != float64(rev.Revoked) {
		t.Errorf("audit keys.revoke_tokens: %+v %v", e, ok)
	}
}
