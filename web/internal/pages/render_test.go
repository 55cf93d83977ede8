package pages

import (
	"encoding/base64"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func newRenderer(t *testing.T) *Renderer {
	t.Helper()
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// render renders p and returns the response.
func render(t *testing.T, r *Renderer, status int, p Page) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := r.Render(rec, status, p); err != nil {
		t.Fatalf("Render(%T): %v", p, err)
	}
	return rec
}

var nonceRE = regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9+/=]+)'`)

func TestEveryPageRendersInBothLocalesWithTheSecurityHeaders(t *testing.T) {
	r := newRenderer(t)
	for _, loc := range []Locale{ZhCN, En} {
		for _, s := range samples(loc) {
			t.Run(string(loc)+"/"+s.name, func(t *testing.T) {
				rec := render(t, r, s.status, s.page)
				if rec.Code != s.status {
					t.Errorf("status %d, want %d", rec.Code, s.status)
				}
				h := rec.Header()
				for name, want := range map[string]string{
					"Content-Type":           "text/html; charset=utf-8",
					"Cache-Control":          "no-store",
					"Pragma":                 "no-cache",
					"Referrer-Policy":        "no-referrer",
					"X-Content-Type-Options": "nosniff",
					"X-Frame-Options":        "DENY",
				} {
					if got := h.Get(name); got != want {
						t.Errorf("%s: %q, want %q", name, got, want)
					}
				}
				csp := h.Get("Content-Security-Policy")
				m := nonceRE.FindStringSubmatch(csp)
				if m == nil {
					t.Fatalf("CSP without a script nonce: %q", csp)
				}
				_, scan := s.page.(ScanPage)
				connect := ""
				if scan {
					connect = "connect-src 'self'; " // its script asks our server for the code's status
				}
				if want := "default-src 'none'; style-src 'self'; img-src 'self' data:; " + connect + "script-src 'nonce-" + m[1] + "'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"; csp != want {
					t.Errorf("CSP\n got %q\nwant %q", csp, want)
				}
				body := rec.Body.String()
				if !strings.Contains(body, `<html lang="`+string(loc)+`">`) {
					t.Errorf("no <html lang=%q>", loc)
				}
				// The scan page's one script is ours, under the page's nonce;
				// no page has any other.
				if scan {
					tag := `<script src="` + r.assets.urls["scan.js"] + `" nonce="` + attrEscape(m[1]) + `"></script>`
					if strings.Count(body, "<script") != 1 || !strings.Contains(body, tag) {
						t.Errorf("want exactly %s in\n%s", tag, body)
					}
					body = strings.Replace(body, tag, "", 1)
				}
				for _, bad := range []string{"{client}", "ZgotmplZ", "<script", "style=", "http://", "//cdn"} {
					if strings.Contains(body, bad) {
						t.Errorf("page contains %q", bad)
					}
				}
				if !strings.Contains(body, `<link rel="stylesheet" href="`+r.assets.urls["app.css"]+`">`) {
					t.Error("page does not link the hashed stylesheet")
				}
				if h := regexp.MustCompile(`<[^>]*\son[a-z]+=`).FindString(body); h != "" {
					t.Errorf("inline event handler: %s", h)
				}
				// Each locale's pages are in that locale's script.
				if han := regexp.MustCompile(`\p{Han}`).MatchString(stripSamples(body)); han != (loc == ZhCN) {
					t.Errorf("Chinese characters on the page: %v, want %v", han, loc == ZhCN)
				}
			})
		}
	}
}

// attrEscape is how html/template writes a base64 nonce in an attribute.
func attrEscape(s string) string { return strings.ReplaceAll(s, "+", "&#43;") }

// stripSamples removes the Chinese client name of the samples (and its
// initial in the avatar), so that an English page showing it does not count
// as Chinese.
func stripSamples(body string) string {
	return strings.NewReplacer("示例商城", "", `<div class="avatar" aria-hidden="true">示</div>`, "").Replace(body)
}

func TestNonceIsFreshPerRender(t *testing.T) {
	r := newRenderer(t)
	seen := map[string]bool{}
	for range 50 {
		rec := render(t, r, http.StatusOK, LoggedOutPage{Locale: En})
		m := nonceRE.FindStringSubmatch(rec.Header().Get("Content-Security-Policy"))
		if m == nil {
			t.Fatal("no nonce")
		}
		if raw, err := base64.StdEncoding.DecodeString(m[1]); err != nil || len(raw) < 16 {
			t.Fatalf("nonce %q is not 128 random bits: %v", m[1], err)
		}
		if seen[m[1]] {
			t.Fatalf("nonce %q used twice", m[1])
		}
		seen[m[1]] = true
	}
}

func TestRequestDataStaysInert(t *testing.T) {
	r := newRenderer(t)
	const evil = `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	fields := []Field{{Name: "request" + evil, Value: evil}, {Name: "csrf", Value: evil}}
	for _, p := range []Page{
		ConsentPage{Locale: ZhCN, ClientName: evil, Scopes: []string{evil, "phone"}, Action: "/oauth2/consent", Fields: fields, PrivacyURL: "javascript:alert(3)"},
		LoginPage{Locale: En, ClientName: evil, Scopes: []string{evil}, Methods: []LoginMethod{{Kind: evil, URL: "javascript:alert(4)"}}},
		ErrorPage{Locale: En, Kind: ErrorKind(evil), ClientName: evil, BackURL: `javascript:alert(5)`, RetryURL: `/x?a="><script>`, Code: evil},
		LogoutConfirmPage{Locale: ZhCN, ClientName: evil, Action: `javascript:alert(6)`, Fields: fields, ReturnURL: evil},
		LoggedOutPage{Locale: En, ClientName: evil, ReturnURL: `vbscript:x`},
		ScanPage{Locale: ZhCN, ClientName: evil, ImageURL: `javascript:alert(7)`, StatusURL: evil, ContinueURL: `javascript:alert(8)`,
			RenewURL: `/r?a="><script>`, Scopes: []string{evil}, Others: []LoginMethod{{Kind: evil, URL: `javascript:alert(9)`}}, PrivacyURL: evil},
		ErrorPage{Locale: ZhCN, Kind: ErrScanUnavailable, ClientName: evil, Others: []LoginMethod{{Kind: evil, URL: `javascript:alert(10)`}}},
	} {
		body := render(t, r, http.StatusOK, p).Body.String()
		// The scan page's own script tag is the one allowed.
		body = regexp.MustCompile(`<script src="/assets/scan\.[0-9a-f]{10}\.js" nonce="[^"<>]+"></script>`).ReplaceAllString(body, "")
		for _, bad := range []string{"<script", "<img src=x", "javascript:", "vbscript:", `"><`} {
			if strings.Contains(body, bad) {
				t.Errorf("%T: %q got through:\n%s", p, bad, body)
			}
		}
	}
	body := render(t, r, http.StatusOK, ConsentPage{Locale: En, ClientName: "A", Action: "/c", Fields: fields}).Body.String()
	if want := `<input type="hidden" name="csrf" value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;">`; !strings.Contains(body, want) {
		t.Errorf("hidden field not escaped as an attribute value; want %s in\n%s", want, body)
	}
}

func TestConsentForm(t *testing.T) {
	r := newRenderer(t)
	body := render(t, r, http.StatusOK, ConsentPage{
		Locale: ZhCN, ClientName: "Grafana", Scopes: []string{"openid", "phone", "phone", "custom:read"},
		Action: "/oauth2/consent", Fields: []Field{{Name: "csrf", Value: "tok"}},
	}).Body.String()
	for _, want := range []string{
		`<form method="post" action="/oauth2/consent">`,
		`<input type="hidden" name="csrf" value="tok">`,
		`<button class="btn btn-primary" type="submit" name="decision" value="allow">允许</button>`,
		`<button class="btn btn-default" type="submit" name="decision" value="deny">拒绝</button>`,
		`Grafana 将获得：`,
		`<li>你的手机号</li>`,
		`<li>custom:read</li>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	if n := strings.Count(body, "<li>你的手机号</li>"); n != 1 {
		t.Errorf("phone listed %d times", n)
	}
	custom := render(t, r, http.StatusOK, ConsentPage{Locale: En, ClientName: "G", Action: "/c", AllowName: "choice", AllowValue: "yes"}).Body.String()
	for _, want := range []string{`name="choice" value="yes">Allow</button>`, `name="choice" value="deny">Deny</button>`} {
		if !strings.Contains(custom, want) {
			t.Errorf("missing %s in\n%s", want, custom)
		}
	}
}

func TestLoginPageMethodsAndScopes(t *testing.T) {
	r := newRenderer(t)
	body := render(t, r, http.StatusOK, LoginPage{
		Locale: En, ClientName: "Grafana",
		Methods: []LoginMethod{{Kind: MethodOfficialAccount, URL: "/start?m=oa&x=1"}, {Kind: MethodWebsiteQR, URL: "/start?m=qr"}},
		Scopes:  []string{"openid", "phone", "wechat", "offline_access"},
	}).Body.String()
	for _, want := range []string{
		`<title>Sign in to Grafana</title>`,
		`<a class="btn btn-primary" href="/start?m=oa&amp;x=1">Continue with WeChat</a>`,
		`<a class="btn btn-default" href="/start?m=qr">Sign in with WeChat</a>`,
		`<li>Your phone number</li>`, `<li>Ongoing access, so you stay signed in</li>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	none := render(t, r, http.StatusOK, LoginPage{Locale: ZhCN}).Body.String()
	if !strings.Contains(none, "该应用暂未开放登录") || strings.Contains(none, "btn-primary") {
		t.Errorf("a login page without methods should say so and offer no button:\n%s", none)
	}
	if !strings.Contains(none, "<h1>登录该应用</h1>") {
		t.Errorf("a login page without a client name should name no one:\n%s", none)
	}
}

func TestErrorKindsAreWorded(t *testing.T) {
	r := newRenderer(t)
	kinds := []ErrorKind{ErrBadRequest, ErrUnknownClient, ErrBadRedirectURI, ErrClientDisabled, ErrAccountDisabled,
		ErrSnapshotUser, ErrWeChatDenied, ErrFlowExpired, ErrBrowserMismatch, ErrWeChatUnavailable, ErrWeChatError,
		ErrServerError, ErrNotFound, ErrScanUnavailable}
	for _, loc := range []Locale{ZhCN, En} {
		generic := errorTexts[loc][""].Title
		titles := map[string]ErrorKind{}
		for _, k := range kinds {
			e, ok := errorTexts[loc][k]
			if !ok || e.Title == "" || e.Body == "" || e.Next == "" {
				t.Errorf("%s: %s has no complete words", loc, k)
				continue
			}
			if other, dup := titles[e.Title]; dup || e.Title == generic {
				t.Errorf("%s: %s and %s share the title %q", loc, k, other, e.Title)
			}
			titles[e.Title] = k
			body := render(t, r, http.StatusBadRequest, ErrorPage{Locale: loc, Kind: k, ClientName: "Grafana"}).Body.String()
			if !strings.Contains(body, "<h1>"+template.HTMLEscapeString(e.Title)+"</h1>") {
				t.Errorf("%s/%s: title missing", loc, k)
			}
		}
		if len(errorTexts[loc]) != len(kinds)+1 {
			t.Errorf("%s: %d worded kinds, the test knows %d", loc, len(errorTexts[loc])-1, len(kinds))
		}
	}
}

func TestErrorPageParts(t *testing.T) {
	r := newRenderer(t)
	body := render(t, r, http.StatusServiceUnavailable, ErrorPage{
		Locale: ZhCN, Kind: ErrWeChatUnavailable, ClientName: "Grafana",
		BackURL: "https://grafana.example.com/", RetryURL: "/oauth2/authorize?x=1", Code: "temporarily_unavailable",
	}).Body.String()
	for _, want := range []string{
		"<h1>微信暂时繁忙</h1>", "暂时无法连接微信。这不是你的问题。", "请稍后再试。",
		`<a class="btn btn-primary" href="/oauth2/authorize?x=1">重新登录</a>`,
		`<a class="btn btn-default" href="https://grafana.example.com/">返回 Grafana</a>`,
		`<p class="code">错误代码：temporarily_unavailable</p>`,
		r.assets.urls["warn.svg"],
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	// Only a back link: it is the primary action.
	back := render(t, r, http.StatusBadRequest, ErrorPage{Locale: En, Kind: ErrBadRequest, BackURL: "/b"}).Body.String()
	if !strings.Contains(back, `<a class="btn btn-primary" href="/b">Back to this app</a>`) {
		t.Errorf("back link:\n%s", back)
	}
	if !strings.Contains(back, "The sign-in request from this app is incomplete or invalid. This isn&#39;t your fault.") {
		t.Errorf("fault sentence:\n%s", back)
	}
}

func TestScanPage(t *testing.T) {
	r := newRenderer(t)
	p := ScanPage{
		ClientName: "Grafana", ImageURL: "/oauth2/scan/code/abc.png?v=1&s=2",
		StatusURL: "/oauth2/scan/status/abc", ContinueURL: "/oauth2/scan/continue/abc", RenewURL: "/oauth2/scan/renew?r=x&y=1",
		ExpiresIn: 300, Scopes: []string{"openid", "phone"},
		Others:     []LoginMethod{{Kind: MethodWebsiteQR, URL: "/start?method=website_qr"}},
		PrivacyURL: "https://grafana.example.com/privacy",
	}
	for _, tc := range []struct {
		loc  Locale
		want []string
	}{
		{ZhCN, []string{
			"<title>登录 Grafana</title>", "<h1>登录 Grafana</h1>", `<div class="avatar" aria-hidden="true">G</div>`,
			`<img class="qr-img" src="/oauth2/scan/code/abc.png?v=1&amp;s=2" alt="用微信扫描此小程序码，登录 Grafana" width="220" height="220">`,
			`<p class="scan-status" role="status" aria-live="polite">请使用微信扫一扫</p>`,
			`data-t-scanned="已扫描，请在手机上确认"`, `data-t-approved="登录成功，正在跳转"`, `data-t-denied="已取消"`,
			`data-t-expired="二维码已过期，点击刷新"`, `data-t-retry="再试一次"`,
			`<a class="scan-renew" href="/oauth2/scan/renew?r=x&amp;y=1">刷新二维码</a>`,
			`<noscript><p class="note">自动等待确认需要开启 JavaScript。</p></noscript>`,
			`<h2>其他登录方式</h2>`, `<a href="/start?method=website_qr">微信登录</a>`,
			"登录后，Grafana 将获得：", "<li>你的手机号</li>", `<a href="https://grafana.example.com/privacy">隐私政策</a>`,
		}},
		{En, []string{
			"<title>Sign in to Grafana</title>",
			`alt="Code to scan with WeChat to sign in to Grafana"`,
			`<p class="scan-status" role="status" aria-live="polite">Scan with WeChat</p>`,
			`data-t-scanned="Scanned. Confirm on your phone"`, `data-t-approved="Signed in, redirecting"`, `data-t-denied="Cancelled"`,
			`data-t-expired="Code expired. Click to refresh"`, `data-t-retry="Try again"`, `data-t-error="Can&#39;t reach the server right now. Still trying…"`,
			`>Refresh code</a>`, `<h2>Other ways to sign in</h2>`, `<a href="/start?method=website_qr">Sign in with WeChat</a>`,
			"After you sign in, Grafana will get:", `>Privacy policy</a>`,
		}},
	} {
		p.Locale = tc.loc
		rec := render(t, r, http.StatusOK, p)
		body := rec.Body.String()
		common := []string{
			`<div class="scan" id="scan" data-state="pending" data-status-url="/oauth2/scan/status/abc" data-continue-url="/oauth2/scan/continue/abc" data-renew-url="/oauth2/scan/renew?r=x&amp;y=1" data-expires-in="300"`,
			`<a class="qr-cover" href="/oauth2/scan/renew?r=x&amp;y=1" aria-label="`,
			`<img class="qr-mark" src="` + r.assets.urls["success.svg"] + `" alt="" width="56" height="56" hidden>`,
		}
		for _, want := range append(common, tc.want...) {
			if !strings.Contains(body, want) {
				t.Errorf("%s: missing %s in\n%s", tc.loc, want, body)
			}
		}
		csp := rec.Header().Get("Content-Security-Policy")
		m := nonceRE.FindStringSubmatch(csp)
		if m == nil || !strings.Contains(csp, "connect-src 'self'") {
			t.Fatalf("%s: CSP %q", tc.loc, csp)
		}
		if tag := `<script src="` + r.assets.urls["scan.js"] + `" nonce="` + attrEscape(m[1]) + `"></script>`; !strings.Contains(body, tag) {
			t.Errorf("%s: no %s", tc.loc, tag)
		}
		if strings.Contains(body, "btn-primary") {
			t.Errorf("%s: the code is the one thing to act on; no green button", tc.loc)
		}
	}
	// A pointer renders the same, and other pages get no connect-src.
	if csp := render(t, r, http.StatusOK, &p).Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("*ScanPage CSP %q", csp)
	}
	if csp := render(t, r, http.StatusOK, LoginPage{}).Header().Get("Content-Security-Policy"); strings.Contains(csp, "connect-src") {
		t.Errorf("login page CSP %q", csp)
	}
}

func TestScanScriptIsServedHashed(t *testing.T) {
	r := newRenderer(t)
	u := r.assets.urls["scan.js"]
	if !regexp.MustCompile(`^/assets/scan\.[0-9a-f]{10}\.js$`).MatchString(u) {
		t.Fatalf("script URL %q carries no content hash", u)
	}
	rec := httptest.NewRecorder()
	r.AssetHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u, nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("GET %s: %d %q", u, rec.Code, rec.Header().Get("Content-Type"))
	}
	// The page's CSP forbids eval; the script must not need it.
	for _, bad := range []string{"eval(", "new Function", "innerHTML", "document.write"} {
		if strings.Contains(rec.Body.String(), bad) {
			t.Errorf("scan.js uses %s", bad)
		}
	}
}

func TestErrorPageOthers(t *testing.T) {
	r := newRenderer(t)
	for _, tc := range []struct {
		loc  Locale
		want []string
	}{
		{ZhCN, []string{"<h1>暂时无法生成小程序码</h1>", "微信暂时没能生成登录用的小程序码。这不是你的问题。", "请稍后再试，或使用其他方式登录。",
			`<nav class="others">`, `<h2>其他登录方式</h2>`, `<a href="/start?m=qr">微信登录</a>`, `<a href="/start?m=oa">微信快捷登录</a>`,
			`<a class="btn btn-primary" href="/renew">重新登录</a>`}},
		{En, []string{"<h1>Couldn&#39;t make a sign-in code</h1>", "This isn&#39;t your fault.", "or use another way to sign in.",
			`<h2>Other ways to sign in</h2>`, `<a href="/start?m=qr">Sign in with WeChat</a>`, `<a href="/start?m=oa">Continue with WeChat</a>`}},
	} {
		body := render(t, r, http.StatusServiceUnavailable, ErrorPage{
			Locale: tc.loc, Kind: ErrScanUnavailable, ClientName: "Grafana", RetryURL: "/renew",
			Others: []LoginMethod{{Kind: MethodWebsiteQR, URL: "/start?m=qr"}, {Kind: MethodOfficialAccount, URL: "/start?m=oa"}},
		}).Body.String()
		for _, want := range tc.want {
			if !strings.Contains(body, want) {
				t.Errorf("%s: missing %s in\n%s", tc.loc, want, body)
			}
		}
	}
	if body := render(t, r, http.StatusBadRequest, ErrorPage{Locale: En, Kind: ErrBadRequest}).Body.String(); strings.Contains(body, "others") {
		t.Errorf("an error page without Others shows the section:\n%s", body)
	}
}

func TestUnknownErrorKindRendersGenericMessage(t *testing.T) {
	r := newRenderer(t)
	for _, loc := range []Locale{ZhCN, En} {
		rec := render(t, r, http.StatusBadRequest, ErrorPage{Locale: loc, Kind: "no_such_kind", RetryURL: "/again"})
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d", loc, rec.Code)
		}
		body := rec.Body.String()
		if !strings.Contains(body, "<h1>"+template.HTMLEscapeString(errorTexts[loc][""].Title)+"</h1>") || !strings.Contains(body, `href="/again"`) {
			t.Errorf("%s: no generic message:\n%s", loc, body)
		}
	}
}

func TestUnknownLocaleFallsBackToChinese(t *testing.T) {
	r := newRenderer(t)
	body := render(t, r, http.StatusOK, LoggedOutPage{Locale: "fr"}).Body.String()
	if !strings.Contains(body, `<html lang="zh-CN">`) || !strings.Contains(body, "已退出登录") {
		t.Errorf("locale fr:\n%s", body)
	}
}

func TestLogoutPages(t *testing.T) {
	r := newRenderer(t)
	confirm := render(t, r, http.StatusOK, LogoutConfirmPage{Locale: ZhCN, ClientName: "Grafana", Action: "/oauth2/logout", Fields: []Field{{Name: "csrf", Value: "t"}}}).Body.String()
	for _, want := range []string{`<form method="post" action="/oauth2/logout">`, `<button class="btn btn-primary" type="submit">退出登录</button>`, "Grafana 请求让你退出登录。", "直接关闭此页面"} {
		if !strings.Contains(confirm, want) {
			t.Errorf("missing %s in\n%s", want, confirm)
		}
	}
	withCancel := render(t, r, http.StatusOK, LogoutConfirmPage{Locale: En, Action: "/l", ReturnURL: "https://app.example/"}).Body.String()
	if !strings.Contains(withCancel, `<a class="btn btn-default" href="https://app.example/">Cancel</a>`) {
		t.Errorf("cancel link:\n%s", withCancel)
	}
	out := render(t, r, http.StatusOK, LoggedOutPage{Locale: En, ClientName: "Grafana", ReturnURL: "https://g.example/"}).Body.String()
	if !strings.Contains(out, `<a class="btn btn-primary" href="https://g.example/">Back to Grafana</a>`) {
		t.Errorf("return link:\n%s", out)
	}
}

func TestTemplateErrorIsAPlain500(t *testing.T) {
	r := newRenderer(t)
	r.tmpl = template.Must(template.New("page.html").Parse(`<p>half a page {{.NoSuchField}}`))
	rec := httptest.NewRecorder()
	if err := r.Render(rec, http.StatusOK, LoggedOutPage{}); err == nil {
		t.Fatal("no error from a broken template")
	}
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "half a page") {
		t.Errorf("status %d, body %q", rec.Code, rec.Body.String())
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Error("the 500 may be cached")
	}

	rec = httptest.NewRecorder()
	if err := newRenderer(t).Render(rec, http.StatusOK, nil); err == nil || rec.Code != http.StatusInternalServerError {
		t.Errorf("nil page: err %v, status %d", err, rec.Code)
	}
}

func TestFillSpacesLatinNamesInChinese(t *testing.T) {
	for _, tc := range []struct{ text, client, want string }{
		{"登录{client}", "Grafana", "登录 Grafana"},
		{"登录{client}", "示例商城", "登录示例商城"},
		{"联系{client}的客服。", "GitLab", "联系 GitLab 的客服。"},
		{"{client}将获得：", "Grafana", "Grafana 将获得："},
		{"返回{client}", "Grafana 中国", "返回 Grafana 中国"},
		{"Back to {client}", "Grafana", "Back to Grafana"},
		{"{client}：", "App", "App："},
		{"no placeholder", "x", "no placeholder"},
	} {
		if got := fill(tc.text, tc.client); got != tc.want {
			t.Errorf("fill(%q, %q) = %q, want %q", tc.text, tc.client, got, tc.want)
		}
	}
}

func TestAssetHandler(t *testing.T) {
	r := newRenderer(t)
	h := r.AssetHandler()
	cssURL := r.assets.urls["app.css"]
	if !regexp.MustCompile(`^/assets/app\.[0-9a-f]{10}\.css$`).MatchString(cssURL) {
		t.Fatalf("stylesheet URL %q carries no content hash", cssURL)
	}
	want, err := assetFS.ReadFile("assets/app.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{cssURL, strings.TrimPrefix(cssURL, AssetPrefix)} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = path
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK || string(body) != string(want) {
			t.Fatalf("GET %s: %d", path, rec.Code)
		}
		for name, v := range map[string]string{
			"Content-Type":           "text/css; charset=utf-8",
			"Cache-Control":          "public, max-age=31536000, immutable",
			"X-Content-Type-Options": "nosniff",
		} {
			if got := rec.Header().Get(name); got != v {
				t.Errorf("GET %s: %s %q, want %q", path, name, got, v)
			}
		}
	}
	svg := httptest.NewRecorder()
	h.ServeHTTP(svg, httptest.NewRequest(http.MethodGet, r.assets.urls["warn.svg"], nil))
	if svg.Code != http.StatusOK || svg.Header().Get("Content-Type") != "image/svg+xml" {
		t.Errorf("svg: %d %q", svg.Code, svg.Header().Get("Content-Type"))
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/assets/app.css", http.StatusNotFound}, // unhashed names are not served
		{http.MethodGet, "/assets/app.0000000000.css", http.StatusNotFound},
		{http.MethodGet, "/assets/../render.go", http.StatusNotFound},
		{http.MethodGet, "/assets/", http.StatusNotFound},
		{http.MethodPost, cssURL, http.StatusMethodNotAllowed},
		{http.MethodHead, cssURL, http.StatusOK},
	} {
		req := httptest.NewRequest(tc.method, "/", nil)
		req.URL.Path = tc.path
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.status)
		}
	}
	// A revalidation with the ETag is answered without the body.
	req := httptest.NewRequest(http.MethodGet, cssURL, nil)
	req.Header.Set("If-None-Match", `"`+strings.TrimPrefix(cssURL, AssetPrefix)+`"`)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", rec.Code)
	}
}
