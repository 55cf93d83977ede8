package wechat

import (
	"context"
	"sync"
	"time"
)

// flight deduplicates concurrent calls by key (single flight). Unlike
// x/sync/singleflight, each caller waits with its own context, and the shared
// work runs detached from the first caller's cancellation (but within its
// deadline): an in-flight code exchange is not abandoned midway because one
// of the waiting HTTP requests went away, which would burn the code.
type flight[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*flightCall[V]
}

type flightCall[V any] struct {
	done    chan struct{}
	val     V
	err     error
	waiters int // callers beyond the first; read by tests
}

// do runs fn once per key among concurrent callers and returns its result to
// each of them; shared reports whether the caller joined another's call.
func (g *flight[K, V]) do(ctx context.Context, key K, fn func(ctx context.Context) (V, error)) (v V, shared bool, err error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[K]*flightCall[V])
	}
	call, ok := g.calls[key]
	if ok {
		call.waiters++
	} else {
		call = &flightCall[V]{done: make(chan struct{})}
		g.calls[key] = call
		dl, hasDL := ctx.Deadline()
		go g.execute(context.WithoutCancel(ctx), dl, hasDL, key, call, fn)
	}
	g.mu.Unlock()
	select {
	case <-call.done:
		return call.val, ok, call.err
	case <-ctx.Done():
		var zero V
		return zero, ok, ctx.Err()
	}
}

func (g *flight[K, V]) execute(ctx context.Context, dl time.Time, hasDL bool, key K, call *flightCall[V], fn func(context.Context) (V, error)) {
	defer func() {
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(call.done)
	}()
	if hasDL {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl)
		defer cancel()
	}
	call.val, call.err = fn(ctx)
}

// waiting returns how many callers joined the in-flight call for key.
func (g *flight[K, V]) waiting(key K) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.calls[key]; ok {
		return c.waiters
	}
	return -1
}
