package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/ory/fosite"

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

// writeFositeError renders any error from fosite or provider. Server errors
// are logged with their cause; client errors are not worth a log line.
func (s *server) writeFositeError(w http.ResponseWriter, r *http.Request, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	status := rfc.CodeField
	if status == 0 {
		status = http.StatusBadRequest
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", rfc.ErrorField, "cause", causeOf(rfc))
	}
	if d := provider.RetryAfter(err); d > 0 {
		setRetryAfter(w.Header(), d)
	}
	if rfc.ErrorField == fosite.ErrInvalidClient.ErrorField {
		if _, _, ok := r.BasicAuth(); ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="wxoidc"`)
		}
	}
	desc := rfc.DescriptionField
	if rfc.HintField != "" {
		desc += " " + rfc.HintField
	}
	writeOAuthError(w, status, rfc.ErrorField, desc)
}

func causeOf(rfc *fosite.RFC6749Error) string {
	if c := rfc.Cause(); c != nil {
		return c.Error()
	}
	return rfc.DebugField
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

// logOnly is for errors that must not reach the client at all.
func logOnly(log *slog.Logger, r *http.Request, msg string, err error) {
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		log.ErrorContext(r.Context(), msg, "path", r.URL.Path, "error", rfc.ErrorField, "cause", causeOf(rfc))
		return
	}
	log.ErrorContext(r.Context(), msg, "path", r.URL.Path, "error", err.Error())
}
