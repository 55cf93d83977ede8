package provider

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
)

// PC sign-in by scanning a mini-program code (docs/contract.md §1.6).

// scanLifetime is how long a ticket, and so its code, can be used.
const scanLifetime = 2 * time.Minute

// Scan statuses as the browser and the mini-program see them: the
// storage statuses, with "used" shown as approved and expiry as its own
// status.
const (
	ScanPending  = string(storage.ScanPending)
	ScanScanned  = string(storage.ScanScanned)
	ScanApproved = string(storage.ScanApproved)
	ScanDenied   = string(storage.ScanDenied)
	ScanExpired  = "expired"
)

// The actions the mini-program takes on a ticket.
const (
	ScanActionScanned = "scanned"
	ScanActionApprove = "approve"
	ScanActionDeny    = "deny"
)

// Errors of the scan steps; web turns them into pages and JSON answers.
var (
	// ErrScanNotFound: no such ticket, it expired, or it belongs to
	// another browser (one answer for all three, so that a guess learns
	// nothing).
	ErrScanNotFound = errors.New("provider: scan ticket not found or expired")
	// ErrScanNotApproved: the browser asked to sign in with a ticket nobody
	// approved.
	ErrScanNotApproved = errors.New("provider: scan ticket not approved")
	// ErrScanDone: the ticket was already approved, denied or used.
	ErrScanDone = errors.New("provider: scan ticket already decided")
	// ErrScanOtherAccount: someone else scanned the ticket first.
	ErrScanOtherAccount = errors.New("provider: scan ticket was scanned by another person")
	// ErrScanWrongApp: the access token's client is not bound to the
	// mini-program whose code shows the ticket.
	ErrScanWrongApp = errors.New("provider: access token is not of the ticket's mini-program")
	// ErrScanToken: the bearer token is not a live access token of a
	// person's mini-program sign-in (unknown, expired, revoked, a refresh
	// token, a client's own token, or of a disabled account).
	ErrScanToken = errors.New("provider: invalid access token")
	// ErrScanAction: an action that is not scanned, approve or deny.
	ErrScanAction = errors.New("provider: unknown scan action")
	// ErrScanUnavailable: WeChat could not make the code (busy, quota, a
	// page it does not know); the person should take another way in.
	ErrScanUnavailable = errors.New("provider: the mini-program code is unavailable")
)

// WeChatCode makes mini-program codes (docs/wechat.md §6.3);
// *wechat.Client and *Upstream implement it.
type WeChatCode interface {
	UnlimitedCode(ctx context.Context, app wechat.App, req wechat.CodeRequest) (wechat.CodeImage, error)
}

// ScanCode says which page of a mini-program its sign-in codes open, and
// in which version.
type ScanCode struct {
	Page       string // e.g. "pages/scan/index"; "" is the home page
	EnvVersion string // wechat.EnvRelease (default), EnvTrial or EnvDevelop
}

// ScanTicket is a started scan sign-in: the ticket to show and when it
// stops working.
type ScanTicket struct {
	ID        string
	ExpiresAt time.Time
	ExpiresIn time.Duration // ExpiresAt by the provider's clock, as a lifetime
}

// ScanState is a ticket as the mini-program sees it after an action: what
// it may show on its confirm screen.
type ScanState struct {
	Status     string
	ClientID   string
	ClientName string
	Scopes     []string
}

// StartScan makes a ticket for r, bound to the browser holding
// browserSecret, and asks WeChat for the mini-program code that shows it.
// The code is fetched before the ticket is stored, so a failing WeChat
// leaves nothing behind; ErrScanUnavailable then says to take another way
// in.
func (p *Provider) StartScan(ctx context.Context, r *AuthorizeRequest, app BrowserApp, browserSecret string) (ScanTicket, error) {
	if browserSecret == "" {
		return ScanTicket{}, errors.New("provider: no browser secret")
	}
	if app.Kind != AppKindMiniProgram {
		return ScanTicket{}, fmt.Errorf("provider: app %s of kind %q has no mini-program code", app.AppID, app.Kind)
	}
	id := randomAlnum() // 26 characters of [A-Z2-7]: a valid scene
	now := p.now().UTC()
	t := storage.ScanTicket{
		ID:          id,
		BrowserHash: []byte(hashToken(browserSecret)),
		ClientID:    r.ClientID,
		AppID:       app.AppID,
		Request:     r.Query.Encode(),
		Status:      storage.ScanPending,
		CreatedAt:   now,
		UpdatedAt:   now,
		ExpiresAt:   now.Add(scanLifetime),
	}
	if _, err := p.scanImage(ctx, t); err != nil {
		return ScanTicket{}, err
	}
	if err := p.store.db.CreateScanTicket(ctx, t); err != nil {
		p.scanImages.drop(id)
		return ScanTicket{}, fmt.Errorf("provider: create scan ticket: %w", storageError(err))
	}
	return ScanTicket{ID: id, ExpiresAt: t.ExpiresAt, ExpiresIn: scanLifetime}, nil
}

// scanImage returns the code of ticket t: from this instance's cache, or
// from WeChat (another instance may have made the ticket; a code for the
// same scene is the same code).
func (p *Provider) scanImage(ctx context.Context, t storage.ScanTicket) (wechat.CodeImage, error) {
	if img, ok := p.scanImages.get(t.ID, p.now()); ok {
		return img, nil
	}
	if p.codes == nil {
		return wechat.CodeImage{}, fmt.Errorf("%w: no WeChat client makes mini-program codes", ErrScanUnavailable)
	}
	secret, ok := p.apps[t.AppID]
	if !ok {
		return wechat.CodeImage{}, fmt.Errorf("%w: WeChat app %s is not configured", ErrScanUnavailable, t.AppID)
	}
	sc := p.scanCodes[t.AppID]
	img, err := p.codes.UnlimitedCode(ctx, secret, wechat.CodeRequest{
		Scene:         t.ID,
		Page:          sc.Page,
		EnvVersion:    sc.EnvVersion,
		SkipPathCheck: sc.EnvVersion != "" && sc.EnvVersion != wechat.EnvRelease,
	})
	if err != nil {
		var answered *retryLaterError
		switch {
		case errors.As(err, &answered), errors.Is(err, wechat.ErrRateLimited), errors.Is(err, wechat.ErrBusy), errors.Is(err, wechat.ErrTransport):
			p.log.WarnContext(ctx, "wechat mini-program code unavailable", "appid", t.AppID, "err", err.Error())
		default:
			p.log.ErrorContext(ctx, "wechat mini-program code failed", "appid", t.AppID, "err", err.Error())
		}
		return wechat.CodeImage{}, fmt.Errorf("%w: %w", ErrScanUnavailable, err)
	}
	p.scanImages.put(t.ID, img, t.ExpiresAt, p.now())
	return img, nil
}

// ScanImage returns the code image of a ticket, for the browser that
// shows it.
func (p *Provider) ScanImage(ctx context.Context, id, browserSecret string) (wechat.CodeImage, error) {
	t, err := p.browserTicket(ctx, id, browserSecret)
	if err != nil {
		return wechat.CodeImage{}, err
	}
	return p.scanImage(ctx, t)
}

// browserTicket reads a live ticket for the browser holding browserSecret.
func (p *Provider) browserTicket(ctx context.Context, id, browserSecret string) (storage.ScanTicket, error) {
	if !wellFormedTicket(id) || browserSecret == "" || len(browserSecret) > 256 {
		return storage.ScanTicket{}, ErrScanNotFound
	}
	t, err := p.store.db.GetScanTicket(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.ScanTicket{}, ErrScanNotFound
	}
	if err != nil {
		return storage.ScanTicket{}, storageError(err)
	}
	if subtle.ConstantTimeCompare(t.BrowserHash, []byte(hashToken(browserSecret))) != 1 {
		return storage.ScanTicket{}, ErrScanNotFound
	}
	return t, nil
}

// wellFormedTicket rejects what cannot be a ticket (not a scene WeChat
// would take) before storage sees it.
func wellFormedTicket(id string) bool { return wechat.ValidScene(id) }

// scanStatus is the status of t at now as the browser sees it.
func scanStatus(t storage.ScanTicket, now time.Time) string {
	if t.Status == storage.ScanUsed {
		return ScanApproved
	}
	if t.Status != storage.ScanApproved && !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return ScanExpired
	}
	return string(t.Status)
}

// ScanStatus returns the status of a ticket to the browser that shows it.
// With wait > 0, a pending or scanned ticket is watched until its status
// changes, it expires, wait passes or ctx ends (the browser left), and
// the status then is returned. A change made on another instance is seen
// within the poll interval (scanHub).
func (p *Provider) ScanStatus(ctx context.Context, id, browserSecret string, wait time.Duration) (string, error) {
	t, err := p.browserTicket(ctx, id, browserSecret)
	if err != nil {
		return "", err
	}
	status := scanStatus(t, p.now())
	if wait <= 0 || (status != ScanPending && status != ScanScanned) {
		return status, nil
	}
	w, woken := chanWaiter(t.ExpiresAt)
	if !p.scans.watch(id, w) {
		return status, nil // shutting down: the browser asks again
	}
	defer p.scans.unwatch(id, w)
	// Read again after watching: a change between the first read and the
	// watch would otherwise be missed until the next one.
	if status, err = p.readStatus(ctx, id, status); err != nil || (status != ScanPending && status != ScanScanned) {
		return status, err
	}
	deadline := time.NewTimer(p.scanWaitFor(t, wait))
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			return status, nil
		case <-p.scans.done:
			return status, nil
		case <-deadline.C:
			return p.readStatus(ctx, id, status)
		case <-woken:
			next, err := p.readStatus(ctx, id, status)
			if err != nil || next != status {
				return next, err
			}
		}
	}
}

// ScanWatch is how WatchScan answers a waiting browser without holding a
// goroutine for it.
type ScanWatch struct {
	// Answer is called once, on another goroutine, with the status to send.
	Answer func(status string)
	// Gone, if set, reports whether the browser left; it is asked once per
	// poll interval, and a browser that left is dropped without an answer.
	Gone func() bool
	// Drop, if set, is called instead of Answer when the browser left.
	Drop func()
}

// WatchScan is ScanStatus with a wait, for a browser whose connection the
// caller took over: the ticket is watched from seen, the status the caller
// already read and checked for this browser (ScanStatus without a wait),
// and watch.Answer gets the status once it changes, the ticket expires,
// wait passes, or the server shuts down. No goroutine waits meanwhile: ten
// thousand waiting browsers cost their timers and connections only.
func (p *Provider) WatchScan(id, seen string, wait time.Duration, watch ScanWatch) {
	ctx := context.Background()
	var (
		done  atomic.Bool
		timer atomic.Pointer[time.Timer]
		w     = &scanWaiter{gone: watch.Gone}
	)
	finish := func(status string, answered bool) {
		if !done.CompareAndSwap(false, true) {
			return
		}
		p.scans.unwatch(id, w)
		if t := timer.Load(); t != nil {
			t.Stop()
		}
		if answered {
			go watch.Answer(status)
		} else if watch.Drop != nil {
			go watch.Drop()
		}
	}
	recheck := func(final bool) {
		if done.Load() {
			return
		}
		go func() {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			status, err := p.readStatus(rctx, id, seen)
			if err != nil {
				p.log.Warn("scan status read failed", "err", err.Error())
				status = seen
			}
			if final || status != seen {
				finish(status, true)
			}
		}()
	}
	w.wake = func() { recheck(false) }
	w.end = func() {
		if w.gone != nil && w.gone() {
			finish("", false)
			return
		}
		finish(seen, true)
	}
	t, err := p.store.db.GetScanTicket(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		finish(ScanExpired, true)
		return
	case err != nil:
		// Storage failing: the browser is told what it knew and asks again.
		p.log.Warn("scan ticket read failed", "err", err.Error())
		finish(seen, true)
		return
	}
	w.expires = t.ExpiresAt
	if !p.scans.watch(id, w) {
		finish(seen, true)
		return
	}
	timer.Store(time.AfterFunc(p.scanWaitFor(t, wait), func() { recheck(true) }))
	if done.Load() {
		timer.Load().Stop() // finished before the timer existed
	}
	// A change between the caller's read and the watch is seen here.
	if status := scanStatus(t, p.now()); status != seen {
		finish(status, true)
	}
}

// scanWaitFor is how long a wait on t lasts: wait, or until just after t
// expires, whichever comes first.
func (p *Provider) scanWaitFor(t storage.ScanTicket, wait time.Duration) time.Duration {
	return min(wait, t.ExpiresAt.Sub(p.now())+10*time.Millisecond)
}

// readStatus reads a ticket's status again (prev when it is gone in a way
// that is not an answer: ctx ended).
func (p *Provider) readStatus(ctx context.Context, id, prev string) (string, error) {
	t, err := p.store.db.GetScanTicket(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ScanExpired, nil
	case err != nil && ctx.Err() != nil:
		return prev, nil
	case err != nil:
		return "", storageError(err)
	}
	return scanStatus(t, p.now()), nil
}

// ScanAction takes the mini-program's action on a ticket: scanned when it
// opened with the ticket, then approve or deny when the person tapped.
// accessToken must be a live access token of a person signed in to a
// client bound to the ticket's mini-program.
func (p *Provider) ScanAction(ctx context.Context, id, action, accessToken string) (ScanState, error) {
	var to storage.ScanStatus
	switch action {
	case ScanActionScanned:
		to = storage.ScanScanned
	case ScanActionApprove:
		to = storage.ScanApproved
	case ScanActionDeny:
		to = storage.ScanDenied
	default:
		return ScanState{}, ErrScanAction
	}
	accountID, appID, err := p.scanner(ctx, accessToken)
	if err != nil {
		return ScanState{}, err
	}
	if !wellFormedTicket(id) {
		return ScanState{}, ErrScanNotFound
	}
	t, err := p.store.db.GetScanTicket(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ScanState{}, ErrScanNotFound
	case err != nil:
		return ScanState{}, storageError(err)
	case t.AppID != appID:
		return ScanState{}, ErrScanWrongApp
	}
	updated, err := p.store.db.UpdateScanTicket(ctx, id, []storage.ScanStatus{storage.ScanPending, storage.ScanScanned}, to, accountID, p.now().UTC())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ScanState{}, ErrScanNotFound
	case errors.Is(err, storage.ErrConflict):
		// Tell "someone else scanned it" from "it is decided".
		if cur, gerr := p.store.db.GetScanTicket(ctx, id); gerr == nil && (cur.Status == storage.ScanPending || cur.Status == storage.ScanScanned) {
			return ScanState{}, ErrScanOtherAccount
		}
		return ScanState{}, ErrScanDone
	case err != nil:
		return ScanState{}, storageError(err)
	}
	p.scans.notify(id)
	st := ScanState{Status: scanStatus(updated, p.now()), ClientID: updated.ClientID}
	if form, err := url.ParseQuery(updated.Request); err == nil {
		st.Scopes = strings.Fields(form.Get("scope"))
	}
	if c, err := p.store.GetClient(ctx, updated.ClientID); err == nil {
		st.ClientName = c.(*fositeClient).Name
	}
	return st, nil
}

// scanner verifies the mini-program's bearer token and returns the account
// and the mini-program appid it speaks for.
func (p *Provider) scanner(ctx context.Context, accessToken string) (accountID, appID string, err error) {
	if accessToken == "" || len(accessToken) > 4096 {
		return "", "", ErrScanToken
	}
	tu, req, err := p.oauth.IntrospectToken(ctx, accessToken, fosite.AccessToken, newSession())
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		if rfc.CodeField >= 500 && !errors.Is(err, fosite.ErrNotFound) && rfc.ErrorField == fosite.ErrServerError.ErrorField {
			return "", "", err
		}
		return "", "", ErrScanToken
	}
	// fosite falls back to a refresh-token lookup whatever use it is
	// asked for: a refresh token is not a bearer credential (RFC 6749 §10.4).
	if tu != fosite.AccessToken {
		return "", "", ErrScanToken
	}
	sess, ok := req.GetSession().(*session)
	if !ok || !sess.authenticatedUser() {
		return "", "", ErrScanToken
	}
	c, ok := req.GetClient().(*fositeClient)
	if !ok || c.WeChatAppID == "" {
		return "", "", ErrScanWrongApp
	}
	acc, err := p.store.db.GetAccount(ctx, sess.GetSubject())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "", "", ErrScanToken
	case err != nil:
		return "", "", storageError(err)
	case acc.Disabled:
		return "", "", ErrScanToken
	}
	return acc.ID, c.WeChatAppID, nil
}

// FinishScan is the browser's step once its ticket was approved: the
// ticket is used (once: a second call gets ErrScanDone), and the
// authorization request it serves comes back, re-validated, with the
// account that approved it and the mini-program it was approved from.
func (p *Provider) FinishScan(ctx context.Context, id, browserSecret string) (r *AuthorizeRequest, accountID, appID string, err error) {
	t, err := p.browserTicket(ctx, id, browserSecret)
	if err != nil {
		return nil, "", "", err
	}
	used, err := p.store.db.UpdateScanTicket(ctx, id, []storage.ScanStatus{storage.ScanApproved}, storage.ScanUsed, "", p.now().UTC())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, "", "", ErrScanNotFound
	case errors.Is(err, storage.ErrConflict):
		if t.Status == storage.ScanUsed {
			return nil, "", "", ErrScanDone
		}
		return nil, "", "", ErrScanNotApproved
	case err != nil:
		return nil, "", "", storageError(err)
	}
	p.scans.notify(id)
	acc, err := p.store.db.GetAccount(ctx, used.AccountID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, "", "", ErrAccountDisabled
	case err != nil:
		return nil, "", "", storageError(err)
	case acc.Disabled:
		return nil, "", "", ErrAccountDisabled
	}
	form, err := url.ParseQuery(used.Request)
	if err != nil {
		return nil, "", "", fmt.Errorf("provider: stored scan request: %w", err)
	}
	r, err = p.ParseAuthorize(ctx, form, used.CreatedAt)
	if err != nil {
		return nil, "", "", err
	}
	return r, acc.ID, used.AppID, nil
}
