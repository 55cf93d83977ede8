package provider

import (
	"errors"
	"time"

	"github.com/ory/fosite"
)

// retryLaterError is an OAuth error that tells the client when to retry:
// our own limits (429 slow_down) and an unavailable WeChat (503
// temporarily_unavailable). The HTTP layer turns after into Retry-After.
type retryLaterError struct {
	*fosite.RFC6749Error
	after time.Duration
}

func (e *retryLaterError) Unwrap() error { return e.RFC6749Error }

// retryLater attaches retry advice to e; after <= 0 means none.
func retryLater(e *fosite.RFC6749Error, after time.Duration) error {
	return &retryLaterError{RFC6749Error: e, after: after}
}

// RetryAfter returns how long a client should wait before retrying after err,
// or 0 when err carries no such advice.
func RetryAfter(err error) time.Duration {
	var e *retryLaterError
	if errors.As(err, &e) {
		return e.after
	}
	return 0
}
