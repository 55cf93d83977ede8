package provider

import (
	"errors"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/storage"
)

// Error is a failed request's answer, as the HTTP layer renders it: an
// RFC 6749 §5.2 error body (RFC 6750 §3.1 for UserInfo) with its status.
// Every error the Provider's request methods return is an *Error.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code is the "error" field, e.g. invalid_grant.
	Code string
	// Description is the "error_description" field; it is meant for the
	// client and carries no internal detail.
	Description string
	// RetryAfter, when positive, is how long the client should wait before
	// retrying (our limits, an unavailable WeChat or storage).
	RetryAfter time.Duration
	// Cause is the server-side detail, for logs only.
	Cause string
}

func (e *Error) Error() string {
	if e.Cause != "" {
		return e.Code + ": " + e.Description + ": " + e.Cause
	}
	return e.Code + ": " + e.Description
}

// ErrorOf returns the answer err becomes: err itself when it is an *Error,
// else its OAuth error (fosite's, with the hint appended to the
// description), else server_error.
func ErrorOf(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, storage.ErrUnavailable) {
		// Wherever fosite or a handler surfaced it (fosite turns a failed
		// client lookup into invalid_client), a database that is briefly
		// unreachable is temporary, like an unavailable WeChat.
		return storageRetryLater(err, "The service is temporarily unavailable; retry shortly.")
	}
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) {
		// fosite would call it "error", which no client understands.
		rfc = fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	if rfc.ErrorField == fosite.ErrSerializationFailure.ErrorField && errors.Is(err, storage.ErrConflict) {
		// A write that kept losing to concurrent ones (the storage already
		// retried): fosite's 409 "error" is no OAuth error; the client may
		// retry, as it may after an outage.
		return storageRetryLater(err, "Concurrent update; retry shortly.")
	}
	out := &Error{Status: rfc.CodeField, Code: rfc.ErrorField, Description: rfc.DescriptionField, Cause: rfc.DebugField}
	if out.Status == 0 {
		out.Status = http.StatusBadRequest
	}
	if rfc.HintField != "" {
		out.Description += " " + rfc.HintField
	}
	if c := rfc.Cause(); c != nil {
		out.Cause = c.Error()
	}
	var retry *retryLaterError
	if errors.As(err, &retry) {
		out.RetryAfter = retry.after
	}
	return out
}

// storageRetryAfter is the wait advised while storage is unavailable: a
// database restart or failover takes about a second or less.
const storageRetryAfter = time.Second

// storageRetryLater is the answer to a temporary storage failure: 503
// temporarily_unavailable with Retry-After.
func storageRetryLater(err error, description string) *Error {
	return &Error{
		Status:      http.StatusServiceUnavailable,
		Code:        fosite.ErrTemporarilyUnavailable.ErrorField,
		Description: description,
		RetryAfter:  storageRetryAfter,
		Cause:       err.Error(),
	}
}

// answer converts what fosite and the handlers return into an *Error, at
// the edge of the package.
func answer(err error) error {
	if err == nil {
		return nil
	}
	return ErrorOf(err)
}

// retryLaterError is an OAuth error that tells the client when to retry:
// our own limits (429 slow_down) and an unavailable WeChat (503
// temporarily_unavailable). It becomes Error.RetryAfter.
type retryLaterError struct {
	*fosite.RFC6749Error
	after time.Duration
}

func (e *retryLaterError) Unwrap() error { return e.RFC6749Error }

// retryLater attaches retry advice to e; after <= 0 means none.
func retryLater(e *fosite.RFC6749Error, after time.Duration) error {
	return &retryLaterError{RFC6749Error: e, after: after}
}
