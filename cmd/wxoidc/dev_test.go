package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// syncBuffer is an io.Writer the dev goroutine writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runCLI runs one command in-process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb syncBuffer
	code = run(context.Background(), &cliEnv{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// devInstance is a `wxoidc dev` running in-process.
type devInstance struct {
	dir, addr, adminAddr string
	stdout, stderr       *syncBuffer
	stop                 func() int
}

func startDev(t *testing.T, dir string) *devInstance {
	t.Helper()
	d := &devInstance{dir: dir, addr: freeAddr(t), adminAddr: freeAddr(t), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &cliEnv{stdout: d.stdout, stderr: d.stderr}, []string{"dev", "--addr", d.addr, "--admin-addr", d.adminAddr, "--data", dir})
	}()
	var once sync.Once
	code := -1
	d.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("wxoidc dev did not stop within 30 s after cancellation")
			}
		})
		return code
	}
	t.Cleanup(func() { d.stop() })

	// Wait until the instance serves: readiness, not a fixed sleep.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case c := <-done:
			t.Fatalf("wxoidc dev exited with %d before serving:\n%s\n%s", c, d.stdout, d.stderr)
		default:
		}
		resp, err := http.Get("http://" + d.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("wxoidc dev not ready after 60 s: %v\n%s", err, d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// printedSteps is what the printed copy-paste walkthrough says to do.
type printedSteps struct {
	issuer        string
	emulatorCalls []emulatorCall // login, then phone
	tokenForm     url.Values
	audience      string // --audience of the verify step
	introspectID  string
	introspectPW  string
	script        string
}

type emulatorCall struct {
	path string
	body string
}

var (
	reIssuer    = regexp.MustCompile(`(?m)^\s+issuer\s+(\S+)\s*$`)
	reVarI      = regexp.MustCompile(`(?m)^\s+I=(\S+)\s*$`)
	reEmuCall   = regexp.MustCompile(`curl -s -X POST \$I(/wechat-emulator/\w+) -H 'Content-Type: application/json' \\\s*\n\s*-d '(\{[^']*\})'`)
	reFormParam = regexp.MustCompile(`-d (\w+)=(\S+)`)
	reScope     = regexp.MustCompile(`--data-urlencode 'scope=([^']+)'`)
	reVerify    = regexp.MustCompile(`verify --issuer \$I --audience (\S+) "\$IDT"`)
	reIntro     = regexp.MustCompile(`curl -s -u ([^:\s]+):(\S+) \$I/oauth2/introspect`)
)

func parseWalkthrough(t *testing.T, out string) printedSteps {
	t.Helper()
	var w printedSteps
	m := reIssuer.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no issuer line in:\n%s", out)
	}
	w.issuer = m[1]
	if mi := reVarI.FindStringSubmatch(out); mi == nil || mi[1] != w.issuer {
		t.Fatalf("walkthrough's I= does not match the issuer %s", w.issuer)
	}
	for _, c := range reEmuCall.FindAllStringSubmatch(out, -1) {
		w.emulatorCalls = append(w.emulatorCalls, emulatorCall{path: c[1], body: c[2]})
	}
	if len(w.emulatorCalls) != 2 {
		t.Fatalf("want 2 emulator calls (login, phone), found %d in:\n%s", len(w.emulatorCalls), out)
	}
	w.tokenForm = url.Values{}
	for _, p := range reFormParam.FindAllStringSubmatch(out, -1) {
		w.tokenForm.Set(p[1], p[2])
	}
	if s := reScope.FindStringSubmatch(out); s != nil {
		w.tokenForm.Set("scope", s[1])
	}
	if w.tokenForm.Get("grant_type") == "" || w.tokenForm.Get("client_id") == "" {
		t.Fatalf("token step not found: %v", w.tokenForm)
	}
	if v := reVerify.FindStringSubmatch(out); v != nil {
		w.audience = v[1]
	} else {
		t.Fatalf("verify step not found")
	}
	if in := reIntro.FindStringSubmatch(out); in != nil {
		w.introspectID, w.introspectPW = in[1], in[2]
	} else {
		t.Fatalf("introspection step not found")
	}
	_, script, ok := strings.Cut(out, "Walkthrough (copy-paste into a second shell):")
	if !ok {
		t.Fatal("walkthrough script not found")
	}
	w.script = script
	return w
}

func postJSON(t *testing.T, u, body string) map[string]string {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", u, resp.StatusCode, raw)
	}
	out := map[string]string{}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: %v: %s", u, err, raw)
	}
	return out
}

// The README's promise: `wxoidc dev` plus the printed walkthrough yields a
// verified ID token with a phone number. The test follows the printed text,
// not knowledge of the code.
func TestDevWalkthrough(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := startDev(t, dir)
	w := parseWalkthrough(t, d.stdout.String())
	if w.issuer != "http://"+d.addr {
		t.Fatalf("issuer %s, want http://%s", w.issuer, d.addr)
	}
	if !strings.Contains(d.stdout.String(), dir) {
		t.Errorf("the banner does not show the data dir %s", dir)
	}

	// 1–2: the emulator plays wx.login and the phone button.
	login := postJSON(t, w.issuer+w.emulatorCalls[0].path, w.emulatorCalls[0].body)
	phone := postJSON(t, w.issuer+w.emulatorCalls[1].path, w.emulatorCalls[1].body)
	if login["code"] == "" || phone["code"] == "" || phone["encryptedData"] == "" || phone["iv"] == "" {
		t.Fatalf("emulator answers: %v / %v", login, phone)
	}
	var wantPhone struct {
		Phone string `json:"phone_number"`
	}
	_ = json.Unmarshal([]byte(w.emulatorCalls[1].body), &wantPhone)

	// 3: the token request.
	form := w.tokenForm
	form.Set("code", login["code"])
	form.Set("phone_code", phone["code"])
	resp, err := http.PostForm(w.issuer+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tokens struct {
		AccessToken  string `json:"access_token"`
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(raw, &tokens); err != nil || resp.StatusCode != http.StatusOK || tokens.IDToken == "" {
		t.Fatalf("token: %d %s", resp.StatusCode, raw)
	}

	// 4: `wxoidc verify`, in-process, then go-oidc directly.
	code, out, errOut := runCLI(t, "verify", "--issuer", w.issuer, "--audience", w.audience, tokens.IDToken)
	if code != 0 || !strings.Contains(out, "ID token verified") || !strings.Contains(out, wantPhone.Phone) {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errOut)
	}
	p, err := oidc.NewProvider(context.Background(), w.issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: w.audience}).Verify(context.Background(), tokens.IDToken)
	if err != nil {
		t.Fatalf("go-oidc: %v", err)
	}
	if err := idt.VerifyAccessToken(tokens.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	var claims struct {
		Phone    string `json:"phone_number"`
		Verified bool   `json:"phone_number_verified"`
	}
	_ = idt.Claims(&claims)
	if claims.Phone != wantPhone.Phone || !claims.Verified || wantPhone.Phone == "" {
		t.Fatalf("ID token phone = %q (verified %v), want %q", claims.Phone, claims.Verified, wantPhone.Phone)
	}

	// 5: UserInfo.
	req, _ := http.NewRequest(http.MethodGet, w.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tokens.AccessToken)
	if body := doOK(t, req); !strings.Contains(body, wantPhone.Phone) {
		t.Errorf("userinfo: %s", body)
	}
	// 6: introspection by the seeded backend.
	req, _ = http.NewRequest(http.MethodPost, w.issuer+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tokens.AccessToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(w.introspectID, w.introspectPW)
	if body := doOK(t, req); !strings.Contains(body, `"active":true`) {
		t.Errorf("introspection: %s", body)
	}

	// The admin listener answers with the dev token; the public one serves no /admin.
	req, _ = http.NewRequest(http.MethodGet, "http://"+d.adminAddr+"/admin/v1/keys", nil)
	req.Header.Set("Authorization", "Bearer "+devAdminToken)
	doOK(t, req)
	if r, err := http.Get("http://" + d.adminAddr + "/admin/v1/keys"); err != nil || r.StatusCode != http.StatusUnauthorized {
		t.Errorf("admin without token: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	if r, err := http.Get(w.issuer + "/admin/v1/keys"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Errorf("public /admin/v1/keys: %v %v", r, err)
	} else {
		r.Body.Close()
	}

	// `wxoidc keys list --data DIR` works against the running instance's storage.
	code, out, errOut = runCLI(t, "keys", "list", "--data", dir)
	if code != 0 {
		t.Fatalf("keys list: %d %s", code, errOut)
	}
	for _, want := range []string{"RS256", "ES256", "EdDSA", "current", "next"} {
		if !strings.Contains(out, want) {
			t.Errorf("keys list lacks %q:\n%s", want, out)
		}
	}

	// The copy-paste script itself, with bash and curl.
	t.Run("script", func(t *testing.T) {
		runWalkthroughScript(t, w.script, wantPhone.Phone)
	})

	// Nothing secret reached the logs.
	logs := d.stderr.String()
	for name, secret := range map[string]string{
		"login code": login["code"], "phone code": phone["code"], "access token": tokens.AccessToken,
		"ID token": tokens.IDToken, "refresh token": tokens.RefreshToken, "phone number": wantPhone.Phone,
		"phone digits": strings.TrimPrefix(wantPhone.Phone, "+86"), "backend secret": devBackendSecret, "app secret": devAppSecret,
	} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
	if code := d.stop(); code != 0 {
		t.Errorf("wxoidc dev exit code after cancellation = %d\n%s", code, d.stderr)
	}
}

func doOK(t *testing.T, req *http.Request) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	return string(raw)
}

// runWalkthroughScript runs the printed script with bash from the module root
// (its verify step is `go run ./cmd/wxoidc verify`, as in the README).
func runWalkthroughScript(t *testing.T, script, phone string) {
	for _, tool := range []string{"bash", "curl", "sed", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not available: %v", tool, err)
		}
	}
	if testing.Short() {
		t.Skip("-short: the script's `go run` step compiles the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough script: %v\n%s", err, out)
	}
	for _, want := range []string{"ID token verified", `"phone_number": "` + phone + `"`, `"phone_number":"` + phone + `"`, `"active":true`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("script output lacks %q:\n%s", want, out)
		}
	}
}

func TestDevRefusesNonLoopback(t *testing.T) {
	for _, args := range [][]string{
		{"dev", "--addr", "0.0.0.0:8080"},
		{"dev", "--addr", "[::]:8080"},
		{"dev", "--addr", "192.0.2.1:8080"},
		{"dev", "--addr", "example.com:8080"},
		{"dev", "--admin-addr", "0.0.0.0:8081"},
		{"dev", "--addr", "no-port"},
		{"dev", "unexpected-arg"},
		{"dev", "--no-such-flag"},
	} {
		code, out, errOut := runCLI(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s%s", args, code, out, errOut)
		}
		if strings.Contains(out, "Walkthrough") {
			t.Errorf("%v: printed the walkthrough before refusing", args)
		}
	}
	code, _, errOut := runCLI(t, "dev", "--addr", "0.0.0.0:8080")
	if code != 2 || !strings.Contains(errOut, "loopback") {
		t.Errorf("the refusal should say why: %q", errOut)
	}
}

func TestRequireLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:1": true, "[::1]:8080": true, "127.9.9.9:1": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:1": false, "10.0.0.1:1": false, "localhost": false, "evil.localhost:1": false,
	} {
		if err := requireLoopback(addr); (err == nil) != ok {
			t.Errorf("requireLoopback(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

// The mini-program example (examples/miniprogram) works against a real dev
// instance: its Node tests, with wx.request over fetch and wx.login played by
// the emulator.
func TestMiniProgramExampleAgainstDev(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not available")
	}
	d := startDev(t, filepath.Join(t.TempDir(), "data"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := filepath.Join("..", "..")
	cmd := exec.CommandContext(ctx, node, "--test",
		filepath.Join("examples", "miniprogram", "test", "auth.test.js"),
		filepath.Join("examples", "miniprogram", "test", "devserver.test.js"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "WXOIDC_ISSUER=http://"+d.addr, "WXOIDC_CLIENT_ID="+devMiniProgram, "WXOIDC_APPID="+devAppID)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	for _, want := range []string{"# fail 0", "# skipped 0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("node output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`# pass [1-9]`).Match(out) {
		t.Errorf("no passing node tests:\n%s", out)
	}
}
