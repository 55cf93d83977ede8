package pages

import (
	"bytes"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"net/http"
)

// sample is one page to render in tests, with the status it is sent with.
type sample struct {
	name   string
	status int
	page   Page
}

// samples lists every page kind (and the error kinds people meet most) in
// locale loc, filled as the web package will fill them.
func samples(loc Locale) []sample {
	csrf := []Field{{Name: "request", Value: "eyJhbGciOi.request.state"}, {Name: "csrf", Value: "Zm9vYmFyYmF6"}}
	return []sample{
		{"login", http.StatusOK, LoginPage{
			Locale: loc, ClientName: "Grafana",
			Methods: []LoginMethod{
				{Kind: MethodWebsiteQR, URL: "/oauth2/wechat/start?method=website_qr"},
				{Kind: MethodMiniProgramScan, URL: "/oauth2/wechat/start?method=miniprogram_scan"},
			},
			Scopes:     []string{"openid", "phone", "offline_access"},
			PrivacyURL: "https://grafana.example.com/privacy",
		}},
		{"login-wechat", http.StatusOK, LoginPage{
			Locale: loc, ClientName: "示例商城",
			Methods: []LoginMethod{{Kind: MethodOfficialAccount, URL: "/oauth2/wechat/start?method=official_account"}},
			Scopes:  []string{"openid", "wechat"},
		}},
		{"scan", http.StatusOK, ScanPage{
			Locale: loc, ClientName: "Grafana",
			ImageURL:  "/oauth2/scan/code/t1.png",
			StatusURL: "/oauth2/scan/status/t1", ContinueURL: "/oauth2/scan/continue/t1", RenewURL: "/oauth2/scan/renew?x=1",
			ExpiresIn:  300,
			Scopes:     []string{"openid", "phone"},
			Others:     []LoginMethod{{Kind: MethodWebsiteQR, URL: "/oauth2/wechat/start?method=website_qr"}},
			PrivacyURL: "https://grafana.example.com/privacy",
		}},
		{"scan-unnamed", http.StatusOK, ScanPage{
			Locale: loc, ImageURL: "/oauth2/scan/code/t2.png",
			StatusURL: "/oauth2/scan/status/t2", ContinueURL: "/oauth2/scan/continue/t2", RenewURL: "/oauth2/scan/renew",
			ExpiresIn: 300,
		}},
		{"consent", http.StatusOK, ConsentPage{
			Locale: loc, ClientName: "Grafana",
			Scopes: []string{"openid", "phone", "wechat", "offline_access"},
			Action: "/oauth2/consent", Fields: csrf,
		}},
		{"error-bad_request", http.StatusBadRequest, ErrorPage{
			Locale: loc, Kind: ErrBadRequest, ClientName: "Grafana",
			BackURL: "https://grafana.example.com/", Code: "invalid_request",
		}},
		{"error-flow_expired", http.StatusBadRequest, ErrorPage{
			Locale: loc, Kind: ErrFlowExpired, ClientName: "Grafana",
			RetryURL: "/oauth2/authorize?client_id=grafana", BackURL: "https://grafana.example.com/",
		}},
		{"error-snapshot_user", http.StatusForbidden, ErrorPage{Locale: loc, Kind: ErrSnapshotUser}},
		{"error-wechat_unavailable", http.StatusServiceUnavailable, ErrorPage{
			Locale: loc, Kind: ErrWeChatUnavailable, ClientName: "示例商城",
			RetryURL: "/oauth2/authorize?client_id=shop", Code: "temporarily_unavailable",
		}},
		{"error-scan_unavailable", http.StatusServiceUnavailable, ErrorPage{
			Locale: loc, Kind: ErrScanUnavailable, ClientName: "Grafana",
			RetryURL: "/oauth2/scan/renew", Code: "temporarily_unavailable",
			Others: []LoginMethod{{Kind: MethodWebsiteQR, URL: "/oauth2/wechat/start?method=website_qr"}, {Kind: MethodOfficialAccount, URL: "/oauth2/wechat/start?method=official_account"}},
		}},
		{"error-unknown_client", http.StatusBadRequest, ErrorPage{Locale: loc, Kind: ErrUnknownClient, Code: "invalid_client"}},
		{"logged-out", http.StatusOK, LoggedOutPage{Locale: loc, ClientName: "Grafana", ReturnURL: "https://grafana.example.com/"}},
		{"logout-confirm", http.StatusOK, LogoutConfirmPage{
			Locale: loc, ClientName: "Grafana", Action: "/oauth2/logout", Fields: csrf,
			ReturnURL: "https://grafana.example.com/",
		}},
	}
}

// fakeCode draws a stand-in for a mini-program code, different per name, so
// screenshots look like the real page and a swapped image is visibly new.
func fakeCode(name string) []byte {
	const modules, scale = 29, 12
	h := fnv.New64a()
	h.Write([]byte(name))
	seed := h.Sum64()
	img := image.NewGray(image.Rect(0, 0, (modules+4)*scale, (modules+4)*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	dark := func(x, y int) bool {
		finder := func(fx, fy int) (bool, bool) {
			dx, dy := x-fx, y-fy
			if dx < 0 || dy < 0 || dx > 6 || dy > 6 {
				return false, false
			}
			ring := dx == 0 || dy == 0 || dx == 6 || dy == 6
			core := dx >= 2 && dx <= 4 && dy >= 2 && dy <= 4
			return true, ring || core
		}
		for _, f := range [][2]int{{0, 0}, {modules - 7, 0}, {0, modules - 7}} {
			if in, on := finder(f[0], f[1]); in {
				return on
			}
		}
		seed = seed*6364136223846793005 + 1442695040888963407
		return seed>>62 == 0 || seed>>63 == 1 && (x+y)%3 == 0
	}
	for y := range modules {
		for x := range modules {
			if !dark(x, y) {
				continue
			}
			for py := range scale {
				for px := range scale {
					img.SetGray((x+2)*scale+px, (y+2)*scale+py, color.Gray{Y: 0x11})
				}
			}
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

// serveScanFixtures answers the scan samples' code images, and their status
// long-polls by holding them until the browser leaves the page or done is
// closed: the samples stay pending, as a person who has not scanned yet.
func serveScanFixtures(mux *http.ServeMux, done <-chan struct{}) {
	mux.HandleFunc("GET /oauth2/scan/code/{name}", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(fakeCode(req.PathValue("name")))
	})
	mux.HandleFunc("GET /oauth2/scan/status/{ticket}", func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-req.Context().Done():
		case <-done:
		}
	})
}
