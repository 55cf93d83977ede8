package wechattest

import (
	"time"
)

// API names used by Fault.API and Call.API.
const (
	APIJSCode2Session      = "jscode2session"
	APIPhoneNumber         = "getuserphonenumber"
	APIToken               = "token"
	APIStableToken         = "stable_token"
	APIUnlimitedCode       = "wxa_getwxacodeunlimit" // /wxa/getwxacodeunlimit
	APICheckSession        = "checksession"
	APIResetUserSessionKey = "resetusersessionkey"
	APIWebAccessToken      = "sns_oauth2_access_token"
	APIWebRefreshToken     = "sns_oauth2_refresh_token"
	APIWebUserInfo         = "sns_userinfo"
	APIWebAuth             = "sns_auth"
)

// ErrCodeField says whether a success answer carries "errcode":0,"errmsg":"ok".
type ErrCodeField string

// Success shapes (docs/wechat.md §1: both are observed; clients must accept both).
const (
	// ErrCodeDefault: as WeChat does per endpoint (omitted by jscode2session,
	// the token endpoints, /sns/oauth2/* and /sns/userinfo; present on
	// getuserphonenumber, checksession, resetusersessionkey and /sns/auth).
	ErrCodeDefault ErrCodeField = ""
	ErrCodePresent ErrCodeField = "present"
	ErrCodeAbsent  ErrCodeField = "absent"
)

// Fault is an injected outcome for matching requests. A fault is "failing"
// when it sets ErrCode, HTTPStatus or RawBody; it then answers instead of the
// real processing (ConsumeCode false: the code stays usable) or after it
// (ConsumeCode true: the request is processed, consuming a valid code, and
// the real answer is thrown away). A fault that is not failing modifies the
// real answer (Delay, Hold, ContentType, SuccessErrCode); with ConsumeCode
// the processing happens before the Delay, so a caller that times out has
// lost a consumed code, as in note A.
type Fault struct {
	// API selects the endpoint (APIJSCode2Session, …); "" matches all.
	API string `json:"api"`
	// AppID and User narrow the match; "" matches all. User is resolved from
	// the code (jscode2session, getuserphonenumber, sns_oauth2_access_token),
	// the openid (checksession, resetusersessionkey), the refresh token
	// (sns_oauth2_refresh_token) or the web access token (sns_userinfo,
	// sns_auth); app token endpoints have no user, so a fault with User never
	// matches them.
	AppID string `json:"appid"`
	User  string `json:"user"`

	// ErrCode answers {"errcode":ErrCode,"errmsg":…} with HTTP 200 (e.g. -1, 45011).
	ErrCode int `json:"errcode"`
	// HTTPStatus answers this status with Body (e.g. 500, 502).
	HTTPStatus int `json:"http_status"`
	// RawBody answers Body verbatim with HTTP 200 (or HTTPStatus): non-JSON
	// or, with Body "", an empty body.
	RawBody bool   `json:"raw_body"`
	Body    string `json:"body"`
	// ContentType overrides the Content-Type header of any answer: a raw
	// body, an ErrCode's JSON or the real answer (e.g. "text/plain", or
	// "image/jpeg" on a JSON error as WeChat's getwxacodeunlimit does).
	ContentType string `json:"content_type"`
	// Delay holds the answer this long (the request's cancellation ends the
	// wait): combine with a client timeout to simulate one.
	Delay time.Duration `json:"-"`
	// Hold, when set, holds the answer until the channel is closed (Go API
	// only): lets a test line up concurrent callers deterministically.
	Hold <-chan struct{} `json:"-"`
	// ConsumeCode: see above. Note A: "consume the code then fail" versus
	// "fail without consuming".
	ConsumeCode bool `json:"consume_code"`
	// SuccessErrCode chooses the success shape when the fault lets the real
	// answer through.
	SuccessErrCode ErrCodeField `json:"success_errcode"`
	// Times is how many matching requests the fault applies to: 0 means 1,
	// negative means until ClearFaults.
	Times int `json:"times"`
}

func (f *Fault) failing() bool { return f.ErrCode != 0 || f.HTTPStatus != 0 || f.RawBody }

type faultEntry struct {
	Fault
	left int // negative: unlimited
}

// Inject queues f. Faults are matched in injection order; the first match
// with uses left applies.
func (e *Emulator) Inject(f Fault) {
	left := f.Times
	if left == 0 {
		left = 1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, &faultEntry{Fault: f, left: left})
}

// ClearFaults removes every queued fault.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = nil
}

// takeFaultLocked returns the first fault matching the request and uses it up
// once. e.mu must be held.
func (e *Emulator) takeFaultLocked(api, appID, user string, hasUser bool) *Fault {
	for i, f := range e.faults {
		if f.API != "" && f.API != api {
			continue
		}
		if f.AppID != "" && f.AppID != appID {
			continue
		}
		if f.User != "" && (!hasUser || f.User != user) {
			continue
		}
		if f.left > 0 {
			f.left--
			if f.left == 0 {
				e.faults = append(e.faults[:i:i], e.faults[i+1:]...)
			}
		}
		fc := f.Fault
		return &fc
	}
	return nil
}

// Call is one request to a WeChat API path, for assertions. It holds no
// secret, code, key or token.
type Call struct {
	API     string
	AppID   string // as sent or resolved from the token; "" if unknown
	User    string // resolved user name, "" if none
	Outcome int    // errcode answered (0 = success), or -HTTPStatus for a non-JSON answer (-200 for a raw 200 body, -499 if the caller left during a delay)
	Faulted bool   // an injected fault decided or shaped the answer
	At      time.Time
}

// Calls returns a copy of the call log, oldest first.
func (e *Emulator) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Call(nil), e.calls...)
}

// CallsTo returns the logged calls to api.
func (e *Emulator) CallsTo(api string) []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Call
	for _, c := range e.calls {
		if c.API == api {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls empties the call log.
func (e *Emulator) ResetCalls() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = nil
}

func (e *Emulator) logCall(c Call) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.calls) >= e.opts.MaxCalls {
		n := copy(e.calls, e.calls[len(e.calls)/2:])
		clear(e.calls[n:])
		e.calls = e.calls[:n]
	}
	e.calls = append(e.calls, c)
}
