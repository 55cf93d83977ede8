package provider

import (
	"context"
	"time"
)

// ClientLimit charges one token-endpoint request to an authenticated
// client: public says the client has no credential (auth method none), so
// any caller can name it. It returns false, with the wait, when the client
// is over its limit.
type ClientLimit func(clientID string, public bool) (ok bool, retryAfter time.Duration)

type clientLimitKey struct{}

// WithClientLimit returns ctx carrying limit, which Token calls once the
// client has authenticated and before any grant runs. Charging after
// authentication is what keeps the limit from being a lockout: a request
// that names a confidential client without its credential is refused as
// invalid_client and charges nothing (only the caller's per-IP limit).
func WithClientLimit(ctx context.Context, limit ClientLimit) context.Context {
	return context.WithValue(ctx, clientLimitKey{}, limit)
}

// chargeClient applies the ClientLimit in ctx, if any, to an authenticated
// client, answering 429 slow_down when it refuses.
func chargeClient(ctx context.Context, id string, public bool) error {
	limit, _ := ctx.Value(clientLimitKey{}).(ClientLimit)
	if limit == nil {
		return nil
	}
	if ok, wait := limit(id, public); !ok {
		return retryLater(errSlowDown.WithHint("Too many token requests for this client."), wait)
	}
	return nil
}
