package testharness

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// echoUA serves a page that shows the request's User-Agent.
func echoUA(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1"><title>ua</title><p id=ua>%s</p>`, strings.ReplaceAll(r.UserAgent(), "<", ""))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBrowserSizes(t *testing.T) {
	srv := echoUA(t)
	for _, tc := range []struct {
		name      string
		opt       BrowserOption
		width     int
		wechat    bool
		touchable bool
	}{
		{"desktop", Desktop(), 1280, false, false},
		{"phone", Phone(), 390, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := NewBrowser(t, tc.opt)
			if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
				t.Fatal(err)
			}
			ua, err := chromedp.Run(ctx, chromedp.Text("#ua"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(ua, "MicroMessenger"); got != tc.wechat {
				t.Errorf("User-Agent %q: MicroMessenger = %v, want %v", ua, got, tc.wechat)
			}
			width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`))
			if err != nil {
				t.Fatal(err)
			}
			if width != tc.width {
				t.Errorf("innerWidth = %d, want %d", width, tc.width)
			}
			touch, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`navigator.maxTouchPoints > 0`))
			if err != nil {
				t.Fatal(err)
			}
			if touch != tc.touchable {
				t.Errorf("touch = %v, want %v", touch, tc.touchable)
			}
		})
	}
}

func TestScreenshotWritesPNGUnderArtifactsDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("WXOIDC_TEST_ARTIFACTS", dir)
	srv := echoUA(t)
	ctx := NewBrowser(t, Phone())
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	path := Screenshot(t, ctx, "echo page")
	if want := filepath.Join(dir, "TestScreenshotWritesPNGUnderArtifactsDir-echo_page.png"); path != want {
		t.Errorf("path = %s, want %s", path, want)
	}
	png, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("%s is not a PNG", path)
	}
}

func TestArtifactsDir(t *testing.T) {
	t.Setenv("WXOIDC_TEST_ARTIFACTS", "/somewhere/else")
	if got := ArtifactsDir(); got != "/somewhere/else" {
		t.Errorf("with WXOIDC_TEST_ARTIFACTS: %s", got)
	}
	t.Setenv("WXOIDC_TEST_ARTIFACTS", "")
	got := ArtifactsDir()
	if filepath.Base(got) != ".artifacts" {
		t.Fatalf("without WXOIDC_TEST_ARTIFACTS: %s, want <module root>/.artifacts", got)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(got), "go.mod")); err != nil {
		t.Errorf("%s is not next to go.mod: %v", got, err)
	}
}

func TestFileSafe(t *testing.T) {
	for in, want := range map[string]string{
		"TestPages/login/zh-CN-desktop": "TestPages_login_zh-CN-desktop",
		"a b:c*d?e":                     "a_b_c_d_e",
		"../../etc/passwd":              ".._.._etc_passwd",
		"中文":                            "__",
	} {
		if got := fileSafe(in); got != want {
			t.Errorf("fileSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// recordingTB stands in for a test in NewBrowser: it records whether the
// test was skipped or failed, and ends the goroutine as testing.T does.
type recordingTB struct {
	testing.TB
	skipped, failed bool
}

func (r *recordingTB) Helper()                   {}
func (r *recordingTB) Skipf(string, ...any)      { r.skipped = true; runtime.Goexit() }
func (r *recordingTB) Fatalf(string, ...any)     { r.failed = true; runtime.Goexit() }
func (r *recordingTB) Cleanup(func())            {}
func (r *recordingTB) Logf(string, ...any)       {}
func (r *recordingTB) Name() string              { return "recording" }
func (r *recordingTB) Errorf(f string, a ...any) { r.failed = true }

func TestNewBrowserWithoutChromium(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no chromium here
	for _, tc := range []struct {
		ci                 string
		wantSkip, wantFail bool
	}{
		{"", true, false},
		{"false", true, false},
		{"true", false, true}, // CI must run the browser tests
	} {
		t.Setenv("CI", tc.ci)
		rec := &recordingTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			NewBrowser(rec)
		}()
		<-done
		if rec.skipped != tc.wantSkip || rec.failed != tc.wantFail {
			t.Errorf("CI=%q: skipped %v failed %v, want %v %v", tc.ci, rec.skipped, rec.failed, tc.wantSkip, tc.wantFail)
		}
	}
}
