package app_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/provider"
)

// scrape returns the admin listener's /metrics body (no token needed).
func (s *admStack) scrape() string {
	s.t.Helper()
	resp, err := http.Get(s.adminURL + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("/metrics: %d %s", resp.StatusCode, raw)
	}
	return string(raw)
}

// metricValue finds one sample by name and exact label set.
func metricValue(t *testing.T, body, name, labels string) (float64, bool) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+"{"+labels+"}") + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s{%s}: %v", name, labels, err)
	}
	return v, true
}

func TestMetrics(t *testing.T) {
	s := newAdmStack(t, func(c *config.Config) { c.Keys.RotationPeriod = config.D(time.Hour) })
	mustToken(t, s.token(wechatForm(miniA, s.login(appA, "nina"), "scope", "openid")))
	mustToken(t, s.token(wechatForm(miniA, s.login(appA, "nina"), "scope", "openid")))
	if tr := s.token(wechatForm(miniA, "not-a-code")); tr.Error != "invalid_grant" {
		t.Fatalf("bad code: %d %s", tr.Status, tr.Error)
	}
	s.admJSON("GET", "/admin/v1/keys", nil, http.StatusOK, nil)
	body := s.scrape()

	want := []struct {
		name, labels string
		min          float64
	}{
		{"wxoidc_http_requests_total", `listener="public",route="/oauth2/token",status="200"`, 2},
		{"wxoidc_http_requests_total", `listener="public",route="/oauth2/token",status="400"`, 1},
		{"wxoidc_http_requests_total", `listener="admin",route="/admin/v1/keys",status="200"`, 1},
		{"wxoidc_http_request_duration_seconds_count", `listener="public",route="/oauth2/token"`, 3},
		{"wxoidc_tokens_issued_total", `client_id="` + miniA + `",grant_type="` + provider.GrantTypeWeChat + `"`, 2},
		{"wxoidc_wechat_calls_total", `api="jscode2session",outcome="0"`, 2},
		{"wxoidc_wechat_calls_total", `api="jscode2session",outcome="40029"`, 1},
		{"wxoidc_wechat_call_duration_seconds_count", `api="jscode2session"`, 3},
		{"wxoidc_signing_keys", `alg="RS256",state="current"`, 1},
		{"wxoidc_signing_keys", `alg="EdDSA",state="next"`, 1},
		{"wxoidc_signing_key_age_seconds", `alg="ES256"`, 0},
	}
	for _, w := range want {
		v, ok := metricValue(t, body, w.name, w.labels)
		if !ok || v < w.min {
			t.Errorf("%s{%s} = %v (present %v), want at least %v", w.name, w.labels, v, ok, w.min)
		}
	}
	// Fresh keys: rotation is an hour away, give or take the test's run time.
	v, ok := metricValue(t, body, "wxoidc_signing_key_next_rotation_seconds", `alg="RS256"`)
	if !ok || v < 3500 || v > 3600 {
		t.Errorf("next rotation in %v s (present %v), want about 3600", v, ok)
	}
	// The bootstrap's key changes were counted; Go runtime metrics are there.
	if v, ok := metricValue(t, body, "wxoidc_signing_key_changes_total", `alg="RS256",event="created"`); !ok || v < 2 {
		t.Errorf("key changes = %v %v", v, ok)
	}
	if !strings.Contains(body, "go_goroutines ") {
		t.Error("no Go runtime metrics")
	}
	// Route patterns, never raw paths: an unknown path is "unmatched".
	s.admDoAt(s.URL, "", "GET", "/no/such/path?token=secret", nil)
	if body := s.scrape(); strings.Contains(body, "/no/such/path") || strings.Contains(body, "secret") {
		t.Error("a raw path reached the metrics")
	}
}
