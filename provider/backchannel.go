package provider

// OpenID Connect Back-Channel Logout 1.0: when a login session ends, every
// client it signed in to that registered a backchannel_logout_uri gets a
// Logout Token (§2.4) by a direct POST (§2.5). Delivery is asynchronous and
// best effort: the person's logout never waits for a client, a bounded
// queue drops work it cannot hold, and a client that keeps failing is given
// up on after a few attempts (docs/contract.md §1.5).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/wxoidc/wxoidc/storage"
)

// BackchannelLogoutEvent is the member of a Logout Token's "events" claim
// that makes it one (OIDC Back-Channel Logout 1.0 §2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutTokenType is the "typ" header of Logout Tokens (§2.4 recommends
// explicit typing, so a Logout Token is never taken for an ID token).
const LogoutTokenType = "logout+jwt"

// Back-channel logout defaults.
const (
	defaultBackchannelQueue    = 256
	defaultBackchannelWorkers  = 2
	defaultBackchannelAttempts = 3
	// The first retry waits defaultBackchannelBackoff, each next one
	// twice as long: three attempts span 10s + 20s plus three request
	// timeouts, well within a minute.
	defaultBackchannelBackoff = 10 * time.Second
	defaultBackchannelTimeout = 5 * time.Second
	// A Logout Token is used at once or not at all; two minutes covers
	// every retry and some clock skew.
	defaultLogoutTokenLifetime = 2 * time.Minute
	// maxBackchannelBody bounds what is read of a client's answer (read
	// only so the connection can be reused).
	maxBackchannelBody = 4 << 10
)

// Outcomes reported to a BackchannelObserver.
const (
	BackchannelDelivered = "delivered" // the client answered 200 or 204
	BackchannelFailed    = "failed"    // every attempt failed, or no token could be signed
	BackchannelDropped   = "dropped"   // the queue was full or the provider closing
)

// BackchannelObserver counts back-channel logout deliveries, for metrics.
// Config.Metrics is used as one when it implements it.
type BackchannelObserver interface {
	ObserveBackchannelLogout(outcome string)
}

// BackchannelConfig tunes back-channel logout delivery; zero values take
// the defaults.
type BackchannelConfig struct {
	// HTTPClient sends the logout requests (default: a 5-second timeout).
	// Redirects are never followed, whatever the client says: the token
	// goes to the registered URI or nowhere.
	HTTPClient *http.Client
	// QueueSize bounds the deliveries waiting for a worker (default 256);
	// when it is full, new ones are dropped and logged.
	QueueSize int
	// Workers is how many deliveries run at once (default 2).
	Workers int
	// Attempts bounds the tries per client (default 3); Backoff is the
	// wait before the first retry (default 10s), doubled after each.
	Attempts int
	Backoff  time.Duration
	// TokenLifetime is the Logout Token's exp - iat (default 2 minutes).
	TokenLifetime time.Duration
	// Sleep waits d or until ctx ends (default: a timer); tests inject one.
	Sleep func(ctx context.Context, d time.Duration) error
}

// logoutJob is one Logout Token to deliver.
type logoutJob struct {
	clientID string
	uri      string
	alg      string // the client's ID-token algorithm
	sub      string
	sid      string
}

// backchannel owns the delivery queue and its workers. Workers start on
// the first job, so a Provider that never ends a login starts none.
type backchannel struct {
	cfg   BackchannelConfig
	jobs  chan logoutJob
	ctx   context.Context
	stop  context.CancelFunc
	start sync.Once
	wg    sync.WaitGroup // the workers
	// mu orders enqueue against closing, so pending.Add never races
	// pending.Wait; pending counts queued and running deliveries.
	mu       sync.Mutex
	closed   bool
	pending  sync.WaitGroup
	deliver  func(ctx context.Context, j logoutJob)
	log      *slog.Logger
	observer BackchannelObserver
}

func newBackchannel(cfg BackchannelConfig, log *slog.Logger, observer BackchannelObserver) *backchannel {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = defaultBackchannelQueue
	}
	if cfg.Workers <= 0 {
		cfg.Workers = defaultBackchannelWorkers
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = defaultBackchannelAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = defaultBackchannelBackoff
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = defaultLogoutTokenLifetime
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepContext
	}
	client := &http.Client{Timeout: defaultBackchannelTimeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		client = &c
		if client.Timeout <= 0 {
			client.Timeout = defaultBackchannelTimeout
		}
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.HTTPClient = client
	ctx, stop := context.WithCancel(context.Background())
	return &backchannel{cfg: cfg, jobs: make(chan logoutJob, cfg.QueueSize), ctx: ctx, stop: stop, log: log, observer: observer}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enqueue hands j to the workers without ever blocking the caller.
func (b *backchannel) enqueue(j logoutJob) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		b.dropped(j, "the provider is closing")
		return
	}
	b.start.Do(func() {
		for range b.cfg.Workers {
			b.wg.Add(1)
			go b.work()
		}
	})
	b.pending.Add(1)
	select {
	case b.jobs <- j:
	default:
		b.pending.Done()
		b.dropped(j, "the delivery queue is full")
	}
}

func (b *backchannel) dropped(j logoutJob, why string) {
	b.log.Warn("back-channel logout dropped", "client_id", j.clientID, "host", uriHost(j.uri), "reason", why)
	b.observe(BackchannelDropped)
}

func (b *backchannel) observe(outcome string) {
	if b.observer != nil {
		b.observer.ObserveBackchannelLogout(outcome)
	}
}

func (b *backchannel) work() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case j := <-b.jobs:
			if b.ctx.Err() != nil { // select picks at random when both are ready
				b.dropped(j, "the provider closed")
			} else {
				b.deliver(b.ctx, j)
			}
			b.pending.Done()
		}
	}
}

// close stops the workers: an attempt in flight is cancelled, and what is
// still queued is abandoned (logged as dropped). Back-channel logout is
// best effort (§2.7 lets RPs also rely on their own session expiry).
func (b *backchannel) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.stop()
	b.wg.Wait()
	for {
		select {
		case j := <-b.jobs:
			b.dropped(j, "the provider closed")
			b.pending.Done()
		default:
			return
		}
	}
}

// shutdown stops taking deliveries, lets the queued ones finish until ctx
// ends, then closes.
func (b *backchannel) shutdown(ctx context.Context) {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	idle := make(chan struct{})
	go func() { b.pending.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-ctx.Done():
	}
	b.close()
}

// Close stops the provider's background work, back-channel logout
// delivery, at once: attempts in flight are cancelled and queued ones
// dropped. Logins ended afterwards send nothing. It is safe to call more
// than once.
func (p *Provider) Close() { p.backchannel.close() }

// Shutdown is Close after letting queued back-channel logout deliveries
// finish, retries included, until ctx ends: for a graceful stop once the
// servers stopped taking requests.
func (p *Provider) Shutdown(ctx context.Context) { p.backchannel.shutdown(ctx) }

// notifyLogout queues a Logout Token for every client of the ended login
// session s that registered a back-channel logout URI. It never fails the
// logout: a client that cannot be loaded is logged and skipped.
func (p *Provider) notifyLogout(ctx context.Context, s storage.LoginSession, clientIDs []string) {
	for _, id := range clientIDs {
		fc, err := p.store.GetClient(ctx, id)
		if err != nil {
			// A deleted or disabled client has no session left to end.
			if !errors.Is(err, fosite.ErrNotFound) {
				p.log.WarnContext(ctx, "back-channel logout: cannot load client", "client_id", id, "err", err.Error())
			}
			continue
		}
		c, ok := fc.(*fositeClient)
		if !ok || c.BackchannelLogoutURI == "" {
			continue
		}
		p.backchannel.enqueue(logoutJob{clientID: c.ID, uri: c.BackchannelLogoutURI, alg: c.idTokenAlg(), sub: s.AccountID, sid: s.ID})
	}
}

// deliverLogout signs j's Logout Token and POSTs it, retrying with
// exponential backoff up to the attempt bound.
func (p *Provider) deliverLogout(ctx context.Context, j logoutJob) {
	b := p.backchannel
	// Re-checked at send time: the registration rules may have been
	// looser when the client was stored.
	if problem := webURIProblem(j.uri); problem != "" {
		p.log.Warn("back-channel logout: unusable URI", "client_id", j.clientID, "host", uriHost(j.uri), "problem", problem)
		b.observe(BackchannelFailed)
		return
	}
	token, err := p.logoutToken(ctx, j)
	if err != nil {
		p.log.Error("back-channel logout: cannot sign the logout token", "client_id", j.clientID, "err", err.Error())
		b.observe(BackchannelFailed)
		return
	}
	wait := b.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := b.post(ctx, j.uri, token)
		if err == nil {
			b.observe(BackchannelDelivered)
			return
		}
		if attempt >= b.cfg.Attempts || ctx.Err() != nil {
			p.log.Warn("back-channel logout failed; giving up", "client_id", j.clientID, "host", uriHost(j.uri), "attempts", attempt, "err", err.Error())
			b.observe(BackchannelFailed)
			return
		}
		if b.cfg.Sleep(ctx, wait) != nil {
			p.log.Warn("back-channel logout abandoned at shutdown", "client_id", j.clientID, "host", uriHost(j.uri), "attempts", attempt)
			b.observe(BackchannelFailed)
			return
		}
		wait *= 2
	}
}

// logoutToken signs j's Logout Token (§2.4) with the key that signs the
// client's ID tokens, so the client verifies it as it verifies those.
func (p *Provider) logoutToken(ctx context.Context, j logoutJob) (string, error) {
	now := p.now()
	claims := jwt.MapClaims{
		"iss":    p.issuer,
		"aud":    j.clientID,
		"iat":    now.Unix(),
		"exp":    now.Add(p.backchannel.cfg.TokenLifetime).Unix(),
		"jti":    uuid.NewString(),
		"sub":    j.sub,
		"sid":    j.sid,
		"events": map[string]any{BackchannelLogoutEvent: map[string]any{}},
	}
	header := &jwt.Headers{Extra: map[string]any{"alg": j.alg, "typ": LogoutTokenType}}
	token, _, err := p.idSigner.Generate(ctx, claims, header)
	if err != nil {
		return "", fmt.Errorf("provider: sign logout token: %w", err)
	}
	return token, nil
}

// post sends one back-channel logout request (§2.5); only 200 and 204 are
// success (§2.8). Its errors never hold the token or the full URI.
func (b *backchannel) post(ctx context.Context, uri, token string) error {
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(body))
	if err != nil {
		return errors.New("cannot build the request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.cfg.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URI
		}
		return fmt.Errorf("request failed: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBackchannelBody))
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent:
		return nil
	}
	return errors.New("answered HTTP " + strconv.Itoa(resp.StatusCode))
}

// uriHost is what logs say of a back-channel URI: its host only (a path or
// query might carry something the client considers private).
func uriHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Host
}
