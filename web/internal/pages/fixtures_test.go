package pages

import "net/http"

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
		{"error-unknown_client", http.StatusBadRequest, ErrorPage{Locale: loc, Kind: ErrUnknownClient, Code: "invalid_client"}},
		{"logged-out", http.StatusOK, LoggedOutPage{Locale: loc, ClientName: "Grafana", ReturnURL: "https://grafana.example.com/"}},
		{"logout-confirm", http.StatusOK, LogoutConfirmPage{
			Locale: loc, ClientName: "Grafana", Action: "/oauth2/logout", Fields: csrf,
			ReturnURL: "https://grafana.example.com/",
		}},
	}
}
