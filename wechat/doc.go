// Package wechat is a client for the WeChat (Weixin) server APIs that an identity
// provider needs to turn a mini-program login into an identity: code2Session
// (jscode2session), the phone-number API (getuserphonenumber), legacy
// encrypted-data decryption and the app access token (stable_token).
//
// The package knows nothing of OAuth. It maps WeChat's errcodes onto a small
// set of error categories (ErrInvalidCode, ErrCodeUsed, ErrBusy, ...) that a
// caller can test with errors.Is, and it never logs or puts into an error
// string anything secret: app secrets, login and phone codes, session keys,
// access tokens and phone numbers stay out of every message.
//
// Wire conventions followed (see docs/wechat.md §1): the body is parsed as
// JSON whatever its Content-Type, errcode absent or 0 means success, any
// non-2xx status, empty, non-JSON or oversize body is a transport failure, and
// a failover to another host happens only on transport failures, never on an
// errcode.
//
// Code exchanges are not idempotent (docs/wechat.md §8 note A). The client retries
// a code exchange at most once, and only after a -1 (system busy) or a
// transport failure; when that retry answers 40163 (code been used) or 40029
// (invalid code) the error reports ErrBusy instead of ErrCodeUsed or
// ErrInvalidCode, because the first attempt may have consumed the code.
// Concurrent exchanges of the same code inside one process share a single
// WeChat call.
package wechat
