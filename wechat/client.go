package wechat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is WeChat's general API host (docs/wechat.md §10).
const DefaultBaseURL = "https://api.weixin.qq.com"

// Defaults for Config's zero values.
const (
	DefaultCallTimeout        = 5 * time.Second
	DefaultMaxResponseBytes   = 1 << 20
	DefaultTokenRefreshMargin = 3 * time.Minute
	DefaultRetryBackoff       = 100 * time.Millisecond
)

// stableTokenRenewWindow is the last part of a stable token's life in which
// WeChat hands out a new token (docs/wechat.md §5.2): any token received has
// expires_in >= 300 s. A refresh margin must be shorter, otherwise a refresh
// inside the margin could return the same token and leave it inside the margin.
const stableTokenRenewWindow = 300 * time.Second

// Config configures a Client. The zero value is usable and talks to
// DefaultBaseURL.
type Config struct {
	// BaseURL is WeChat's API base, default DefaultBaseURL. It may carry a path
	// prefix (e.g. "http://127.0.0.1:8080/wechat-emulator" for dev mode).
	BaseURL string
	// FallbackBaseURLs are tried in order when a call to the previous base fails
	// in transport (never on an errcode), e.g. "https://api2.weixin.qq.com".
	FallbackBaseURLs []string
	// HTTPClient sends the requests. Default: a client with connection, TLS
	// and header timeouts that refuses redirects (a redirect would carry the
	// query, secrets included, to another host).
	HTTPClient *http.Client
	// CallTimeout bounds each HTTP attempt (default 5 s), on top of ctx.
	CallTimeout time.Duration
	// MaxResponseBytes bounds a response body (default 1 MiB); larger bodies
	// are transport failures.
	MaxResponseBytes int64
	// Now is the clock for the access-token cache (default time.Now).
	Now func() time.Time
	// Logger receives one debug record per WeChat call and warnings for
	// retries and failovers. It never receives secrets, codes, keys, tokens or
	// phone numbers. Nil discards.
	Logger *slog.Logger
	// TokenRefreshMargin: a cached access token is refreshed this long before
	// it expires (default 3 min). Must be below 300 s: stable_token only hands
	// out a new token during the last 300 s of the old one's life.
	TokenRefreshMargin time.Duration
	// RetryBackoff is the pause before the single automatic retry after a -1
	// or a transport failure (default 100 ms). The retry is skipped when ctx's
	// deadline would not leave room for it.
	RetryBackoff time.Duration
	// DisableRetries turns off the automatic retry after -1 or a transport
	// failure (failover to FallbackBaseURLs and the access-token
	// refresh-and-retry still happen).
	DisableRetries bool
	// Observer, if set, is told about every HTTP attempt (metrics).
	Observer CallObserver
	// TokenStore, if set, shares app access tokens with the clients of other
	// instances (see TokenStore); nil keeps them in this process only.
	TokenStore TokenStore
	// TokenLeaseTTL bounds how long a client refreshing a shared token keeps
	// the others waiting if it dies midway. Default: the longest a
	// stable_token call can take (two attempts on every host, plus backoff).
	TokenLeaseTTL time.Duration
}

// Client calls the WeChat server APIs. It is safe for concurrent use; share
// one per process so that the access-token cache and the in-flight
// deduplication of code exchanges work.
type Client struct {
	bases          []*url.URL
	hc             *http.Client
	callTimeout    time.Duration
	maxBytes       int64
	now            func() time.Time
	log            *slog.Logger
	margin         time.Duration
	backoff        time.Duration
	disableRetries bool
	observer       CallObserver

	tokens *tokenCache
	codes  flight[any]

	store    TokenStore // nil: tokens are not shared
	holder   string     // this client's name in token leases
	leaseTTL time.Duration
}

// NewClient validates cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	c := &Client{
		hc:             cfg.HTTPClient,
		callTimeout:    cfg.CallTimeout,
		maxBytes:       cfg.MaxResponseBytes,
		now:            cfg.Now,
		log:            cfg.Logger,
		margin:         cfg.TokenRefreshMargin,
		backoff:        cfg.RetryBackoff,
		disableRetries: cfg.DisableRetries,
		observer:       cfg.Observer,
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	for i, raw := range append([]string{base}, cfg.FallbackBaseURLs...) {
		u, err := parseBaseURL(raw)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("wechat: BaseURL: %w", err)
			}
			return nil, fmt.Errorf("wechat: FallbackBaseURLs[%d]: %w", i-1, err)
		}
		c.bases = append(c.bases, u)
	}
	var err error
	if c.callTimeout, err = orDefault("CallTimeout", c.callTimeout, DefaultCallTimeout); err != nil {
		return nil, err
	}
	if c.maxBytes, err = orDefault("MaxResponseBytes", c.maxBytes, DefaultMaxResponseBytes); err != nil {
		return nil, err
	}
	if c.backoff, err = orDefault("RetryBackoff", c.backoff, DefaultRetryBackoff); err != nil {
		return nil, err
	}
	switch {
	case c.margin < 0 || c.margin >= stableTokenRenewWindow:
		return nil, fmt.Errorf("wechat: TokenRefreshMargin must be in [0, %s): stable_token only renews during a token's last %s", stableTokenRenewWindow, stableTokenRenewWindow)
	case c.margin == 0:
		c.margin = DefaultTokenRefreshMargin
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.tokens = newTokenCache()
	if err := c.initTokenStore(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// orDefault is a Config field's value v, or def when v is zero; a negative
// v is an error naming the field.
func orDefault[T time.Duration | int64](field string, v, def T) (T, error) {
	switch {
	case v < 0:
		return 0, fmt.Errorf("wechat: %s must not be negative", field)
	case v == 0:
		return def, nil
	}
	return v, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a valid URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("scheme must be https or http, got %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no host")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("must not carry a query, fragment or user info")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 3 * time.Second
	t.ResponseHeaderTimeout = 10 * time.Second
	t.MaxIdleConnsPerHost = 64
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("redirect refused")
		},
	}
}

// API names used in errors, logs and the call log of the emulator.
const (
	apiJSCode2Session = "jscode2session"
	apiPhoneNumber    = "getuserphonenumber"
	apiStableToken    = "stable_token"
	apiUnlimitedCode  = "wxa_getwxacodeunlimit"

	apiWebAccessToken  = "sns_oauth2_access_token"
	apiWebRefreshToken = "sns_oauth2_refresh_token"
	apiWebUserInfo     = "sns_userinfo"
	apiWebAuth         = "sns_auth"
)

// request is one WeChat call, independent of the host it goes to.
type request struct {
	api     string
	method  string
	path    string
	query   url.Values
	body    []byte   // JSON body for POST
	secrets []string // values we send that must never appear in an errmsg we keep
	// binary: a success answer is image bytes, not JSON (getwxacodeunlimit);
	// the body, not Content-Type, tells an image from a JSON error.
	binary bool
}

// reply is a 2xx answer: parsed JSON, or an image for a binary request.
type reply struct {
	body    []byte
	errcode int
	errmsg  string
	host    string
	// image is the image type of body ("image/png", "image/jpeg") when the
	// answer was an image; "" for JSON.
	image string
	// failedOver is the transport error of the host tried before the one that
	// answered, if any: the request may have reached WeChat there (note A).
	failedOver error
}

// send performs req against each base URL in turn, moving on only after a
// transport failure, and returns the first JSON answer.
func (c *Client) send(ctx context.Context, req *request) (*reply, error) {
	var prev error
	for i, base := range c.bases {
		rep, err := c.sendOnce(ctx, base, req)
		if err == nil {
			rep.failedOver = prev
			return rep, nil
		}
		prev = err
		if ctx.Err() != nil || i == len(c.bases)-1 {
			break
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "wechat: failing over to the next host",
			slog.String("api", req.api), slog.String("from", base.Host),
			slog.String("to", c.bases[i+1].Host), slog.String("error", err.Error()))
	}
	return nil, prev
}

func (c *Client) sendOnce(ctx context.Context, base *url.URL, req *request) (*reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	u := *base
	u.Path = base.Path + req.path
	u.RawQuery = req.query.Encode()
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		return nil, &TransportError{API: req.api, Host: base.Host, Reason: "building request", Err: stripURL(err)}
	}
	if req.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if req.binary {
		hreq.Header.Set("Accept", "image/png, image/jpeg, application/json")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	start := time.Now()
	resp, err := c.hc.Do(hreq)
	if err != nil {
		reason := "network error"
		if ctx.Err() != nil {
			reason = "timeout or cancellation"
		}
		return nil, c.logged(ctx, req, base, start, &TransportError{API: req.api, Host: base.Host, Reason: reason, Err: stripURL(err)})
	}
	defer func() { _ = resp.Body.Close() }()
	// A binary request reads up to the larger of its two bounds; each kind
	// of body is then held to its own.
	readLimit := c.maxBytes
	if req.binary {
		readLimit = max(readLimit, maxImageBytes)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, readLimit+1))
	if err != nil {
		return nil, c.logged(ctx, req, base, start, &TransportError{API: req.api, Host: base.Host, Status: resp.StatusCode, Reason: "reading body", Err: stripURL(err)})
	}
	if int64(len(raw)) > readLimit {
		return nil, c.logged(ctx, req, base, start, &TransportError{API: req.api, Host: base.Host, Status: resp.StatusCode, Reason: fmt.Sprintf("body larger than %d bytes", readLimit)})
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.logged(ctx, req, base, start, &TransportError{API: req.api, Host: base.Host, Status: resp.StatusCode, Reason: fmt.Sprintf("HTTP status %d", resp.StatusCode)})
	}
	kind, env, perr := classifyBody(raw, req.binary)
	if bound := bodyBound(kind, c.maxBytes); int64(len(raw)) > bound {
		return nil, c.logged(ctx, req, base, start, &TransportError{API: req.api, Host: base.Host, Status: resp.StatusCode, Reason: fmt.Sprintf("body larger than %d bytes", bound)})
	}
	if perr != nil {
		return nil, c.logged(ctx, req, base, start, &TransportError{API: req.api, Host: base.Host, Status: resp.StatusCode, Reason: perr.Error()})
	}
	if kind != "" {
		c.observe(req.api, 0, false, start)
		c.log.LogAttrs(ctx, slog.LevelDebug, "wechat: call",
			slog.String("api", req.api), slog.String("host", base.Host),
			slog.Int("errcode", 0), slog.String("image", kind), slog.Int("bytes", len(raw)),
			slog.Duration("elapsed", time.Since(start)))
		return &reply{body: raw, image: kind, host: base.Host}, nil
	}
	rep := &reply{body: raw, errcode: env.code, errmsg: sanitizeErrMsg(env.msg, req.secrets), host: base.Host}
	c.observe(req.api, rep.errcode, false, start)
	c.log.LogAttrs(ctx, slog.LevelDebug, "wechat: call",
		slog.String("api", req.api), slog.String("host", base.Host),
		slog.Int("errcode", rep.errcode), slog.Duration("elapsed", time.Since(start)))
	return rep, nil
}

// maxImageBytes bounds an image answer (getwxacodeunlimit). WeChat's codes
// are tens of kilobytes even at 1280 pixels; JSON bodies keep
// Config.MaxResponseBytes.
const maxImageBytes = 1 << 20

// Magic numbers of the image types WeChat answers.
var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte("\xff\xd8\xff")
)

// classifyBody reads a 2xx body: for a binary request an image (kind is its
// type), otherwise, and for anything that is not an image, a JSON envelope.
func classifyBody(body []byte, binary bool) (kind string, env envelope, err error) {
	if binary {
		if kind = sniffImage(body); kind != "" {
			return kind, envelope{}, nil
		}
	}
	env, err = parseEnvelope(body)
	return "", env, err
}

// bodyBound is the size limit of a body of kind ("" for JSON).
func bodyBound(kind string, maxJSON int64) int64 {
	if kind != "" {
		return maxImageBytes
	}
	return maxJSON
}

// sniffImage returns body's image type by its magic number ("image/png",
// "image/jpeg"), or "" when body is not one of them. The header is not
// trusted: WeChat serves JSON errors as image/jpeg.
func sniffImage(body []byte) string {
	switch {
	case bytes.HasPrefix(body, pngMagic):
		return "image/png"
	case bytes.HasPrefix(body, jpegMagic):
		return "image/jpeg"
	}
	return ""
}

func (c *Client) logged(ctx context.Context, req *request, base *url.URL, start time.Time, err *TransportError) error {
	c.observe(req.api, 0, true, start)
	c.log.LogAttrs(ctx, slog.LevelDebug, "wechat: call failed",
		slog.String("api", req.api), slog.String("host", base.Host),
		slog.String("error", err.Error()), slog.Duration("elapsed", time.Since(start)))
	return err
}

// stripURL replaces *url.Error (whose message contains the full URL, query
// included: secret, code, access token) by its operation and cause.
func stripURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if ue.Err == nil {
		return errors.New(ue.Op)
	}
	// Any text wrapped around ue is dropped with it: it may quote ue.
	return &opError{op: ue.Op, err: stripURL(ue.Err)}
}

// opError is *url.Error without the URL.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// Timeout reports whether the cause was a timeout, like *url.Error does.
func (e *opError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}

// operation describes how run should drive a request.
type operation struct {
	// build returns the request for one attempt; it may fetch the access token.
	build func(ctx context.Context) (*request, string, error)
	// codeExchange marks calls that consume a single-use code (note A).
	codeExchange bool
	// usesToken marks calls authenticated by the app access token: on 40001,
	// 40014 or 42001 the token is dropped and the call retried once.
	usesToken bool
	app       App
}

// withAppToken builds, for each attempt, a POST of body to path
// authenticated by app's access token (fetched, or taken from the cache,
// per attempt, so that run's token retry uses a fresh one). secrets are
// what, besides the token, must never show in a kept errmsg.
func (c *Client) withAppToken(app App, api, path string, body []byte, binary bool, secrets ...string) func(ctx context.Context) (*request, string, error) {
	return func(ctx context.Context) (*request, string, error) {
		tok, err := c.AccessToken(ctx, app)
		if err != nil {
			return nil, "", err
		}
		return &request{
			api:     api,
			method:  http.MethodPost,
			path:    path,
			query:   url.Values{"access_token": {tok}},
			body:    body,
			secrets: append([]string{tok}, secrets...),
			binary:  binary,
		}, tok, nil
	}
}

// run drives op through the retry policy and returns a successful reply
// (errcode 0) or an error:
//
//   - a transport failure or errcode -1 is retried once after RetryBackoff
//     (unless disabled or ctx has no room); for code exchanges this is the
//     note-A retry, and a 40163/40029 that follows carries Prior and reports
//     ErrBusy;
//   - an access-token error (40001/40014/42001) drops the cached token (only if
//     it is still the one that failed) and retries once with a fresh one;
//   - any other errcode is returned at once.
func (c *Client) run(ctx context.Context, op operation) (*reply, error) {
	var prior error // first attempt with unknown outcome
	retried, tokenRetried := false, false
	for {
		req, token, err := op.build(ctx)
		if err != nil {
			return nil, err
		}
		rep, err := c.send(ctx, req)
		if err == nil && rep.failedOver != nil && prior == nil {
			prior = rep.failedOver
		}
		var fail error
		switch {
		case err != nil:
			fail = err
		case rep.errcode == 0:
			return rep, nil
		default:
			fail = &Error{API: req.api, Code: rep.errcode, Message: rep.errmsg}
		}
		if err != nil || rep.errcode == codeBusy {
			if prior == nil {
				prior = fail
			}
			if !retried && c.mayRetry(ctx) {
				retried = true
				c.log.LogAttrs(ctx, slog.LevelWarn, "wechat: retrying once after an attempt with unknown outcome",
					slog.String("api", req.api), slog.String("error", fail.Error()))
				if werr := sleepCtx(ctx, c.backoff); werr != nil {
					return nil, fail
				}
				continue
			}
			return nil, fail
		}
		we := fail.(*Error)
		if op.usesToken && isTokenError(we.Code) && !tokenRetried {
			tokenRetried = true
			c.tokens.drop(op.app.AppID, token)
			c.log.LogAttrs(ctx, slog.LevelWarn, "wechat: access token rejected, refreshing and retrying once",
				slog.String("api", req.api), slog.String("appid", op.app.AppID), slog.Int("errcode", we.Code))
			continue
		}
		if op.codeExchange && prior != nil && (we.Code == codeCodeUsed || we.Code == codeInvalidCode) {
			we.Prior = prior
		}
		return nil, we
	}
}

// mayRetry reports whether an automatic retry fits: enabled, ctx alive, and
// ctx's deadline leaves room for the backoff plus a useful attempt.
func (c *Client) mayRetry(ctx context.Context) bool {
	if c.disableRetries || ctx.Err() != nil {
		return false
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 2*c.backoff {
		return false
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ctxError wraps a caller's cancellation so it also matches ErrTransport.
func ctxError(api string, err error) error {
	return &TransportError{API: api, Reason: "caller gave up", Err: err}
}
