package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/metrics"
	"github.com/wxoidc/wxoidc/internal/testharness"
)

// consoleRequest returns a GET of path carrying the session cookies of c.
func (f *consoleFixture) consoleRequest(c *http.Client, path string) *http.Request {
	req := httptest.NewRequest("GET", path, nil)
	u, _ := url.Parse(f.srv.URL + "/admin/ui/")
	for _, ck := range c.Jar.Cookies(u) {
		req.AddCookie(ck)
	}
	return req
}

// BenchmarkConsolePages renders console pages through the admin handler
// with a signed-in session: the server's time per page, no network.
//
//	go test -run XXX -bench BenchmarkConsolePages ./web/
func BenchmarkConsolePages(b *testing.B) {
	var hist *metrics.History
	var mx *metrics.Metrics
	f := newConsoleFixtureWith(b, func(c *AdminConfig, clock *testharness.Clock) {
		mx = metrics.New(nil, clock.Now)
		hist = metrics.NewHistory(mx.Registry(), metrics.HistoryOptions{Now: clock.Now, TokenRoute: PathToken})
		c.Health = hist
	})
	// A full health window: 30 minutes of 50 clients, 4 grants, 3 WeChat APIs.
	public := mx.Listener("public")
	for i := range 181 {
		f.clock.Advance(10 * time.Second)
		for cl := range 50 {
			mx.ObserveTokenIssued([]string{"a", "b", "c", "d"}[cl%4], "client-"+string(rune('a'+cl%26))+string(rune('a'+cl/26)))
			public.ObserveRequest(PathToken, 200, time.Duration(i%40)*time.Millisecond)
		}
		for _, api := range []string{"jscode2session", "getuserphonenumber", "stable_token"} {
			mx.ObserveCall(api, "0", 20*time.Millisecond)
			mx.ObserveCall(api, "-1", 20*time.Millisecond)
		}
		if err := hist.Sample(); err != nil {
			b.Fatal(err)
		}
	}
	c := f.client()
	f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	h := f.srv.Config.Handler
	for _, path := range []string{"/admin/ui/keys", "/admin/ui/health"} {
		b.Run(strings.TrimPrefix(path, "/admin/ui/"), func(b *testing.B) {
			req := f.consoleRequest(c, path)
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", path, rec.Code)
				}
			}
		})
	}
}
