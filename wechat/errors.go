package wechat

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Error categories. Test them with errors.Is; *Error, *TransportError and
// *DecryptError match the categories that apply to them.
var (
	// ErrInvalidCode: the login or phone code is unknown, expired, or belongs to
	// another appid (40029, and 41008 "missing code"). Answer invalid_grant.
	ErrInvalidCode = errors.New("wechat: invalid code")
	// ErrCodeUsed: the code was already exchanged (40163). Answer invalid_grant.
	ErrCodeUsed = errors.New("wechat: code already used")
	// ErrBlockedUser: WeChat risk control blocked the user (40226).
	ErrBlockedUser = errors.New("wechat: user blocked by WeChat risk control")
	// ErrRateLimited: a minute quota (45011) or daily quota (45009) is exhausted.
	// RetryAfter tells how long to wait for 45011.
	ErrRateLimited = errors.New("wechat: rate limited")
	// ErrBusy: WeChat answered -1 (system busy), or a code exchange that was
	// retried after an unknown outcome answered 40163/40029 (note A): the user
	// should retry with a fresh wx.login.
	ErrBusy = errors.New("wechat: temporarily unavailable")
	// ErrConfig: WeChat rejected our configuration or request shape (bad appid,
	// secret, grant_type, IP whitelist, frozen secret, missing parameters,
	// permission). Retrying will not help; alert an operator.
	ErrConfig = errors.New("wechat: configuration error")
	// ErrTransport: network failure, timeout, non-2xx status, or an empty,
	// non-JSON, oversize or malformed body.
	ErrTransport = errors.New("wechat: transport failure")
	// ErrAccessToken: the app access token was still rejected (40001, 40014,
	// 42001) after one refresh and one retry.
	ErrAccessToken = errors.New("wechat: access token rejected")
	// ErrDecrypt: legacy encrypted data could not be decrypted or verified
	// (base64, IV, padding, JSON or watermark). Usually a stale session key.
	ErrDecrypt = errors.New("wechat: encrypted data rejected")
	// ErrWatermark: the data's watermark names another appid. Returned by
	// DecryptData/DecryptPhone (together with ErrDecrypt) and by PhoneNumber.
	ErrWatermark = errors.New("wechat: watermark appid mismatch")

	// Web OAuth (website, official account, mobile app: docs/wechat.md §6).

	// ErrSnapshotUser: the code exchange answered is_snapshotuser:1, a
	// "snapshot page" virtual user of an official account, not a real person.
	// wxoidc refuses those users (no account is created).
	ErrSnapshotUser = errors.New("wechat: snapshot-page virtual user")
	// ErrInvalidRefreshToken: the web refresh token is unknown or belongs to
	// another appid (40030). Authorize the user again.
	ErrInvalidRefreshToken = errors.New("wechat: invalid refresh token")
	// ErrRefreshTokenExpired: the web refresh token is past its 30 days
	// (42002). Authorize the user again.
	ErrRefreshTokenExpired = errors.New("wechat: refresh token expired")
	// ErrScopeUnauthorized: /sns/userinfo refused a token of scope
	// snsapi_base (48001). Authorize with snsapi_userinfo.
	ErrScopeUnauthorized = errors.New("wechat: scope does not allow this call")
	// ErrWebTokenInvalid: a user's web access token is unknown, malformed or
	// does not belong to the openid sent (40001, 40014, 40003 on /sns/userinfo
	// and /sns/auth).
	ErrWebTokenInvalid = errors.New("wechat: web access token invalid")
	// ErrWebTokenExpired: a user's web access token expired (42001 on
	// /sns/userinfo and /sns/auth); WebRefreshToken renews it.
	ErrWebTokenExpired = errors.New("wechat: web access token expired")
)

// WeChat errcodes the client branches on.
const (
	codeBusy             = -1
	codeInvalidToken     = 40001
	codeInvalidGrantType = 40002
	codeInvalidOpenID    = 40003
	codeInvalidAppID     = 40013
	codeInvalidATShape   = 40014
	codeInvalidCode      = 40029
	codeInvalidRefresh   = 40030
	codeInvalidArgs      = 40097
	codeInvalidSecret    = 40125
	codeCodeUsed         = 40163
	codeIPWhitelist      = 40164
	codeBlockedUser      = 40226
	codeSecretFrozen     = 40243
	codeTokenMissing     = 41001
	codeAppIDMissing     = 41002
	codeSecretMissing    = 41004
	codeCodeMissing      = 41008
	codeInvalidPage      = 41030
	codeTokenExpired     = 42001
	codeRefreshExpired   = 42002
	codeRequireGET       = 43001
	codeRequirePOST      = 43002
	codeRequireHTTPS     = 43003
	codeEmptyPost        = 44002
	codeDailyQuota       = 45009
	codeMinuteQuota      = 45011
	codeBadJSON          = 47001
	codeUnauthorized     = 48001
)

func isTokenError(code int) bool {
	return code == codeInvalidToken || code == codeInvalidATShape || code == codeTokenExpired
}

// Error is an errcode answered by WeChat.
type Error struct {
	API     string // WeChat API name, e.g. "jscode2session"
	Code    int    // errcode
	Message string // errmsg, sanitised: control characters removed, secrets we sent scrubbed, truncated

	// Prior is set when this answer came from an automatic retry of a code
	// exchange whose earlier attempt had an unknown outcome (errcode -1 or a
	// transport failure). WeChat may have consumed the code on that attempt, so
	// a 40163 or 40029 here does not prove the caller sent a bad code: Is then
	// reports ErrBusy (and Prior's categories through Unwrap) instead of
	// ErrCodeUsed or ErrInvalidCode (docs/wechat.md §8 note A).
	Prior error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wechat %s: errcode %d", e.API, e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Prior != nil {
		b.WriteString(" (after a retry of an attempt with unknown outcome: ")
		b.WriteString(e.Prior.Error())
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap exposes Prior, so errors.Is(err, ErrTransport) holds for a note-A
// answer whose first attempt failed in transport.
func (e *Error) Unwrap() error { return e.Prior }

// Is matches the category sentinels. ErrInvalidPage is also an ErrConfig.
func (e *Error) Is(target error) bool {
	if target == nil {
		return false
	}
	c := e.category()
	return c == target || (c == ErrInvalidPage && target == ErrConfig)
}

// ambiguousReplay reports whether the error is a code-replay answer that
// follows an attempt with unknown outcome (note A).
func (e *Error) ambiguousReplay() bool {
	return e.Prior != nil && (e.Code == codeCodeUsed || e.Code == codeInvalidCode)
}

func (e *Error) category() error {
	if e.ambiguousReplay() {
		return ErrBusy
	}
	if c := e.webCategory(); c != nil {
		return c
	}
	switch e.Code {
	case codeBusy:
		return ErrBusy
	case codeInvalidCode, codeCodeMissing:
		return ErrInvalidCode
	case codeCodeUsed:
		return ErrCodeUsed
	case codeBlockedUser:
		return ErrBlockedUser
	case codeMinuteQuota, codeDailyQuota:
		return ErrRateLimited
	case codeInvalidPage:
		return ErrInvalidPage
	case codeInvalidToken, codeInvalidATShape, codeTokenExpired:
		// On the token endpoints themselves 40001 means a bad secret (old
		// docs); on other APIs it is an access-token rejection that survived
		// the one refresh-and-retry.
		if e.API == apiStableToken {
			return ErrConfig
		}
		return ErrAccessToken
	case codeInvalidGrantType, codeInvalidAppID, codeInvalidSecret, codeIPWhitelist,
		codeSecretFrozen, codeTokenMissing, codeAppIDMissing, codeSecretMissing,
		codeRequireGET, codeRequirePOST, codeRequireHTTPS, codeEmptyPost, codeBadJSON,
		codeUnauthorized, codeInvalidArgs:
		return ErrConfig
	}
	return nil
}

// webCategory maps the errcodes whose meaning is particular to the web OAuth
// APIs, where the access token is the user's, not the app's; nil lets the
// general mapping decide.
func (e *Error) webCategory() error {
	switch e.API {
	case apiWebUserInfo, apiWebAuth:
		switch e.Code {
		case codeInvalidToken, codeInvalidATShape, codeInvalidOpenID:
			return ErrWebTokenInvalid
		case codeTokenExpired:
			return ErrWebTokenExpired
		case codeUnauthorized:
			return ErrScopeUnauthorized
		}
	case apiWebRefreshToken:
		switch e.Code {
		case codeInvalidRefresh:
			return ErrInvalidRefreshToken
		case codeRefreshExpired:
			return ErrRefreshTokenExpired
		}
	}
	return nil
}

// RetryAfter returns how long to wait before calling again: 60 s for the
// minute quota (45011, "retry next minute"), otherwise 0.
func RetryAfter(err error) time.Duration {
	var we *Error
	if errors.As(err, &we) && we.Code == codeMinuteQuota {
		return time.Minute
	}
	return 0
}

// TransportError is a failure below WeChat's JSON protocol: network error,
// timeout, non-2xx status, or an unusable body. It never contains a URL
// (query strings carry secrets, codes and tokens).
type TransportError struct {
	API    string
	Host   string // host[:port] of the base URL tried
	Status int    // HTTP status, when a response arrived
	Reason string // short description, e.g. "timeout", "HTTP status 502", "non-JSON body"
	Err    error  // cause with any URL stripped; may be nil
}

func (e *TransportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wechat %s: transport failure", e.API)
	if e.Host != "" {
		fmt.Fprintf(&b, " talking to %s", e.Host)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *TransportError) Unwrap() error { return e.Err }

// Is matches ErrTransport.
func (e *TransportError) Is(target error) bool { return target == ErrTransport }

// DecryptError reports why legacy encrypted data was rejected. Its message
// never contains the data, the IV or the key.
type DecryptError struct {
	// Reason is one of "key" (zero session key), "base64" (encryptedData not
	// strict base64), "iv" (IV not base64 of 16 bytes), "padding" (ciphertext
	// length or PKCS#7 padding wrong: typically a stale session key), "json"
	// (plaintext not the expected JSON) or "watermark" (missing watermark or
	// another appid).
	Reason string
}

func (e *DecryptError) Error() string {
	return "wechat: encrypted data rejected: " + e.Reason
}

// Is matches ErrDecrypt, and ErrWatermark for the "watermark" reason.
func (e *DecryptError) Is(target error) bool {
	return target == ErrDecrypt || (target == ErrWatermark && e.Reason == reasonWatermark)
}

const (
	reasonKey       = "key"
	reasonBase64    = "base64"
	reasonIV        = "iv"
	reasonPadding   = "padding"
	reasonJSON      = "json"
	reasonWatermark = "watermark"
)

// maxErrMsgRunes bounds the errmsg kept in an Error: WeChat's are short, and a
// hostile or broken upstream should not be able to fill our logs.
const maxErrMsgRunes = 256

// sanitizeErrMsg removes control characters, scrubs any value we sent that the
// upstream might echo (secret, code, token), and truncates.
func sanitizeErrMsg(msg string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	var b strings.Builder
	n := 0
	for _, r := range msg {
		if n == maxErrMsgRunes {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
