package pages

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

// TestPagesInBrowser opens every page kind in both languages in headless
// Chromium, at desktop and phone size, and checks what a person would see:
// the stylesheet and icons loaded under the CSP, the green primary action,
// tap targets of at least 44px, nothing wider than the phone, and not one
// console error or CSP violation. It saves a screenshot of each page under
// testharness.ArtifactsDir() for a human to look at.
func TestPagesInBrowser(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]sample{}
	mux := http.NewServeMux()
	mux.Handle(AssetPrefix, r.AssetHandler())
	for _, loc := range []Locale{ZhCN, En} {
		for _, s := range samples(loc) {
			path := "/" + string(loc) + "/" + s.name
			byPath[path] = s
			mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
				if err := r.Render(w, s.status, s.page); err != nil {
					t.Errorf("render %s: %v", path, err)
				}
			})
		}
	}
	var posted sync.Map // form action path → url.Values of the last POST
	for _, action := range []string{"/oauth2/consent", "/oauth2/logout"} {
		mux.HandleFunc("POST "+action, func(w http.ResponseWriter, req *http.Request) {
			if err := req.ParseForm(); err != nil {
				t.Errorf("POST %s: %v", action, err)
			}
			posted.Store(action, req.PostForm)
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("ok"))
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) }) // before srv.Close: it waits for held long-polls
	serveScanFixtures(mux, done)

	for _, size := range []struct {
		name  string
		opt   testharness.BrowserOption
		phone bool
	}{
		{"desktop", testharness.Desktop(), false},
		{"phone", testharness.Phone(), true},
	} {
		t.Run(size.name, func(t *testing.T) {
			ctx := testharness.NewBrowser(t, size.opt)
			console := watchConsole(t, ctx)
			for _, loc := range []Locale{ZhCN, En} {
				for _, s := range samples(loc) {
					t.Run(string(loc)+"/"+s.name, func(t *testing.T) {
						checkPage(t, ctx, console, srv.URL+"/"+string(loc)+"/"+s.name, loc, size.phone)
						testharness.Screenshot(t, ctx, size.name)
					})
				}
			}
			// WeChat follows the phone's dark mode; the pages must stay legible.
			t.Run("dark", func(t *testing.T) {
				if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
					})
					return err
				})); err != nil {
					t.Fatalf("emulate dark mode: %v", err)
				}
				for _, name := range []string{"zh-CN/consent", "en/error-flow_expired"} {
					checkPage(t, ctx, console, srv.URL+"/"+name, Locale(strings.Split(name, "/")[0]), size.phone)
					bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('.page')).backgroundColor`))
					if err != nil {
						t.Fatal(err)
					}
					if bg == "rgb(255, 255, 255)" {
						t.Errorf("%s: white page in dark mode", name)
					}
					testharness.Screenshot(t, ctx, size.name+"-"+strings.ReplaceAll(name, "/", "-"))
				}
			})
			t.Run("consent form posts the decision and the hidden fields", func(t *testing.T) {
				submit(t, ctx, srv.URL+"/en/consent", `button[value="deny"]`)
				got, _ := posted.Load("/oauth2/consent")
				form, _ := got.(url.Values)
				if form.Get(DecisionField) != DecisionDeny || form.Get("csrf") != "Zm9vYmFyYmF6" || form.Get("request") == "" {
					t.Errorf("consent form posted %v", form)
				}
			})
			t.Run("logout form posts the hidden fields", func(t *testing.T) {
				submit(t, ctx, srv.URL+"/zh-CN/logout-confirm", `button.btn-primary`)
				got, _ := posted.Load("/oauth2/logout")
				form, _ := got.(url.Values)
				if form.Get("csrf") != "Zm9vYmFyYmF6" {
					t.Errorf("logout form posted %v", form)
				}
			})
		})
	}
}

// checkPage loads url and checks how the browser drew it.
func checkPage(t *testing.T, ctx context.Context, console *consoleLog, url string, loc Locale, phone bool) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady("body")); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	for _, m := range console.drain(t, ctx) {
		if m.Source == "network" && m.URL == url {
			continue // the page's own 4xx/5xx status: error pages are sent with one
		}
		t.Errorf("console: %s (%s)", m, m.URL)
	}
	var got struct {
		Lang         string   `json:"lang"`
		H1Size       string   `json:"h1Size"`
		Primary      []string `json:"primary"`
		SmallTargets []string `json:"smallTargets"`
		BrokenImages []string `json:"brokenImages"`
		Overflow     bool     `json:"overflow"`
		Violations   []string `json:"violations"`
	}
	const probe = `(() => {
		const targets = [...document.querySelectorAll('a, button')];
		return {
			lang: document.documentElement.lang,
			h1Size: getComputedStyle(document.querySelector('h1')).fontSize,
			primary: [...document.querySelectorAll('.btn-primary')].map(e => getComputedStyle(e).backgroundColor),
			smallTargets: targets.filter(e => e.getClientRects().length && e.getBoundingClientRect().height < 44).map(e => e.outerHTML),
			brokenImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
			overflow: document.documentElement.scrollWidth > window.innerWidth,
			violations: window.__cspViolations || [],
		};
	})()`
	v, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](probe))
	if err != nil {
		t.Fatalf("probe %s: %v", url, err)
	}
	if err := remarshal(v, &got); err != nil {
		t.Fatalf("probe %s: %v", url, err)
	}
	if got.Lang != string(loc) {
		t.Errorf("<html lang=%q>, want %q", got.Lang, loc)
	}
	if got.H1Size != "22px" {
		t.Errorf("h1 font-size %q: the stylesheet did not load", got.H1Size)
	}
	for _, bg := range got.Primary {
		if bg != "rgb(7, 193, 96)" {
			t.Errorf("primary button background %s, want WeChat green rgb(7, 193, 96)", bg)
		}
	}
	if len(got.Primary) > 1 {
		t.Errorf("%d primary actions, want at most one", len(got.Primary))
	}
	for _, e := range got.SmallTargets {
		t.Errorf("tap target under 44px: %s", e)
	}
	for _, src := range got.BrokenImages {
		t.Errorf("image did not load: %s", src)
	}
	if phone && got.Overflow {
		t.Errorf("page is wider than the phone")
	}
	for _, v := range got.Violations {
		t.Errorf("CSP violation: %s", v)
	}
}

// remarshal copies a decoded JSON value into a typed one.
func remarshal(from any, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}

// submit opens url and presses the button selected by sel, waiting for the
// answer page.
func submit(t *testing.T, ctx context.Context, url, sel string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady("body")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(sel, chromedp.NodeVisible)); err != nil {
		t.Fatalf("press %s on %s: %v", sel, url, err)
	}
}

// consoleLog collects the browser's console and log messages, and records
// CSP violations from the page's own securitypolicyviolation events (a
// DevTools script, which the page's CSP does not apply to).
type consoleLog struct {
	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
	seen     chan struct{} // a marker message arrived
}

const consoleMarker = "wxoidc-test-console-marker"

func watchConsole(t *testing.T, ctx context.Context) *consoleLog {
	t.Helper()
	c := &consoleLog{seen: make(chan struct{}, 1)}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if strings.Contains(m.Text, consoleMarker) {
				c.seen <- struct{}{}
				continue
			}
			c.mu.Lock()
			c.messages = append(c.messages, m)
			c.mu.Unlock()
		}
	}()
	const listen = `window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(e.violatedDirective + ' blocked ' + e.blockedURI));`
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: listen})
		return err
	})); err != nil {
		t.Fatalf("install the CSP listener: %v", err)
	}
	return c
}

// drain returns the messages so far, other than debug and info ones. A
// marker written to the console and seen coming back guarantees that every
// message of the page before it was collected (the protocol keeps order).
func (c *consoleLog) drain(t *testing.T, ctx context.Context) []chromedp.ConsoleMessage {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`console.log("`+consoleMarker+`")`)); err != nil {
		t.Fatalf("console marker: %v", err)
	}
	select {
	case <-c.seen:
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(30 * time.Second): // a guard against hanging, not a wait for correctness
		t.Fatal("the console marker never came back")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []chromedp.ConsoleMessage
	for _, m := range c.messages {
		if m.Type != chromedp.ConsoleDebug && m.Type != chromedp.ConsoleInfo && m.Type != chromedp.ConsoleLog {
			out = append(out, m)
		}
	}
	c.messages = nil
	return out
}
