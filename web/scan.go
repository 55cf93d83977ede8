package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/web/internal/pages"
)

// PathScan is the prefix of a scan ticket's endpoints (docs/contract.md
// §1.6): GET PathScan+ticket is its status, POST the mini-program's action.
const PathScan = "/oauth2/scan/"

// maxScanWait bounds a long poll: proxies commonly cut idle requests at 30 s.
const maxScanWait = 25 * time.Second

// mountScan adds the scan ticket endpoints.
func (si *signin) mountScan(r chi.Router) {
	r.Get(PathScan+"{ticket}", si.handleScanStatus)
	r.Post(PathScan+"{ticket}", si.handleScanAction)
	r.Get(PathScan+"{ticket}/image", si.handleScanImage)
	r.Get(PathScan+"{ticket}/continue", si.handleScanContinue)
}

func scanURL(ticket, suffix string) string {
	return PathScan + url.PathEscape(ticket) + suffix
}

// scanTicketJSON describes a fresh ticket to the scan page's script (the
// renew answer of pages.ScanPage).
type scanTicketJSON struct {
	ImageURL    string `json:"image_url"`
	StatusURL   string `json:"status_url"`
	ContinueURL string `json:"continue_url"`
	RenewURL    string `json:"renew_url"`
	ExpiresIn   int    `json:"expires_in"`
}

// showScan starts a scan sign-in for req and shows its code: as the scan
// page, or as JSON when the page's script asks for a fresh code.
func (si *signin) showScan(w http.ResponseWriter, r *http.Request, req *provider.AuthorizeRequest, app provider.BrowserApp, loc pages.Locale) {
	secret := si.browserSecret(w, r)
	t, err := si.p.StartScan(r.Context(), req, app, secret)
	wantJSON := acceptsJSON(r)
	renew := loginStartURL(provider.LoginMethodMiniProgramScan, req)
	if errors.Is(err, provider.ErrScanUnavailable) {
		if wantJSON {
			w.Header().Set("Retry-After", "5")
			writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The mini-program code cannot be made right now.")
			return
		}
		si.render(w, r, http.StatusServiceUnavailable, pages.ErrorPage{
			Locale: loc, Kind: pages.ErrScanUnavailable, ClientName: req.ClientName,
			RetryURL: renew, Others: si.otherMethods(r, req, provider.LoginMethodMiniProgramScan), Code: "temporarily_unavailable",
		})
		return
	}
	if err != nil {
		if wantJSON {
			writeOAuthError(w, http.StatusInternalServerError, "server_error", "The sign-in could not be started.")
			si.log.logError(r, "start scan sign-in", err)
			return
		}
		si.authorizeFailed(w, r, loc, err)
		return
	}
	tj := scanTicketJSON{
		ImageURL:    scanURL(t.ID, "/image"),
		StatusURL:   scanURL(t.ID, ""),
		ContinueURL: scanURL(t.ID, "/continue"),
		RenewURL:    renew,
		ExpiresIn:   int(t.ExpiresIn / time.Second),
	}
	if wantJSON {
		writeJSON(w, http.StatusOK, tj)
		return
	}
	si.render(w, r, http.StatusOK, pages.ScanPage{
		Locale:      loc,
		ClientName:  req.ClientName,
		ImageURL:    tj.ImageURL,
		StatusURL:   tj.StatusURL,
		ContinueURL: tj.ContinueURL,
		RenewURL:    tj.RenewURL,
		ExpiresIn:   tj.ExpiresIn,
		Scopes:      req.Scopes,
		Others:      si.otherMethods(r, req, provider.LoginMethodMiniProgramScan),
	})
}

func acceptsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/json" {
			return true
		}
	}
	return false
}

// ticketOf reads the {ticket} path parameter (the provider refuses what
// cannot be one).
func ticketOf(r *http.Request) string { return chi.URLParam(r, "ticket") }

// handleScanStatus answers the scan page's script: the ticket's status at
// once, or with ?wait=N after holding the request until it changes.
func (si *signin) handleScanStatus(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if len(q) > 2 || len(q["wait"]) > 1 {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Unexpected parameters.")
		return
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxScanWait {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The 'wait' parameter must be a number of seconds from 0 to 25.")
			return
		}
		wait = time.Duration(n) * time.Second
	}
	id := ticketOf(r)
	secret := cookieValue(r, cookieBrowser)
	// Check at once; a long wait then goes on without this goroutine.
	status, err := si.p.ScanStatus(r.Context(), id, secret, 0)
	if err == nil && wait > 0 && (status == provider.ScanPending || status == provider.ScanScanned) {
		if si.waitDetached(w, r, id, status, wait) {
			return
		}
		// HTTP/2 has no connection to take over: wait here.
		status, err = si.p.ScanStatus(r.Context(), id, secret, wait)
	}
	switch {
	case errors.Is(err, provider.ErrScanNotFound):
		writeOAuthError(w, http.StatusNotFound, "invalid_ticket", "No such sign-in code for this browser, or it expired.")
		return
	case err != nil:
		si.scanServerError(w, r, err)
		return
	}
	if r.Context().Err() != nil {
		return // the browser left
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(scanStatusBody(id, status))
}

// scanStatusBody is the status answer's JSON.
func scanStatusBody(id, status string) []byte {
	out := map[string]string{"status": status}
	if status == provider.ScanApproved {
		out["continue_url"] = scanURL(id, "/continue")
	}
	b, _ := json.Marshal(out)
	return append(b, '\n')
}

// waitDetached takes the HTTP/1 connection over and leaves the wait to the
// provider (WatchScan), which answers on the connection when the status
// changes or the wait ends; no goroutine is held meanwhile, so ten thousand
// waiting browsers cost their sockets and timers only. A browser that
// leaves is noticed within the provider's poll interval. It reports false
// when the connection cannot be taken over (HTTP/2), having written nothing.
func (si *signin) waitDetached(w http.ResponseWriter, r *http.Request, id, seen string, wait time.Duration) bool {
	if r.ProtoMajor != 1 {
		return false
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	// The headers set so far (security headers, no-store) go out with the
	// answer; the request had no body and nothing else is read.
	h := w.Header().Clone()
	brw.Reader.Reset(nil)
	answer := func(status string) {
		defer conn.Close()
		body := scanStatusBody(id, status)
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Set("Connection", "close")
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		var b strings.Builder
		b.WriteString("HTTP/1.1 200 OK\r\n")
		_ = h.Write(&b)
		b.WriteString("\r\n")
		b.Write(body)
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(conn, b.String())
	}
	si.p.WatchScan(id, seen, wait, provider.ScanWatch{
		Answer: answer,
		Gone:   func() bool { return connGone(conn) },
		Drop:   func() { _ = conn.Close() },
	})
	return true
}

func (si *signin) scanServerError(w http.ResponseWriter, r *http.Request, err error) {
	e := provider.ErrorOf(err)
	if e.Status == http.StatusServiceUnavailable {
		setRetryAfter(w.Header(), e.RetryAfter)
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
		return
	}
	si.log.logError(r, "scan sign-in", err)
	writeOAuthError(w, http.StatusInternalServerError, "server_error", "The server failed.")
}

// handleScanImage serves a ticket's code to the browser that shows it.
// The image comes from WeChat through us: WeChat's URL would carry our
// app access token.
func (si *signin) handleScanImage(w http.ResponseWriter, r *http.Request) {
	img, err := si.p.ScanImage(r.Context(), ticketOf(r), cookieValue(r, cookieBrowser))
	switch {
	case errors.Is(err, provider.ErrScanNotFound):
		http.Error(w, "not found", http.StatusNotFound)
		return
	case errors.Is(err, provider.ErrScanUnavailable):
		w.Header().Set("Retry-After", "5")
		http.Error(w, "the code is unavailable", http.StatusServiceUnavailable)
		return
	case err != nil:
		si.log.logError(r, "scan code image", err)
		http.Error(w, "server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", img.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(img.Bytes)))
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(img.Bytes)
}

// maxScanActionBody bounds the mini-program's action request.
const maxScanActionBody = 4 << 10

// handleScanAction takes the mini-program's action on a ticket, with its
// user's access token as the Bearer credential (RFC 6750 §2.1). The
// action comes as a form field or a JSON member (wx.request sends JSON by
// default).
func (si *signin) handleScanAction(w http.ResponseWriter, r *http.Request) {
	token, isBearer := bearerToken(r)
	if !isBearer {
		writeBearerError(w, http.StatusUnauthorized, "", "")
		return
	}
	if token == "" {
		writeBearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is malformed.")
		return
	}
	action, ok := scanActionOf(w, r)
	if !ok {
		return
	}
	st, err := si.p.ScanAction(r.Context(), ticketOf(r), action, token)
	switch {
	case errors.Is(err, provider.ErrScanAction):
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The 'action' must be scanned, approve or deny.")
	case errors.Is(err, provider.ErrScanToken):
		writeBearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is not valid for a signed-in person.")
	case errors.Is(err, provider.ErrScanWrongApp):
		writeBearerError(w, http.StatusForbidden, "insufficient_scope", "The access token's client is not bound to the mini-program that shows this code.")
	case errors.Is(err, provider.ErrScanNotFound):
		writeOAuthError(w, http.StatusNotFound, "invalid_ticket", "No such sign-in code, or it expired.")
	case errors.Is(err, provider.ErrScanDone):
		writeOAuthError(w, http.StatusConflict, "ticket_decided", "This sign-in was already approved or cancelled.")
	case errors.Is(err, provider.ErrScanOtherAccount):
		writeOAuthError(w, http.StatusConflict, "ticket_taken", "Another person scanned this code first.")
	case err != nil:
		si.scanServerError(w, r, err)
	default:
		out := map[string]any{"status": st.Status, "client_id": st.ClientID, "client_name": st.ClientName, "scope": strings.Join(st.Scopes, " ")}
		writeJSON(w, http.StatusOK, out)
	}
}

// scanActionOf reads the action from a form or JSON body; on failure it has
// answered.
func scanActionOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxScanActionBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		var body struct {
			Action string `json:"action"`
		}
		raw, err := io.ReadAll(r.Body)
		if err == nil {
			err = json.Unmarshal(raw, &body)
		}
		if err != nil {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The body must be a JSON object with an 'action'.")
			return "", false
		}
		return body.Action, true
	}
	if err := r.ParseForm(); err != nil || len(r.PostForm["action"]) > 1 || len(r.PostForm) > 4 {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The body must be a form with one 'action'.")
		return "", false
	}
	return r.PostForm.Get("action"), true
}

// handleScanContinue is where the scan page sends the browser once its
// ticket was approved: the browser signs in as the person who approved,
// and the authorization request goes on (consent, then the code).
func (si *signin) handleScanContinue(w http.ResponseWriter, r *http.Request) {
	loc := si.locale(r, "")
	req, accountID, appID, err := si.p.FinishScan(r.Context(), ticketOf(r), cookieValue(r, cookieBrowser))
	switch {
	case errors.Is(err, provider.ErrScanNotFound):
		si.errorPage(w, r, http.StatusBadRequest, pages.ErrFlowExpired, loc, "", "invalid_request")
		return
	case errors.Is(err, provider.ErrScanNotApproved), errors.Is(err, provider.ErrScanDone):
		si.errorPage(w, r, http.StatusBadRequest, pages.ErrFlowExpired, loc, "", "invalid_request")
		return
	case errors.Is(err, provider.ErrAccountDisabled):
		si.errorPage(w, r, http.StatusForbidden, pages.ErrAccountDisabled, loc, "", "access_denied")
		return
	case err != nil:
		si.authorizeFailed(w, r, loc, err)
		return
	}
	loc = si.locale(r, req.UILocales)
	si.signedIn(w, r, req, accountID, appID, loc)
}

// otherMethods are the ways in offered next to the one shown (except).
func (si *signin) otherMethods(r *http.Request, req *provider.AuthorizeRequest, except string) []pages.LoginMethod {
	var out []pages.LoginMethod
	for _, m := range si.loginMethods(r, req) {
		if m.Kind != except {
			out = append(out, m)
		}
	}
	return out
}
