package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// Scan sign-in benchmarks (docs/contract.md §1.6); docs/performance.md,
// "Scan sign-in", records them.

// scanBench is one instance whose client rpScan offers the scan, with
// the emulator on a loopback HTTP server (the code is fetched over HTTP,
// as from WeChat).
type scanBench struct {
	app    *app.App
	issuer string
	emuURL string
}

func newScanBench(b testing.TB) *scanBench {
	b.Helper()
	emu := wechattest.New(wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: appA, Secret: secretA, OpenPlatformID: platform, PhoneAPI: true})
	emu.RegisterApp(wechattest.App{AppID: appWeb, Secret: secretWeb, Kind: wechattest.KindWebsite, OpenPlatformID: platform})
	emuSrv := httptest.NewServer(emu.Handler())
	b.Cleanup(emuSrv.Close)
	return newScanBenchWith(b, emuSrv.URL)
}

// newScanBenchWith is newScanBench against the emulator at emuURL.
func newScanBenchWith(b testing.TB, emuURL string) *scanBench {
	b.Helper()
	a, issuer := startBenchApp(b, emuURL, withBrowserApps, withScanPage)
	createClient(b, a, storage.Client{
		ID: rpScan, Name: "Example Scan", TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
		GrantTypes: []string{provider.GrantTypeAuthorizationCode}, Scopes: []string{"openid"},
		RedirectURIs: []string{rpCallback}, SkipConsent: true, WeChatApps: []string{appA, appWeb}, DefaultAudience: issuer,
	}, provider.GenerateSecret())
	return &scanBench{app: a, issuer: issuer, emuURL: emuURL}
}

// scanPageURL is the login link that makes a ticket and shows its code.
func (sb *scanBench) scanPageURL() string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {rpScan}, "redirect_uri": {rpCallback}, "scope": {"openid"},
		"state": {"state-" + randomString()}, "nonce": {"nonce-" + randomString()}, "method": {provider.LoginMethodMiniProgramScan},
	}
	return sb.issuer + "/oauth2/login?" + q.Encode()
}

var benchTicket = regexp.MustCompile(`/oauth2/scan/([A-Z2-7]+)/image`)

// newTicket runs the scan page through the handler; it returns the ticket.
func (sb *scanBench) newTicket(w *recorder, browserCookie string) (string, error) {
	w.reset()
	req, _ := http.NewRequest(http.MethodGet, sb.scanPageURL(), nil)
	req.Header.Set("Cookie", "wxoidc_browser="+browserCookie)
	sb.app.Public.ServeHTTP(w, req)
	if w.status != http.StatusOK {
		return "", fmt.Errorf("scan page: %d %.300s", w.status, w.body.Bytes())
	}
	m := benchTicket.FindSubmatch(w.body.Bytes())
	if m == nil {
		return "", fmt.Errorf("no ticket on the scan page")
	}
	return string(m[1]), nil
}

// BenchmarkScanTicket is what showing the scan page costs the server:
// parse and validate the authorization request, a ticket (random id, bound
// to the browser), WeChat's getwxacodeunlimit over loopback HTTP (the app
// access token cached), the image cached for the ticket, the ticket stored,
// the page rendered. The emulator runs in a helper process, so cpu-ms/op is
// this process's work alone, the WeChat call's client side included and
// the emulator's drawing of the PNG not. Target: 0.5 CPU-ms.
func BenchmarkScanTicket(b *testing.B) {
	emu := startHelperProcess(b, "emulator", nil)
	defer emu.stop()
	sb := newScanBenchWith(b, emu.line(b))
	w := newRecorder()
	if _, err := sb.newTicket(w, "bench-browser-secret"); err != nil { // warm: app access token
		b.Fatal(err)
	}
	// ticket: the ticket with its code alone (Provider.StartScan: the
	// id, getwxacodeunlimit over HTTP, the image kept, the row stored),
	// for an authorization request parsed once outside the loop.
	b.Run("ticket", func(b *testing.B) {
		q, _ := url.Parse(sb.scanPageURL())
		form := q.Query()
		form.Del("method")
		req, err := sb.app.Provider.ParseAuthorize(context.Background(), form, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		mp, ok := req.App(provider.AppKindMiniProgram)
		if !ok {
			b.Fatal("no mini-program app")
		}
		b.ReportAllocs()
		m := startCPU(b)
		parallel(b, func(*recorder) error {
			_, err := sb.app.Provider.StartScan(context.Background(), req, mp, "bench-browser-secret")
			return err
		})
		m.stop()
	})
	serialAndParallel(b, func(w *recorder) error {
		_, err := sb.newTicket(w, "bench-browser-secret")
		return err
	})
}

// BenchmarkScanWaiting holds n browsers waiting on one ticket at once
// (long poll, wait=25) and reports the server's memory per waiting
// browser: the Go heap and goroutine stacks in use, after a GC, with all
// n waiting, minus the same before. The waiting browsers are raw TCP
// connections that wrote their request and read nothing, so the client
// side costs a socket each and no goroutine. Run with -benchtime 1x.
// Target: ≤ 20 KB per waiting browser at n = 10,000.
func BenchmarkScanWaiting(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for range b.N {
				perWaiter, goroutines := measureWaiting(b, n)
				b.ReportMetric(perWaiter/1024, "KB/waiter")
				b.ReportMetric(goroutines, "goroutines/waiter")
			}
		})
	}
}

// TestScanWaitingMemory runs the measurement at a small n so that the
// default test run keeps it working; the bound is loose (it is a
// benchmark's figure, not a timing assertion).
func TestScanWaitingMemory(t *testing.T) {
	perWaiter, goroutines := measureWaiting(t, 200)
	t.Logf("%.1f KB and %.2f goroutines per waiting browser", perWaiter/1024, goroutines)
	if goroutines > 3 {
		t.Errorf("%.2f goroutines per waiting browser", goroutines)
	}
}

func measureWaiting(tb testing.TB, n int) (bytesPerWaiter, goroutinesPerWaiter float64) {
	tb.Helper()
	if err := raiseOpenFiles(uint64(n + 1000)); err != nil {
		tb.Skipf("cannot open %d files: %v", n+1000, err)
	}
	sb := newScanBench(tb)
	// One browser shows a ticket; n connections wait on it with its cookie.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(sb.scanPageURL())
	if err != nil {
		tb.Fatal(err)
	}
	var page strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&page)
	resp.Body.Close()
	m := benchTicket.FindStringSubmatch(page.String())
	if m == nil {
		tb.Fatalf("no ticket: %d", resp.StatusCode)
	}
	u, _ := url.Parse(sb.issuer)
	var cookie string
	for _, c := range jar.Cookies(&url.URL{Scheme: "http", Host: u.Host, Path: "/oauth2/scan/"}) {
		if c.Name == "wxoidc_browser" {
			cookie = c.Value
		}
	}
	request := "GET /oauth2/scan/" + m[1] + "?wait=25 HTTP/1.1\r\nHost: " + u.Host + "\r\nCookie: wxoidc_browser=" + cookie + "\r\n\r\n"

	before := heapAndStacks()
	g0 := runtime.NumGoroutine()
	// The browsers are another process: this one holds the server's end of
	// each connection only (and the open-file limit counts per process).
	helper := startHelperProcess(tb, "waiters", map[string]string{
		"WXOIDC_WAITERS_ADDR": u.Host, "WXOIDC_WAITERS_REQUEST": request, "WXOIDC_WAITERS_N": fmt.Sprint(n),
	})
	defer helper.stop()
	deadline := time.Now().Add(60 * time.Second)
	for sb.app.Provider.ScanWaiting() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d waiting", sb.app.Provider.ScanWaiting(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := heapAndStacks()
	g1 := runtime.NumGoroutine()
	if testing.Verbose() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		tb.Logf("stack in use %d KB, heap in use %d KB, after %d waiting", ms.StackInuse>>10, ms.HeapInuse>>10, n)
	}
	return float64(after-before) / float64(n), float64(g1-g0) / float64(n)
}

// helperProcess is this test binary run again as a helper (TestHelperProcess).
type helperProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startHelperProcess runs TestHelperProcess in mode with env, and waits for
// its first line ("ready" or the emulator's URL), which it returns in line.
func startHelperProcess(tb testing.TB, mode string, env map[string]string) *helperProcess {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "WXOIDC_HELPER_PROCESS="+mode)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return &helperProcess{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
}

func (h *helperProcess) line(tb testing.TB) string {
	tb.Helper()
	l, err := h.out.ReadString('\n')
	if err != nil {
		tb.Fatalf("helper process: %v", err)
	}
	return strings.TrimSpace(l)
}

// stop closes the helper's stdin (its signal to end) and waits for it.
func (h *helperProcess) stop() {
	_ = h.stdin.Close()
	_ = h.cmd.Wait()
}

// TestHelperProcess is not a test: run by startHelperProcess, it plays
// what a benchmark must keep out of its own process, until its stdin closes.
//   - "waiters": WXOIDC_WAITERS_N connections to WXOIDC_WAITERS_ADDR, each
//     sending WXOIDC_WAITERS_REQUEST and reading nothing; prints "ready";
//   - "emulator": the WeChat emulator with the bench apps; prints its URL.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("WXOIDC_HELPER_PROCESS")
	if mode == "" {
		t.Skip("a helper process for the scan benchmarks, not a test")
	}
	switch mode {
	case "waiters":
		n, _ := strconv.Atoi(os.Getenv("WXOIDC_WAITERS_N"))
		if err := raiseOpenFiles(uint64(n + 100)); err != nil {
			t.Fatal(err)
		}
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("tcp", os.Getenv("WXOIDC_WAITERS_ADDR"))
			if err != nil {
				t.Fatalf("dial after %d: %v", len(conns), err)
			}
			if _, err := io.WriteString(c, os.Getenv("WXOIDC_WAITERS_REQUEST")); err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		for _, c := range conns {
			c.Close()
		}
	case "emulator":
		emu := wechattest.New(wechattest.Options{})
		emu.RegisterApp(wechattest.App{AppID: appA, Secret: secretA, OpenPlatformID: platform, PhoneAPI: true})
		emu.RegisterApp(wechattest.App{AppID: appWeb, Secret: secretWeb, Kind: wechattest.KindWebsite, OpenPlatformID: platform})
		srv := httptest.NewServer(emu.Handler())
		fmt.Println(srv.URL)
		_, _ = io.Copy(io.Discard, os.Stdin)
		srv.Close()
	default:
		t.Fatalf("unknown helper mode %q", mode)
	}
}

// raiseOpenFiles raises the open-file limit to at least n (root may raise
// the hard limit too).
func raiseOpenFiles(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= n {
		return nil
	}
	lim.Cur = n
	if lim.Max < n {
		lim.Max = n
	}
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// heapAndStacks is the memory the Go runtime holds for objects and
// goroutine stacks, after a full GC.
func heapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}
