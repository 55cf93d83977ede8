package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
)

// runCLI runs one command in-process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLIEnv(t, nil, args...)
}

// devInstance is a `wxoidc dev` running in-process.
type devInstance struct {
	dir, addr, adminAddr string
	stdout, stderr       *testharness.Buffer
	stop                 func() int
}

func startDev(t *testing.T, dir string) *devInstance {
	t.Helper()
	addr, adminAddr := testharness.FreeAddr(t), testharness.FreeAddr(t)
	return startDevWith(t, addr, adminAddr, nil, "dev", "--addr", addr, "--admin-addr", adminAddr, "--data", dir)
}

// startDevWith runs `wxoidc args…` (a dev command line that listens on addr
// and adminAddr) with environ, and waits until it serves.
func startDevWith(t *testing.T, addr, adminAddr string, environ []string, args ...string) *devInstance {
	t.Helper()
	d := &devInstance{addr: addr, adminAddr: adminAddr, stdout: &testharness.Buffer{}, stderr: &testharness.Buffer{}}
	for i, a := range args {
		if a == "--data" && i+1 < len(args) {
			d.dir = args[i+1]
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &cliEnv{stdout: d.stdout, stderr: d.stderr, environ: environ}, args)
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
	emulatorCalls []emulatorCall // login, phone, then the mobile app's login
	tokenForm     url.Values
	appTokenForm  url.Values // the mobile app grant's token request
	authorizeURL  string     // the browser section's authorization request
	webRP         string     // the browser section's command that runs examples/web-rp
	scanScript    string     // the scan section's phone steps (shell)
	audience      string     // --audience of the verify step
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
	reEmuCall   = regexp.MustCompile(`curl -s -X POST \$I(/wechat-emulator/[\w-]+) -H 'Content-Type: application/json' \\\s*\n\s*-d '(\{[^']*\})'`)
	reFormParam = regexp.MustCompile(`-d (\w+)=(\S+)`)
	reScope     = regexp.MustCompile(`--data-urlencode 'scope=([^']+)'`)
	reVerify    = regexp.MustCompile(`verify --issuer \$I --audience (\S+) "\$IDT"`)
	reIntro     = regexp.MustCompile(`curl -s -u ([^:\s]+):(\S+) \$I/oauth2/introspect`)
	reAuthorize = regexp.MustCompile(`(?m)^\s+(http://\S+/oauth2/authorize\?\S+)\s*$`)
	reWebRP     = regexp.MustCompile(`(?m)^\s+(go run \./examples/web-rp.*?)\s*$`)
)

// between returns the text of s from the line holding from up to the line
// holding to (exclusive); "" when either is missing.
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], to)
	if j < 0 {
		return ""
	}
	return s[i : i+j]
}

// formOf collects the -d and --data-urlencode 'scope=…' parameters of a
// printed curl token request.
func formOf(step string) url.Values {
	form := url.Values{}
	for _, p := range reFormParam.FindAllStringSubmatch(step, -1) {
		form.Set(p[1], p[2])
	}
	if s := reScope.FindStringSubmatch(step); s != nil {
		form.Set("scope", s[1])
	}
	return form
}

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
	if len(w.emulatorCalls) != 3 {
		t.Fatalf("want 3 emulator calls (login, phone, app-login), found %d in:\n%s", len(w.emulatorCalls), out)
	}
	w.tokenForm = formOf(between(out, "# 3.", "# 4."))
	if w.tokenForm.Get("grant_type") == "" || w.tokenForm.Get("client_id") == "" {
		t.Fatalf("token step not found: %v", w.tokenForm)
	}
	w.appTokenForm = formOf(between(out, "# 7.", "# 8."))
	if w.appTokenForm.Get("grant_type") == "" || w.appTokenForm.Get("client_id") == "" {
		t.Fatalf("mobile app token step not found: %v", w.appTokenForm)
	}
	if m := reAuthorize.FindStringSubmatch(out); m != nil {
		w.authorizeURL = m[1]
	} else {
		t.Fatalf("no authorization request in the browser section:\n%s", out)
	}
	if m := reWebRP.FindStringSubmatch(out); m != nil {
		w.webRP = m[1]
	} else {
		t.Fatalf("no examples/web-rp command in the browser section:\n%s", out)
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
	// The scan section's shell lines (its comments tell a person what to
	// do in the browser).
	const scanHeader = "PC sign-in by scanning the mini-program code"
	if i := strings.Index(out, scanHeader); i >= 0 {
		// After the header line and the blank line under it, up to the
		// next blank line.
		section := out[i:]
		if k := strings.Index(section, "\n\n"); k >= 0 {
			section = section[k+2:]
		}
		if j := strings.Index(section, "\n\n"); j >= 0 {
			section = section[:j]
		}
		var lines []string
		for _, l := range strings.Split(section, "\n") {
			if trimmed := strings.TrimSpace(l); trimmed != "" && !strings.HasPrefix(trimmed, "#") {
				lines = append(lines, l)
			}
		}
		w.scanScript = strings.Join(lines, "\n")
	}
	// The script is the shell part; the browser section needs a browser.
	const header = "Walkthrough (copy-paste into a second shell):"
	w.script = strings.TrimPrefix(between(out, header, "Sign in with WeChat in a browser"), header)
	if w.script == "" {
		t.Fatal("walkthrough script not found")
	}
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

	// 7–8: the mobile app grant signs the same person in.
	checkAppStep(t, w, idt.Subject)
	// The browser section: its authorization request signs alice in too.
	checkBrowserStep(t, w, idt.Subject)
	// The scan section: the same person again, by the mini-program's code.
	checkScanStep(t, w, idt.Subject)

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
		"web client secret": devWebSecret, "website app secret": devWebsiteSecret, "mobile app secret": devMobileAppSecret,
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
	for _, want := range []string{"ID token verified", `"phone_number": "` + phone + `"`, `"phone_number":"` + phone + `"`, `"active":true`, "same sub: "} {
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
// the emulator, and the PC sign-in confirm page driven through a scan.
func TestMiniProgramExampleAgainstDev(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no node in PATH (apt-get install nodejs): %v", err)
		}
		t.Skip("node not available")
	}
	d := startDev(t, filepath.Join(t.TempDir(), "data"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := filepath.Join("..", "..")
	cmd := exec.CommandContext(ctx, node, "--test",
		filepath.Join("examples", "miniprogram", "test", "auth.test.js"),
		filepath.Join("examples", "miniprogram", "test", "devserver.test.js"),
		filepath.Join("examples", "miniprogram", "test", "scanpage.test.js"),
		filepath.Join("examples", "miniprogram", "test", "scan.test.js"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "WXOIDC_ISSUER=http://"+d.addr, "WXOIDC_CLIENT_ID="+devMiniProgram, "WXOIDC_APPID="+devAppID,
		"WXOIDC_WEB_CLIENT_ID="+devWeb, "WXOIDC_WEB_REDIRECT_URI="+devWebRedirectURI)
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

// tokenStatus posts an empty token request (the per-IP limit counts it
// before anything else) and returns the status.
func tokenStatus(t *testing.T, issuer string) int {
	t.Helper()
	resp, err := http.PostForm(issuer+"/oauth2/token", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Dev mode applies WXOIDC_* overrides over its built-in configuration: here a
// per-IP limit of one token request, visible as a 429 on the second one
// (the built-in limit allows a burst of 200).
func TestDevAppliesEnvOverrides(t *testing.T) {
	addr, adminAddr := testharness.FreeAddr(t), testharness.FreeAddr(t)
	d := startDevWith(t, addr, adminAddr,
		[]string{"WXOIDC_LIMITS_TOKEN_PER_IP_LIMIT=1", "WXOIDC_LIMITS_TOKEN_PER_IP_PER=1h", "WXOIDC_LIMITS_TOKEN_PER_IP_BURST=1"},
		"dev", "--addr", addr, "--admin-addr", adminAddr, "--data", filepath.Join(t.TempDir(), "data"))
	issuer := "http://" + addr
	if s := tokenStatus(t, issuer); s == http.StatusTooManyRequests {
		t.Fatalf("first token request: %d", s)
	}
	if s := tokenStatus(t, issuer); s != http.StatusTooManyRequests {
		t.Errorf("second token request with WXOIDC_LIMITS_TOKEN_PER_IP_LIMIT=1: %d, want 429", s)
	}
	if code := d.stop(); code != 0 {
		t.Errorf("dev exit %d", code)
	}

	// Without overrides the second request passes.
	addr, adminAddr = testharness.FreeAddr(t), testharness.FreeAddr(t)
	d = startDevWith(t, addr, adminAddr, nil, "dev", "--addr", addr, "--admin-addr", adminAddr, "--data", filepath.Join(t.TempDir(), "data"))
	for range 2 {
		if s := tokenStatus(t, "http://"+addr); s == http.StatusTooManyRequests {
			t.Errorf("built-in limit refused the second request")
		}
	}
	d.stop()
}

// The overrides go through the same code as serve's (config.ApplyEnv), and
// dev mode's rules hold whatever they say.
func TestDevConfigEnv(t *testing.T) {
	dir := t.TempDir()
	cfg, err := devConfig(dir, "127.0.0.1:8080", "127.0.0.1:8081", []string{
		"WXOIDC_LIMITS_TOKEN_PER_IP_LIMIT=0", "WXOIDC_WECHAT_BASE_URL=https://api.weixin.qq.com", "WXOIDC_TOKENS_ACCESS_TOKEN_FORMAT=opaque",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.TokenPerIP.Enabled() || cfg.Tokens.AccessTokenFormat != "opaque" {
		t.Errorf("overrides not applied: %+v %q", cfg.Limits.TokenPerIP, cfg.Tokens.AccessTokenFormat)
	}
	if cfg.WeChat.BaseURL != "http://127.0.0.1:8080"+devEmulatorPrefix || len(cfg.WeChat.FallbackBaseURLs) != 0 {
		t.Errorf("WeChat left the emulator: %s %v", cfg.WeChat.BaseURL, cfg.WeChat.FallbackBaseURLs)
	}
	if _, err := devConfig(dir, "127.0.0.1:8080", "127.0.0.1:8081", []string{"WXOIDC_HTTP_ADDR=0.0.0.0:8080"}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("a non-loopback WXOIDC_HTTP_ADDR: %v", err)
	}
	// A typo fails loudly, through the command too.
	code, out, errOut := runCLIEnv(t, []string{"WXOIDC_LIMITS_TOKEN_PER_IP_LIMT=0"}, "dev", "--addr", testharness.FreeAddr(t), "--admin-addr", testharness.FreeAddr(t), "--data", dir)
	if code != 1 || !strings.Contains(errOut, "WXOIDC_LIMITS_TOKEN_PER_IP_LIMT") || strings.Contains(out, "Walkthrough") {
		t.Errorf("typo: exit %d\n%s%s", code, out, errOut)
	}
	// Admin commands on the data directory see the same configuration.
	if code, _, errOut := runCLIEnv(t, []string{"WXOIDC_LIMITS_TOKEN_PER_IP_LIMT=0"}, "keys", "list", "--data", dir); code != 1 || !strings.Contains(errOut, "WXOIDC_LIMITS_TOKEN_PER_IP_LIMT") {
		t.Errorf("keys list --data with a typo: exit %d %s", code, errOut)
	}
}

// runCLIEnv runs one command in-process with environ.
func runCLIEnv(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb testharness.Buffer
	code = run(context.Background(), &cliEnv{stdout: &out, stderr: &errb, environ: environ}, args)
	return code, out.String(), errb.String()
}

// writeDevFile writes a config file for `wxoidc dev --config`: its own
// storage, admin token and WeChat app, opaque access tokens, and WeChat's
// real URL (which dev mode must replace by the emulator).
func writeDevFile(t *testing.T, issuer, httpAddr, adminAddr string) (path, adminToken string) {
	t.Helper()
	dir := t.TempDir()
	adminToken = "file-admin-token-0123456789abcdef"
	for name, v := range map[string]string{
		"kek": base64.StdEncoding.EncodeToString(keys.GenerateKEK()), "admin-token": adminToken, "app-secret": "file-app-secret",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yaml := fmt.Sprintf(`issuer: %[5]s
http:
  addr: %[2]q
admin:
  addr: %[3]q
  tokens:
    - name: ops
      token: {file: %[1]s/admin-token}
storage:
  dsn: sqlite://%[1]s/wxoidc.db
secrets:
  kek: {file: %[1]s/kek}
wechat:
  base_url: https://api.weixin.qq.com
  apps:
    - appid: %[4]s
      secret: {file: %[1]s/app-secret}
tokens:
  access_token_format: opaque
log:
  format: text
`, dir, httpAddr, adminAddr, fileAppID, issuer)
	path = filepath.Join(dir, "wxoidc.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, adminToken
}

const fileAppID = "wxf11ef11ef11ef11e"

// `wxoidc dev --config FILE` serves the file's configuration, with dev
// mode's rules: the emulator plays WeChat for the file's app too (the file
// names WeChat's real URL), and the demo clients are seeded.
func TestDevFromConfigFile(t *testing.T) {
	addr, adminAddr := testharness.FreeAddr(t), testharness.FreeAddr(t)
	path, adminToken := writeDevFile(t, "http://"+addr, addr, adminAddr)
	d := startDevWith(t, addr, adminAddr, nil, "dev", "--config", path)
	issuer := "http://" + addr
	if out := d.stdout.String(); !strings.Contains(out, "config        "+path) || strings.Contains(out, devAdminToken) {
		t.Errorf("banner:\n%s", out)
	}
	// The file's admin token, not the dev one.
	for token, want := range map[string]int{adminToken: http.StatusOK, devAdminToken: http.StatusUnauthorized} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+adminAddr+"/admin/v1/clients", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("admin API with %q: %d, want %d", token, resp.StatusCode, want)
		}
	}
	// A mini-program client of the file's app signs in through the emulator.
	if code, _, errOut := runCLI(t, "clients", "create", "--id", "file-mp", "--appid", fileAppID, "--config", path); code != 0 {
		t.Fatalf("clients create: %d %s", code, errOut)
	}
	for _, c := range []struct{ client, appid string }{{"file-mp", fileAppID}, {devMiniProgram, devAppID}} {
		login := postJSON(t, issuer+devEmulatorPrefix+"/login", fmt.Sprintf(`{"appid":%q,"user":"alice"}`, c.appid))
		resp, err := http.PostForm(issuer+"/oauth2/token", url.Values{
			"grant_type": {provider.GrantTypeWeChat}, "client_id": {c.client}, "code": {login["code"]}, "scope": {"openid"},
		})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
			IDToken     string `json:"id_token"`
		}
		if err := json.Unmarshal(raw, &tok); err != nil || resp.StatusCode != http.StatusOK || tok.IDToken == "" {
			t.Fatalf("%s: token: %d %s", c.client, resp.StatusCode, raw)
		}
		// The file's tokens.access_token_format: opaque, not a JWT.
		if strings.Count(tok.AccessToken, ".") == 2 {
			t.Errorf("%s: access token is a JWT, the file says opaque", c.client)
		}
	}
	if code := d.stop(); code != 0 {
		t.Errorf("dev exit %d\n%s", code, d.stderr)
	}
}

func TestDevConfigFileRefusals(t *testing.T) {
	path, _ := writeDevFile(t, "http://127.0.0.1:18080", "0.0.0.0:18080", "127.0.0.1:18081")
	code, out, errOut := runCLI(t, "dev", "--config", path)
	if code != 2 || !strings.Contains(errOut, "loopback") || strings.Contains(out, "Walkthrough") {
		t.Errorf("non-loopback file: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "dev", "--config", path, "--data", t.TempDir()); code != 2 || !strings.Contains(errOut, "either --config or --data") {
		t.Errorf("--config with --data: exit %d %s", code, errOut)
	}
	// --addr overrides the file's listen address (and makes it acceptable).
	cfg, err := devFileConfig(path, nil, true, "127.0.0.1:18082", false, "")
	if err != nil || cfg.HTTP.Addr != "127.0.0.1:18082" || cfg.WeChat.BaseURL != "http://127.0.0.1:18082"+devEmulatorPrefix {
		t.Errorf("--addr over the file: %v %+v", err, cfg)
	}
	if code, _, errOut := runCLI(t, "dev", "--config", "/no/such/file.yaml"); code != 1 || !strings.Contains(errOut, "read config") {
		t.Errorf("missing file: exit %d %s", code, errOut)
	}
}
