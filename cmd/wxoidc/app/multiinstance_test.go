package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/postgres/pgtest"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// TestMultiInstancePostgres runs two `wxoidc serve` processes on one
// PostgreSQL database, as behind a load balancer: tokens issued by one are
// refreshed, introspected and revoked by the other, refresh-token reuse
// detection spans them, they share one WeChat app access token, they pick
// up a key rotation, and killing one under load loses no token it issued.
func TestMultiInstancePostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	bin := testharness.BuildWxoidc(t)

	emu, emuSrv := wechattest.NewServer(t, wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: appA, Secret: secretA, OpenPlatformID: platform, PhoneAPI: true})

	dir := t.TempDir()
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	writeFile(t, filepath.Join(dir, "kek"), base64.StdEncoding.EncodeToString(kek)+"\n")
	writeFile(t, filepath.Join(dir, "app-secret"), secretA+"\n")
	// The issuer is the load balancer's address; the test talks to each
	// instance directly.
	issuer := "http://" + testharness.FreeAddr(t)
	cfgPath := filepath.Join(dir, "wxoidc.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`issuer: %s
http:
  addr: 127.0.0.1:0
  shutdown_timeout: 2s
admin:
  addr: ""
storage:
  dsn: %s
  postgres_max_conns: 4
secrets:
  kek: {file: %s}
wechat:
  base_url: %s
  fallback_base_urls: []
  call_timeout: 2s
  apps:
    - appid: %s
      secret: {file: %s}
keys:
  reload_interval: 1s
  jwks_max_age: 1s
log:
  level: warn
  format: text
`, issuer, dsn, filepath.Join(dir, "kek"), emuSrv.URL, appA, filepath.Join(dir, "app-secret")))

	// Schema and clients exist before any instance starts.
	runCLI(t, bin, "migrate", "--config", cfgPath)
	seedSharedClients(t, cfgPath)

	a := startInstance(t, bin, cfgPath, "A")
	b := startInstance(t, bin, cfgPath, "B")
	A := &stack{t: t, URL: a.url, Emu: emu, client: &http.Client{Timeout: 10 * time.Second}}
	B := &stack{t: t, URL: b.url, Emu: emu, client: &http.Client{Timeout: 10 * time.Second}}

	t.Run("login on A, refresh, introspect and revoke on B", func(t *testing.T) {
		A.t, B.t = t, t
		ph := A.phone(appA, "alice", "+8613800138000")
		first := mustToken(t, A.token(wechatForm(miniA, A.login(appA, "alice"), "phone_code", ph.Code, "scope", "openid phone offline_access")))
		second, err := refresh(B, miniA, first.RefreshToken)
		if err != nil {
			t.Fatalf("refresh on B of A's token: %v", err)
		}
		for _, s := range []*stack{A, B} {
			if got := s.introspect(second.AccessToken); got["active"] != true || got["client_id"] != miniA {
				t.Errorf("introspection on %s of the refreshed token = %v", s.URL, got)
			}
			if s.introspect(first.AccessToken)["active"] != false {
				t.Errorf("introspection on %s: the rotated chain's old access token is still active", s.URL)
			}
		}
		resp, body := B.postForm("/oauth2/revoke", url.Values{"token": {second.RefreshToken}, "client_id": {miniA}, "token_type_hint": {"refresh_token"}}, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke on B: %d %s", resp.StatusCode, body)
		}
		if A.introspect(second.AccessToken)["active"] != false {
			t.Error("A still finds active an access token B revoked")
		}
		if _, err := refresh(A, miniA, second.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("refresh on A after revocation on B: %v", err)
		}

		// B's phone login reuses the app access token A fetched.
		ph = B.phone(appA, "bob", "+8613900139000")
		mustToken(t, B.token(wechatForm(miniA, B.login(appA, "bob"), "phone_code", ph.Code, "scope", "openid phone")))
		if n := len(emu.CallsTo(wechattest.APIStableToken)); n != 1 {
			t.Errorf("%d stable_token calls for two instances, want 1 (shared through the database)", n)
		}
	})

	t.Run("refresh-token reuse across instances revokes the chain", func(t *testing.T) {
		A.t, B.t = t, t
		first := mustToken(t, A.token(wechatForm(miniA, A.login(appA, "carol"), "scope", "openid offline_access")))
		second, err := refresh(A, miniA, first.RefreshToken)
		if err != nil {
			t.Fatalf("refresh on A: %v", err)
		}
		if _, err := refresh(B, miniA, first.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("reuse on B of the rotated token: %v", err)
		}
		if _, err := refresh(A, miniA, second.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("chain not revoked on A after reuse on B: %v", err)
		}
		if B.introspect(second.AccessToken)["active"] != false {
			t.Error("access token of the revoked chain is still active")
		}
	})

	t.Run("both instances pick up a key rotation", func(t *testing.T) {
		A.t, B.t = t, t
		// A new user per login keeps clear of the per-user WeChat limit.
		n := 0
		kidFrom := func(s *stack) string {
			n++
			return accessTokenKID(t, mustToken(t, s.token(wechatForm(miniA, s.login(appA, fmt.Sprintf("dave-%d", n))))).AccessToken)
		}
		before := kidFrom(B)
		runCLI(t, bin, "keys", "rotate", "--force", "--config", cfgPath)
		// Each instance reloads every keys.reload_interval (1 s here).
		for _, s := range []*stack{A, B} {
			deadline := time.Now().Add(5 * time.Second)
			for {
				kid := kidFrom(s)
				if kid != before {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still signs with %s 5 s after a rotation", s.URL, before)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	})

	t.Run("killing A under load loses no issued token", func(t *testing.T) {
		A.t, B.t = t, t
		issued := loadUntilKilled(t, a, emu)
		if len(issued) < 20 {
			t.Fatalf("only %d tokens issued before the kill", len(issued))
		}
		t.Logf("%d logins answered 200 by A before it was killed", len(issued))
		for i, tr := range issued {
			if got := B.introspect(tr.AccessToken); got["active"] != true {
				t.Errorf("access token %d issued by A (200) is not active on B: %v", i, got)
			}
			if got := B.introspect(tr.RefreshToken); got["active"] != true {
				t.Errorf("refresh token %d issued by A (200) is not active on B: %v", i, got)
			}
		}
		// B still serves new logins on its own.
		mustToken(t, B.token(wechatForm(miniA, B.login(appA, "erin"), "scope", "openid offline_access")))
	})
}

// loadUntilKilled sends logins to instance a from several workers, kills
// the process (SIGKILL, no graceful shutdown) once enough have succeeded
// and keeps sending until every worker has seen it die. It returns every
// token response that came back 200.
func loadUntilKilled(t *testing.T, a *instance, emu *wechattest.Emulator) []tokenResponse {
	t.Helper()
	const workers = 4
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var (
		mu     sync.Mutex
		issued []tokenResponse
		ok     atomic.Int64
		seq    atomic.Int64
		killed = make(chan struct{})
		wg     sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for {
				user := fmt.Sprintf("load-%d-%d", w, seq.Add(1))
				code, err := emu.Login(appA, user)
				if err != nil {
					t.Errorf("emulator login: %v", err)
					return
				}
				form := wechatForm(miniA, code, "scope", "openid offline_access")
				resp, err := hc.PostForm(a.url+"/oauth2/token", form)
				if err != nil {
					select {
					case <-killed:
						return // the instance is gone: expected
					default:
						t.Errorf("token request before the kill: %v", err)
						return
					}
				}
				body, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if rerr != nil {
					// Cut off mid-response by the kill: not a 200 the client saw.
					continue
				}
				if resp.StatusCode != http.StatusOK {
					t.Errorf("token request: %d %s", resp.StatusCode, body)
					return
				}
				var tr tokenResponse
				if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" || tr.RefreshToken == "" {
					t.Errorf("token response: %v %s", err, body)
					return
				}
				mu.Lock()
				issued = append(issued, tr)
				mu.Unlock()
				ok.Add(1)
			}
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	for ok.Load() < 30 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(killed)
	a.kill(t)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return issued
}

// accessTokenKID returns the kid of a JWT access token's header.
func accessTokenKID(t *testing.T, jwt string) string {
	t.Helper()
	var h struct {
		KID string `json:"kid"`
	}
	decodeSegment(t, strings.Split(jwt, ".")[0], &h)
	if h.KID == "" {
		t.Fatal("access token without kid")
	}
	return h.KID
}

// runCLI runs one wxoidc command to completion.
func runCLI(t *testing.T, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("wxoidc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// seedSharedClients registers, through the storage API, the mini-program
// client and the confidential client that introspects.
func seedSharedClients(t *testing.T, cfgPath string) {
	t.Helper()
	ctx := context.Background()
	c, err := config.Load(cfgPath, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	cipher, err := app.Cipher(c)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := app.SecretHasher(c, cipher)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, []byte(backendPw))
	if err != nil {
		t.Fatal(err)
	}
	store, err := app.OpenStorage(ctx, c.Storage, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	clients := []storage.Client{
		{ID: miniA, TokenEndpointAuthMethod: provider.AuthMethodNone, WeChatAppID: appA,
			GrantTypes:      []string{grantType, provider.GrantTypeRefreshToken},
			Scopes:          []string{"openid", "phone", "wechat", "offline_access"},
			DefaultAudience: c.Issuer},
		{ID: backend, SecretHash: string(hash), TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
			GrantTypes: []string{provider.GrantTypeClientCredentials}, DefaultAudience: c.Issuer},
	}
	for _, cl := range clients {
		if err := provider.ValidateClient(cl); err != nil {
			t.Fatal(err)
		}
		if err := store.CreateClient(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
}

// instance is one running `wxoidc serve` process.
type instance struct {
	name string
	url  string
	cmd  *exec.Cmd
	out  *testharness.Buffer
	done chan struct{} // closed when the process has exited
}

// startInstance starts `wxoidc serve` on a free loopback port and waits
// until /readyz answers 200.
func startInstance(t *testing.T, bin, cfgPath, name string) *instance {
	t.Helper()
	addr := testharness.FreeAddr(t)
	in := &instance{name: name, url: "http://" + addr, out: &testharness.Buffer{}, done: make(chan struct{})}
	in.cmd = exec.Command(bin, "serve", "--config", cfgPath)
	in.cmd.Env = append(os.Environ(), "WXOIDC_HTTP_ADDR="+addr)
	in.cmd.Stdout, in.cmd.Stderr = in.out, in.out
	if err := in.cmd.Start(); err != nil {
		t.Fatalf("start instance %s: %v", name, err)
	}
	go func() {
		_ = in.cmd.Wait()
		close(in.done)
	}()
	t.Cleanup(func() {
		in.kill(t)
		if t.Failed() {
			t.Logf("instance %s output:\n%s", name, in.out.String())
		}
	})
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-in.done:
			t.Fatalf("instance %s exited at start:\n%s", name, in.out.String())
		default:
		}
		if resp, err := hc.Get(in.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return in
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s not ready after 20 s:\n%s", name, in.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the process at once (SIGKILL) and waits for it.
func (in *instance) kill(t *testing.T) {
	select {
	case <-in.done:
		return
	default:
	}
	if err := in.cmd.Process.Kill(); err != nil {
		t.Errorf("kill instance %s: %v", in.name, err)
	}
	<-in.done
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
