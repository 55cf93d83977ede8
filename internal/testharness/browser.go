package testharness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// PhoneUserAgent is the User-Agent of WeChat's in-app browser on an iPhone:
// the server picks the WeChat surface by "MicroMessenger" in it.
const PhoneUserAgent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323c) NetType/WIFI Language/zh_CN"

// BrowserOption sets up the browser of NewBrowser.
type BrowserOption func(*browserConfig)

type browserConfig struct {
	width, height int64
	scale         float64
	mobile        bool
	userAgent     string
}

// Desktop is a 1280×800 desktop window (the default).
func Desktop() BrowserOption {
	return func(c *browserConfig) { *c = browserConfig{width: 1280, height: 800, scale: 1} }
}

// Phone is a 390×844 phone (iPhone 12–15 size, 2× pixels, touch) running
// WeChat's in-app browser.
func Phone() BrowserOption {
	return func(c *browserConfig) {
		*c = browserConfig{width: 390, height: 844, scale: 2, mobile: true, userAgent: PhoneUserAgent}
	}
}

// NewBrowser starts headless Chromium for one test and returns a chromedp
// context for its first tab; the browser is closed at t.Cleanup. Without a
// chromium binary in PATH the test is skipped, except under CI=true where it
// fails: CI must run the browser tests.
func NewBrowser(t testing.TB, opts ...BrowserOption) context.Context {
	t.Helper()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no chromium in PATH (apt-get install chromium fonts-noto-cjk): %v", err)
		}
		t.Skipf("no chromium in PATH, skipping the browser test: %v", err)
	}
	cfg := browserConfig{}
	Desktop()(&cfg)
	for _, o := range opts {
		o(&cfg)
	}

	alloc := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		// Tests run as root in containers, where Chromium's sandbox
		// cannot start; the pages under test are our own.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(int(cfg.width), int(cfg.height)),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("font-render-hinting", "none"),
	)
	if cfg.userAgent != "" {
		alloc = append(alloc, chromedp.UserAgent(cfg.userAgent))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), alloc...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})

	viewport := []chromedp.EmulateViewportOption{chromedp.EmulateScale(cfg.scale)}
	if cfg.mobile {
		viewport = append(viewport, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	// The first Run starts the browser.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(cfg.width, cfg.height, viewport...)); err != nil {
		t.Fatalf("start chromium (%s): %v", exe, err)
	}
	return ctx
}

// Screenshot saves a full-page PNG named <test name>-<name>.png under
// ArtifactsDir() and returns its path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 means PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := ArtifactsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create artifacts directory: %v", err)
	}
	path := filepath.Join(dir, fileSafe(t.Name()+"-"+name)+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
	return path
}

// ArtifactsDir is $WXOIDC_TEST_ARTIFACTS, or <module root>/.artifacts when unset.
// It is created by whoever writes into it (Screenshot does).
func ArtifactsDir() string {
	if dir := os.Getenv("WXOIDC_TEST_ARTIFACTS"); dir != "" {
		return dir
	}
	return filepath.Join(moduleRoot(), ".artifacts")
}

// moduleRoot is the nearest directory at or above the working directory (a
// test's package directory) that holds go.mod.
func moduleRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return wd
		}
		dir = parent
	}
}

// fileSafe turns a test name ("TestPages/login/zh-CN") into a file name.
func fileSafe(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, name)
}
