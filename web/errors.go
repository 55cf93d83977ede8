package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/wxoidc/wxoidc/provider"
)

// oauthError is an RFC 6749 §5.2 error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeOAuthError writes an RFC 6749-shaped error. It never writes internal
// detail: the description is the public hint; causes go to the log at most.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(oauthError{Error: code, Description: description})
}

// writeProviderError renders an error from provider. Server errors are
// logged with their cause; client errors are not worth a log line.
func (s *server) writeProviderError(w http.ResponseWriter, r *http.Request, err error) {
	e := provider.ErrorOf(err)
	if e.Status >= 500 && e.Status != http.StatusServiceUnavailable {
		s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", e.Code, "cause", e.Cause)
	}
	if e.RetryAfter > 0 {
		setRetryAfter(w.Header(), e.RetryAfter)
	}
	if e.Code == "invalid_client" {
		// RFC 6749 §5.2: a client that tried HTTP Basic gets the challenge.
		if _, _, ok := r.BasicAuth(); ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="wxoidc"`)
		}
	}
	writeOAuthError(w, e.Status, e.Code, e.Description)
}

// writeNoStoreJSON answers 200 with v as JSON, uncacheable: token and
// introspection responses (RFC 6749 §5.1) and UserInfo (OIDC Core §5.3.2).
func writeNoStoreJSON(w http.ResponseWriter, v interface{}) {
	body, err := json.Marshal(v)
	if err != nil {
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "Internal error.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// setRetryAfter sets Retry-After (RFC 9110 §10.2.3) for a wait of d: the
// header counts whole seconds, so d is rounded up (a client that waits less
// would be refused again), and it is at least 1 (0 invites an instant retry).
// Every Retry-After wxoidc sends goes through here.
func setRetryAfter(h http.Header, d time.Duration) {
	secs := max((d+time.Second-1)/time.Second, 1)
	h.Set("Retry-After", strconv.FormatInt(int64(secs), 10))
}

// writeBearerError answers a protected-resource request per RFC 6750 §3.
func writeBearerError(w http.ResponseWriter, status int, code, description string) {
	v := `Bearer realm="wxoidc"`
	if code != "" {
		v += `, error="` + code + `"`
		if description != "" {
			v += `, error_description="` + description + `"`
		}
	}
	w.Header().Set("WWW-Authenticate", v)
	if code == "" {
		// RFC 6750 §3.1 keeps the challenge bare when the request carried no
		// token; the body still names an error so every answer is RFC 6749-shaped.
		code, description = "invalid_token", "A bearer access token is required."
	}
	writeOAuthError(w, status, code, description)
}
