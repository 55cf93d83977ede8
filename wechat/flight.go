package wechat

import (
	"context"
	"sync"

	"golang.org/x/sync/singleflight"
)

// flight deduplicates concurrent calls by key on top of singleflight.Group,
// which also makes a panic in the shared work crash loudly instead of leaving
// the waiters hanging. Two things are added: each caller waits with its own
// context, and the shared work runs detached from the first caller's
// cancellation (but within its deadline), so that an in-flight code exchange
// is not abandoned midway because one of the waiting HTTP requests went away,
// which would burn the code.
type flight[V any] struct {
	g singleflight.Group

	mu      sync.Mutex
	waiters map[string]int // callers currently waiting per key; read by tests
}

// do runs fn once per key among concurrent callers and returns its result to
// each of them.
func (f *flight[V]) do(ctx context.Context, key string, fn func(ctx context.Context) (V, error)) (V, error) {
	detached := context.WithoutCancel(ctx)
	dl, hasDL := ctx.Deadline()
	ch := f.g.DoChan(key, func() (any, error) {
		ctx := detached
		if hasDL {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl)
			defer cancel()
		}
		return fn(ctx)
	})
	// Counted only once DoChan has registered the caller, so that a test
	// seeing n waiters knows all n share one call.
	f.track(key, 1)
	defer f.track(key, -1)
	select {
	case r := <-ch:
		v, _ := r.Val.(V)
		return v, r.Err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

func (f *flight[V]) track(key string, delta int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waiters == nil {
		f.waiters = make(map[string]int)
	}
	if f.waiters[key] += delta; f.waiters[key] == 0 {
		delete(f.waiters, key)
	}
}

// waiting returns how many callers are waiting for key's call.
func (f *flight[V]) waiting(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waiters[key]
}
