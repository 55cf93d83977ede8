package pages

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

// scanServer serves the scan page with a fake status and renew API that
// the test drives step by step: every long-poll, renew and landing on the
// continue URL is handed to the test over a channel, and a long-poll is
// answered only when the test says so.
type scanServer struct {
	r         *Renderer
	url       string
	done      chan struct{}
	next      atomic.Int64
	polls     chan scanPoll
	renews    chan scanRenew
	continued chan string
}

// scanPoll is one GET of a status URL, waiting for the test's answer.
type scanPoll struct {
	ticket string
	query  url.Values
	header http.Header
	reply  chan scanReply
}

type scanReply struct {
	status int
	body   string
}

// scanRenew is one GET of the renew URL that asked for JSON.
type scanRenew struct {
	accept string
	ticket string // the new ticket it answered with
}

// guard bounds a wait for the browser: a hang fails the test instead of
// stalling it, it is not a wait for correctness.
const guard = 30 * time.Second

func newScanServer(t *testing.T, r *Renderer) *scanServer {
	s := &scanServer{
		r: r, done: make(chan struct{}),
		polls: make(chan scanPoll), renews: make(chan scanRenew), continued: make(chan string),
	}
	mux := http.NewServeMux()
	mux.Handle(AssetPrefix, r.AssetHandler())
	mux.HandleFunc("GET /scan/{loc}", func(w http.ResponseWriter, req *http.Request) {
		expires := 300
		if e := req.URL.Query().Get("expires"); e != "" {
			expires, _ = strconv.Atoi(e)
		}
		ticket := s.ticket()
		// A session cookie, to see the long-poll send it.
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s-" + ticket, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		loc := Locale(req.PathValue("loc"))
		if err := r.Render(w, http.StatusOK, ScanPage{
			Locale: loc, ClientName: "Grafana",
			ImageURL: "/code/" + ticket + ".png", StatusURL: "/status/" + ticket,
			ContinueURL: "/continue/" + ticket, RenewURL: "/renew/" + string(loc),
			ExpiresIn: expires, Scopes: []string{"openid", "phone"},
			Others:     []LoginMethod{{Kind: MethodWebsiteQR, URL: "/start?method=website_qr"}},
			PrivacyURL: "https://grafana.example.com/privacy",
		}); err != nil {
			t.Errorf("render scan page: %v", err)
		}
	})
	mux.HandleFunc("GET /code/{name}", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(fakeCode(req.PathValue("name")))
	})
	mux.HandleFunc("GET /status/{ticket}", func(w http.ResponseWriter, req *http.Request) {
		p := scanPoll{ticket: req.PathValue("ticket"), query: req.URL.Query(), header: req.Header.Clone(), reply: make(chan scanReply, 1)}
		if !s.hand(req, p) {
			return
		}
		select {
		case a := <-p.reply:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(a.status)
			_, _ = w.Write([]byte(a.body))
		case <-req.Context().Done():
		case <-s.done:
		}
	})
	mux.HandleFunc("GET /renew/{loc}", func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Accept") != "application/json" {
			// The no-script path: a fresh page.
			http.Redirect(w, req, "/scan/"+req.PathValue("loc"), http.StatusSeeOther)
			return
		}
		ticket := s.ticket()
		select {
		case s.renews <- scanRenew{accept: req.Header.Get("Accept"), ticket: ticket}:
		case <-req.Context().Done():
			return
		case <-s.done:
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"image_url": "/code/" + ticket + ".png", "status_url": "/status/" + ticket,
			"continue_url": "/continue/" + ticket, "renew_url": req.URL.Path, "expires_in": 300,
		})
	})
	mux.HandleFunc("GET /continue/{ticket}", func(w http.ResponseWriter, req *http.Request) {
		select {
		case s.continued <- req.URL.RequestURI():
		case <-req.Context().Done():
			return
		case <-s.done:
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><title>continued</title><link rel=icon href=\"data:,\"><p id=landed>signed in"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(s.done) }) // runs first: frees held long-polls so Close returns
	s.url = srv.URL
	return s
}

func (s *scanServer) ticket() string { return fmt.Sprintf("t%d", s.next.Add(1)) }

// hand gives p to the test, unless the browser or the test gave up first.
func (s *scanServer) hand(req *http.Request, p scanPoll) bool {
	select {
	case s.polls <- p:
		return true
	case <-req.Context().Done():
	case <-s.done:
	}
	return false
}

func (s *scanServer) nextPoll(t *testing.T) scanPoll {
	t.Helper()
	select {
	case p := <-s.polls:
		return p
	case <-time.After(guard):
		t.Fatal("the page never asked for the code's status")
	}
	return scanPoll{}
}

func (s *scanServer) nextRenew(t *testing.T) scanRenew {
	t.Helper()
	select {
	case r := <-s.renews:
		return r
	case <-time.After(guard):
		t.Fatal("the page never asked for a fresh code")
	}
	return scanRenew{}
}

func (s *scanServer) nextContinue(t *testing.T) string {
	t.Helper()
	select {
	case u := <-s.continued:
		return u
	case <-time.After(guard):
		t.Fatal("the browser never went to the continue URL")
	}
	return ""
}

func (p scanPoll) answer(status int, body string) { p.reply <- scanReply{status, body} }

// checkPoll checks that a long-poll is for ticket and asks as the page's
// JSON contract says: wait=25, with the session cookie, not from a cache.
func checkPoll(t *testing.T, p scanPoll, ticket string) {
	t.Helper()
	if p.ticket != ticket {
		t.Errorf("status asked for ticket %s, want %s", p.ticket, ticket)
	}
	if got := p.query.Get("wait"); got != "25" || len(p.query) != 1 {
		t.Errorf("status query %v, want wait=25", p.query)
	}
	// credentials: "same-origin" sends the cookie; cache: "no-store" makes
	// Chromium add no-cache request headers.
	if c := p.header.Get("Cookie"); !strings.Contains(c, "sid=s-") {
		t.Errorf("status request without the session cookie: %q", c)
	}
	if cc := p.header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("status request Cache-Control %q, want no-cache (fetch cache: no-store)", cc)
	}
}

// scanState waits until the page shows state, then checks the status line
// says it in loc's words.
func scanState(t *testing.T, ctx context.Context, loc Locale, state string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitReady("#scan"), chromedp.Poll[chromedp.Void](
		`document.getElementById('scan').dataset.state === `+strconv.Quote(state), chromedp.WithPollingTimeout(guard))); err != nil {
		t.Fatalf("waiting for state %s: %v", state, err)
	}
	line, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.scan-status').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if want := words[loc]["scan."+state]; line != want {
		t.Errorf("state %s: status line %q, want %q", state, line, want)
	}
}

// codeShown waits until the page shows ticket's code image.
func codeShown(t *testing.T, ctx context.Context, ticket string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
		`(i => i.complete && i.naturalWidth > 0 && new URL(i.src).pathname === `+strconv.Quote("/code/"+ticket+".png")+`)(document.querySelector('.qr-img'))`,
		chromedp.WithPollingTimeout(guard))); err != nil {
		t.Fatalf("waiting for the code of %s: %v", ticket, err)
	}
}

// clean checks the page so far logged no errors and broke no CSP rule;
// allowed lets through the network errors a step provoked on purpose.
func clean(t *testing.T, ctx context.Context, console *consoleLog, allowed func(chromedp.ConsoleMessage) bool) {
	t.Helper()
	for _, m := range console.drain(t, ctx) {
		if allowed == nil || !allowed(m) {
			t.Errorf("console: %s (%s)", m, m.URL)
		}
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__cspViolations || []`))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range v {
		t.Errorf("CSP violation: %s", x)
	}
}

func open(t *testing.T, ctx context.Context, u string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(u), chromedp.WaitReady("#scan")); err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
}

func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(sel, chromedp.NodeVisible)); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// TestScanPageInBrowser runs the scan page's script in headless Chromium
// against a fake status server, through every state a person meets:
// scanned and approved (the browser goes on), cancelled and "try again",
// expired and a click on the code, a failing network, a vanished ticket,
// and the page's own expiry clock. It saves screenshots of each state.
func TestScanPageInBrowser(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	s := newScanServer(t, r)
	ctx := testharness.NewBrowser(t, testharness.Desktop())
	console := watchConsole(t, ctx)

	for _, loc := range []Locale{ZhCN, En} {
		t.Run(string(loc), func(t *testing.T) {
			// Scanned, then approved: the browser lands on the continue URL.
			open(t, ctx, s.url+"/scan/"+string(loc))
			p := s.nextPoll(t)
			ticket := p.ticket
			checkPoll(t, p, ticket)
			scanState(t, ctx, loc, "pending")
			codeShown(t, ctx, ticket)
			testharness.Screenshot(t, ctx, "pending")
			p.answer(http.StatusOK, `{"status":"scanned"}`)
			scanState(t, ctx, loc, "scanned")
			testharness.Screenshot(t, ctx, "scanned")
			p = s.nextPoll(t) // asked again at once
			checkPoll(t, p, ticket)
			clean(t, ctx, console, nil)
			p.answer(http.StatusOK, `{"status":"approved","continue_url":"/continue/`+ticket+`?via=json"}`)
			if got, want := s.nextContinue(t), "/continue/"+ticket+"?via=json"; got != want {
				t.Errorf("went to %s, want the continue_url %s", got, want)
			}
			if err := chromedp.Do(ctx, chromedp.WaitReady("#landed")); err != nil {
				t.Fatalf("the browser did not land on the continue URL: %v", err)
			}
			if u, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(u, "/continue/"+ticket+"?via=json") {
				t.Errorf("browser at %s (%v), want the continue_url", u, err)
			}

			// Cancelled on the phone, then "try again": a fresh code
			// without a reload.
			open(t, ctx, s.url+"/scan/"+string(loc))
			p = s.nextPoll(t)
			ticket = p.ticket
			if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.__samePage = true`)); err != nil {
				t.Fatal(err)
			}
			p.answer(http.StatusOK, `{"status":"denied"}`)
			scanState(t, ctx, loc, "denied")
			codeShown(t, ctx, ticket)
			retry, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.scan-renew').textContent`))
			if err != nil || retry != words[loc]["scan.retry"] {
				t.Errorf("denied: the refresh control says %q (%v), want %q", retry, err, words[loc]["scan.retry"])
			}
			if label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.qr-cover').getAttribute('aria-label')`)); err != nil || label != words[loc]["scan.retry"] {
				t.Errorf("denied: the covered code is labelled %q (%v), want %q", label, err, words[loc]["scan.retry"])
			}
			testharness.Screenshot(t, ctx, "denied")
			click(t, ctx, ".scan-renew")
			rn := s.nextRenew(t)
			if rn.accept != "application/json" {
				t.Errorf("renew Accept %q", rn.accept)
			}
			p = s.nextPoll(t)
			checkPoll(t, p, rn.ticket)
			scanState(t, ctx, loc, "pending")
			codeShown(t, ctx, rn.ticket)

			// Expired: the code is covered; clicking it gets a fresh one.
			p.answer(http.StatusOK, `{"status":"expired"}`)
			scanState(t, ctx, loc, "expired")
			testharness.Screenshot(t, ctx, "expired")
			click(t, ctx, ".qr-cover")
			rn = s.nextRenew(t)
			p = s.nextPoll(t)
			checkPoll(t, p, rn.ticket)
			scanState(t, ctx, loc, "pending")
			codeShown(t, ctx, rn.ticket)
			if same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__samePage === true`)); err != nil || !same {
				t.Errorf("the page reloaded to renew the code (%v)", err)
			}
			clean(t, ctx, console, nil)
		})
	}

	// Network errors from the status URL are expected in the steps below.
	statusErrors := func(m chromedp.ConsoleMessage) bool {
		return m.Source == "network" && strings.Contains(m.URL, "/status/")
	}

	t.Run("failing server", func(t *testing.T) {
		open(t, ctx, s.url+"/scan/en")
		for range 3 {
			s.nextPoll(t).answer(http.StatusBadGateway, `{}`)
		}
		scanState(t, ctx, En, "error")
		p := s.nextPoll(t) // still trying, after its back-off
		p.answer(http.StatusOK, `{"status":"scanned"}`)
		scanState(t, ctx, En, "scanned")
		s.nextPoll(t).answer(http.StatusOK, `{"status":"denied"}`)
		scanState(t, ctx, En, "denied")
		clean(t, ctx, console, statusErrors)
	})

	t.Run("ticket gone", func(t *testing.T) {
		open(t, ctx, s.url+"/scan/zh-CN")
		s.nextPoll(t).answer(http.StatusNotFound, `{"error":"not_found"}`)
		scanState(t, ctx, ZhCN, "expired")
		clean(t, ctx, console, statusErrors)
	})

	t.Run("expiry clock", func(t *testing.T) {
		// The server never answers: the page's own clock expires the code.
		open(t, ctx, s.url+"/scan/en?expires=1")
		s.nextPoll(t)
		scanState(t, ctx, En, "expired")
		clean(t, ctx, console, nil)
	})
}
