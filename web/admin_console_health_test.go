package web

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wxoidc/wxoidc/internal/metrics"
	"github.com/wxoidc/wxoidc/internal/testharness"
)

// The health page draws this process's own metrics: sign-ins by grant and
// client, WeChat calls and errcodes, the breaker and token latency.
func TestConsoleHealthInBrowser(t *testing.T) {
	var (
		mx   *metrics.Metrics
		hist *metrics.History
	)
	f := newConsoleFixtureWith(t, func(c *AdminConfig, clock *testharness.Clock) {
		mx = metrics.New(nil, clock.Now)
		mx.ObserveBreaker(func() string { return "open" })
		hist = metrics.NewHistory(mx.Registry(), metrics.HistoryOptions{Now: clock.Now, TokenRoute: PathToken})
		c.Health = hist
		c.Metrics = mx.Handler()
	})
	b := f.browser()
	b.signIn(strings.TrimPrefix(opsAuth, "Bearer "))
	b.open("/admin/ui/lang?to=en&next=/admin/ui/health")
	if got := b.text(`#health-warming`); !strings.Contains(got, "two samples") {
		t.Errorf("before any sample: %q", got)
	}

	// Two minutes of traffic, sampled every 10 s.
	public := mx.Listener("public")
	if err := hist.Sample(); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		f.clock.Advance(10 * time.Second)
		for j := range 6 {
			mx.ObserveTokenIssued("urn:wxoidc:params:oauth:grant-type:wechat", "mp-app")
			public.ObserveRequest(PathToken, 200, time.Duration(20+j)*time.Millisecond)
		}
		mx.ObserveTokenIssued("client_credentials", "billing-api")
		mx.ObserveCall("jscode2session", "0", 30*time.Millisecond)
		mx.ObserveCall("jscode2session", "0", 30*time.Millisecond)
		if i%4 == 0 {
			mx.ObserveCall("jscode2session", "40029", 30*time.Millisecond)
		}
		if err := hist.Sample(); err != nil {
			t.Fatal(err)
		}
	}
	b.open("/admin/ui/health")
	if got := b.text(`#signins`); !strings.Contains(got, "84 in the window") {
		t.Errorf("sign-ins: %q", got)
	}
	if got := b.text(`#signins tr[data-client="mp-app"]`); !strings.Contains(got, "72") {
		t.Errorf("mp-app row: %q", got)
	}
	if got := b.text(`#wechat tr[data-api="jscode2session"]`); !strings.Contains(got, "40029 × 3") || !strings.Contains(got, "11.1 %") {
		t.Errorf("WeChat row: %q", got)
	}
	if got := b.text(`#breaker`); !strings.Contains(got, "open") {
		t.Errorf("breaker: %q", got)
	}
	if got := b.text(`#latency`); !strings.Contains(got, "over 72 requests") {
		t.Errorf("latency: %q", got)
	}
	if n := eval[int](b, `[...document.querySelectorAll('svg.spark path')].filter(p => p.getAttribute('d').startsWith('M')).length`); n < 5 {
		t.Errorf("%d sparklines drawn", n)
	}
	b.shot("health-en")
	b.open("/admin/ui/lang?to=zh-CN&next=/admin/ui/health")
	b.do(chromedp.WaitVisible(`#wechat`))
	b.shot("health-zh")
}

// Without metrics the page says so instead of failing.
func TestConsoleHealthOff(t *testing.T) {
	f := newConsoleFixture(t)
	c := f.client()
	f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	a := f.do(c, "GET", "/admin/ui/health", nil, map[string]string{"Accept-Language": "en"})
	if a.status != 200 || !strings.Contains(a.body, "not collected") {
		t.Errorf("%d %s", a.status, a.body)
	}
}

// The history's default token route is a copy of PathToken (metrics cannot
// import web): this keeps the copy true.
func TestHistoryDefaultTokenRoute(t *testing.T) {
	if metrics.DefaultTokenRoute != PathToken {
		t.Fatalf("metrics.DefaultTokenRoute = %q, web.PathToken = %q", metrics.DefaultTokenRoute, PathToken)
	}
}
