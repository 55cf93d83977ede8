package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// This file runs `wxoidc serve` as a child process: kill -9 under load
// (nothing a client received is lost) and SIGTERM with a request in flight
// (drained within the shutdown timeout). It also checks App.Run's drain
// in process.

// crashBinary builds the wxoidc command (the build cache makes repeats cheap).
func crashBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the wxoidc binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is needed to build wxoidc: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "wxoidc")
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/wxoidc/wxoidc/cmd/wxoidc").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// crashSetup is a config file for one instance, its environment, and an
// in-process WeChat emulator the child talks to.
type crashSetup struct {
	cfgPath string
	env     []string
	issuer  string
	emu     *wechattest.Emulator
	wire    *wire
}

func newCrashSetup(t *testing.T) *crashSetup {
	t.Helper()
	emu := wechattest.New(wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: appA, Secret: secretA, OpenPlatformID: platform, PhoneAPI: true})
	wr, emuURL := serveWire(t, emu)

	addr := testharness.FreeAddr(t) // the child listens here; a restart must find the same issuer
	dir := t.TempDir()
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	cfg := fmt.Sprintf(`issuer: http://%[1]s
http:
  addr: %[1]s
  shutdown_timeout: 10s
admin:
  addr: ""
storage:
  dsn: sqlite://%[2]s
  sqlite_synchronous: FULL
secrets:
  kek: {env: CRASH_TEST_KEK}
wechat:
  base_url: %[3]s
  fallback_base_urls: []
  call_timeout: 5s
  apps:
    - appid: %[4]s
      secret: {env: CRASH_TEST_APP_SECRET}
limits:
  token_per_ip: {limit: 0}
  token_per_client: {limit: 0}
  wechat_per_app: {limit: 0}
  wechat_per_user: {limit: 0}
clients:
  secret_hash_cost: 10000
log:
  level: info
`, addr, filepath.Join(dir, "wxoidc.db"), emuURL, appA)
	path := filepath.Join(dir, "wxoidc.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cs := &crashSetup{
		cfgPath: path,
		env: []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
			"CRASH_TEST_KEK=" + base64.StdEncoding.EncodeToString(kek),
			"CRASH_TEST_APP_SECRET=" + secretA,
		},
		issuer: "http://" + addr,
		emu:    emu,
		wire:   wr,
	}
	cs.seed(t)
	return cs
}

// seed creates the schema, the signing keys and the clients, in process,
// through the same configuration file the child reads.
func (cs *crashSetup) seed(t *testing.T) {
	t.Helper()
	c, err := config.Load(cs.cfgPath, cs.env)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), app.Options{Config: c})
	if err != nil {
		t.Fatal(err)
	}
	(&stack{t: t, URL: cs.issuer, App: a}).seedClients()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// child is a running `wxoidc serve`.
type child struct {
	cmd    *exec.Cmd
	logs   *logBuffer
	exited chan struct{}
	err    error // cmd.Wait's result, once exited is closed
}

func (cs *crashSetup) start(t *testing.T, bin string) *child {
	t.Helper()
	c := &child{logs: &logBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(bin, "serve", "--config", cs.cfgPath)
	c.cmd.Env = cs.env
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.exited
		if t.Failed() {
			t.Logf("wxoidc serve output:\n%s", c.logs)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(cs.issuer + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		select {
		case <-c.exited:
			t.Fatalf("wxoidc serve exited: %v\n%s", c.err, c.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("wxoidc serve not ready: %v\n%s", err, c.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitExit waits for the child to end and returns its error.
func (c *child) waitExit(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-c.exited:
		return c.err
	case <-time.After(within):
		t.Fatalf("wxoidc serve still running after %v", within)
		return nil
	}
}

// crashTokens is a token response a client received in full with a 200.
type crashTokens struct{ access, refresh string }

// TestCrashLosesNoIssuedToken kills `wxoidc serve` (SQLite, synchronous
// FULL) with SIGKILL in the middle of a login load, restarts it on the same
// database, and checks that every access and refresh token a client
// received with a 200 is still valid: introspection says active and the
// refresh token refreshes.
func TestCrashLosesNoIssuedToken(t *testing.T) {
	bin := crashBinary(t)
	cs := newCrashSetup(t)
	srv := cs.start(t, bin)

	var (
		mu     sync.Mutex
		tokens []crashTokens
		wg     sync.WaitGroup
	)
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	enough := make(chan struct{})
	var once sync.Once
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				code, err := cs.emu.Login(appA, fmt.Sprintf("crash-%d-%d", w, i%5))
				if err != nil {
					t.Error(err)
					return
				}
				status, _, _, body, err := soakPost(client, cs.issuer+"/oauth2/token", wechatForm(miniA, code, "scope", "openid offline_access"), nil)
				if err != nil {
					return // the server is gone
				}
				if status != http.StatusOK {
					t.Errorf("login: %d %s", status, body)
					return
				}
				var tr tokenResponse
				if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" || tr.RefreshToken == "" {
					t.Errorf("incomplete 200: %s", body)
					return
				}
				mu.Lock()
				tokens = append(tokens, crashTokens{tr.AccessToken, tr.RefreshToken})
				if len(tokens) >= 150 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(5 * time.Second): // a slow machine: crash with what we have
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := srv.waitExit(t, 10*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the server did not die of SIGKILL: %v", err)
	}
	wg.Wait()
	mu.Lock()
	got := append([]crashTokens(nil), tokens...)
	mu.Unlock()
	if len(got) == 0 {
		t.Fatal("no token was issued before the crash")
	}

	cs.start(t, bin)
	lost := 0
	for i, tok := range got {
		status, _, _, body, err := soakPost(client, cs.issuer+"/oauth2/introspect", url.Values{"token": {tok.access}}, hardBasicAuth(backend, backendPw))
		if err != nil || status != http.StatusOK || !strings.Contains(string(body), `"active":true`) {
			t.Errorf("token %d: access token lost: %d %s %v", i, status, body, err)
			lost++
			continue
		}
		status, _, _, body, err = soakPost(client, cs.issuer+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {miniA}, "refresh_token": {tok.refresh}}, nil)
		if err != nil || status != http.StatusOK {
			t.Errorf("token %d: refresh token lost: %d %s %v", i, status, body, err)
			lost++
		}
	}
	t.Logf("%d tokens survived", len(got)-lost)
}

// TestServeDrainsOnSIGTERM sends SIGTERM to `wxoidc serve` while a login is
// waiting on WeChat: the process stops accepting connections, finishes the
// login with a 200, and exits 0 within the shutdown timeout.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	bin := crashBinary(t)
	cs := newCrashSetup(t)
	srv := cs.start(t, bin)

	hold := make(chan struct{})
	arrived := make(chan struct{}, 1)
	cs.wire.setOnRequest(func(path string) {
		if strings.HasSuffix(path, "/jscode2session") {
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
	})
	cs.emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, Hold: hold})
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	code, err := cs.emu.Login(appA, "late")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		status, _, _, body, err := soakPost(http.DefaultClient, cs.issuer+"/oauth2/token", wechatForm(miniA, code, "scope", "openid"), nil)
		done <- result{status, body, err}
	}()
	<-arrived
	start := time.Now()
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Shutdown closes the listener first: wait for that, then let WeChat answer.
	waitRefused(t, strings.TrimPrefix(cs.issuer, "http://"))
	close(hold)
	r := <-done
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("the in-flight login was not drained: %d %s %v", r.status, r.body, r.err)
	}
	if err := srv.waitExit(t, 15*time.Second); err != nil {
		t.Fatalf("wxoidc serve exited with %v after SIGTERM", err)
	}
	t.Logf("drained and exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// waitRefused waits until addr refuses connections.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts connections after shutdown began")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunDrainsInFlightRequest cancels App.Run's context while a login is
// waiting on WeChat: Run closes the listener, lets the login finish with a
// 200 and returns nil.
func TestRunDrainsInFlightRequest(t *testing.T) {
	s := newHardStack(t, hardOptions{serve: true, config: []stackOption{func(c *config.Config) {
		c.HTTP.ShutdownTimeout = config.D(10 * time.Second)
	}}})
	hold := make(chan struct{})
	arrived := make(chan struct{}, 1)
	s.wire.setOnRequest(func(path string) {
		if strings.HasSuffix(path, "/jscode2session") {
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
	})
	s.Emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, Hold: hold})
	code := s.login(appA, "inflight")
	done := make(chan tokenResponse, 1)
	errc := make(chan error, 1)
	go func() {
		status, _, _, body, err := soakPost(http.DefaultClient, s.URL+"/oauth2/token", wechatForm(miniA, code, "scope", "openid"), nil)
		if err != nil {
			errc <- err
			return
		}
		var tr tokenResponse
		_ = json.Unmarshal(body, &tr)
		tr.Status = status
		done <- tr
	}()
	<-arrived
	s.cancel()
	waitRefused(t, s.addr)
	select {
	case err := <-s.runErr:
		t.Fatalf("Run returned (%v) with a request in flight", err)
	default:
	}
	close(hold)
	select {
	case tr := <-done:
		if tr.Status != http.StatusOK {
			t.Fatalf("in-flight login: %d %s", tr.Status, tr.Error)
		}
	case err := <-errc:
		t.Fatalf("in-flight login: %v", err)
	}
	select {
	case err := <-s.runErr:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		s.runErr <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after draining")
	}
}

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 with the
// given serial number, and its key, as PEM.
func writeSelfSigned(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "wxoidc test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for path, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// servedSerial returns the serial number of the certificate addr presents.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) // a test's self-signed certificate
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestTLSReloadOnSIGHUP serves TLS from files, replaces them and sends
// SIGHUP: new connections get the new certificate; a broken file keeps the
// current one.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile, 1)
	logs := &logBuffer{}
	s := newHardStack(t, hardOptions{serve: true, logs: logs, config: []stackOption{func(c *config.Config) {
		c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile = certFile, keyFile
	}}})
	if got := servedSerial(t, s.addr); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	// A successful handshake means Run is serving, so its SIGHUP handler is
	// installed: the signal cannot kill the test process.
	writeSelfSigned(t, certFile, keyFile, 2)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, "SIGHUP: TLS certificate reloaded")
	if got := servedSerial(t, s.addr); got != 2 {
		t.Fatalf("serial %d after SIGHUP, want 2", got)
	}
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, "TLS certificate reload failed")
	if got := servedSerial(t, s.addr); got != 2 {
		t.Fatalf("serial %d after a failed reload, want 2 kept", got)
	}
}

// waitLog waits until the logs contain needle.
func waitLog(t *testing.T, logs *logBuffer, needle string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), needle) {
		if time.Now().After(deadline) {
			t.Fatalf("no log %q:\n%s", needle, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
