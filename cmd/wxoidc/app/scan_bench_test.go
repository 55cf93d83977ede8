package app_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
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
	a, issuer := startBenchApp(b, emuSrv.URL, withBrowserApps, withScanPage)
	createClient(b, a, storage.Client{
		ID: rpScan, Name: "Example Scan", TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
		GrantTypes: []string{provider.GrantTypeAuthorizationCode}, Scopes: []string{"openid"},
		RedirectURIs: []string{rpCallback}, SkipConsent: true, WeChatApps: []string{appA, appWeb}, DefaultAudience: issuer,
	}, provider.GenerateSecret())
	return &scanBench{app: a, issuer: issuer, emuURL: emuSrv.URL}
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

// BenchmarkScanTicket is what showing the scan page costs: parse and
// validate the authorization request, a ticket (random id, bound to the
// browser), WeChat's getwxacodeunlimit over loopback HTTP (the app access
// token cached), the image cached for the ticket, the ticket stored, the
// page rendered. The emulator runs in this process, so cpu-ms/op includes
// its drawing of the PNG; BenchmarkScanTicket/emulator-only measures that
// share alone. Target: 0.5 CPU-ms for the server's part.
func BenchmarkScanTicket(b *testing.B) {
	sb := newScanBench(b)
	w := newRecorder()
	if _, err := sb.newTicket(w, "bench-browser-secret"); err != nil { // warm: app access token
		b.Fatal(err)
	}
	b.Run("page", func(b *testing.B) {
		b.ReportAllocs()
		m := startCPU(b)
		parallel(b, func(w *recorder) error {
			_, err := sb.newTicket(w, "bench-browser-secret")
			return err
		})
		m.stop()
	})
	b.Run("emulator-only", func(b *testing.B) {
		wc, err := wechat.NewClient(wechat.Config{BaseURL: sb.emuURL})
		if err != nil {
			b.Fatal(err)
		}
		app := wechat.App{AppID: appA, Secret: secretA}
		if _, err := wc.AccessToken(context.Background(), app); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		m := startCPU(b)
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := wc.UnlimitedCode(context.Background(), app, wechat.CodeRequest{Scene: randomScene(), Page: scanPageName}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		m.stop()
	})
}

func randomScene() string {
	s := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' {
			return 'x'
		}
		return r
	}, randomString())
	return s[:min(len(s), 32)]
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
	if testing.Verbose() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		tb.Logf("stack in use %d KB, heap in use %d KB, before", ms.StackInuse>>10, ms.HeapInuse>>10)
	}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			tb.Fatalf("dial after %d: %v", len(conns), err)
		}
		conns = append(conns, c)
		if _, err := c.Write([]byte(request)); err != nil {
			tb.Fatal(err)
		}
	}
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

// heapAndStacks is the memory the Go runtime holds for objects and
// goroutine stacks, after a full GC.
func heapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}
