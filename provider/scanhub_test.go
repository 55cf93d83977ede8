package provider

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
)

func TestScanImageCache(t *testing.T) {
	now := testharness.Epoch
	c := newScanImageCache(10)
	img := func(n int) wechat.CodeImage {
		return wechat.CodeImage{Bytes: make([]byte, n), ContentType: "image/png"}
	}

	c.put("a", img(4), now.Add(time.Minute), now)
	c.put("b", img(4), now.Add(2*time.Minute), now)
	if _, ok := c.get("a", now); !ok {
		t.Fatal("a missing")
	}
	if _, ok := c.get("a", now.Add(time.Minute)); ok {
		t.Fatal("a served at its expiry")
	}
	// Over budget: the oldest goes.
	c.put("c", img(4), now.Add(3*time.Minute), now)
	if _, ok := c.get("a", now); ok {
		t.Fatal("a kept over budget")
	}
	for _, id := range []string{"b", "c"} {
		if _, ok := c.get(id, now); !ok {
			t.Fatalf("%s evicted", id)
		}
	}
	if c.bytes != 8 {
		t.Fatalf("bytes = %d, want 8", c.bytes)
	}
	// Expired entries go when the next one comes, budget or not.
	c.put("d", img(1), now.Add(4*time.Minute), now.Add(2*time.Minute))
	if _, ok := c.entries["b"]; ok {
		t.Fatal("expired b kept")
	}
	// Larger than the whole budget: not cached at all.
	c.put("huge", img(11), now.Add(time.Hour), now)
	if _, ok := c.get("huge", now); ok {
		t.Fatal("an image over the budget was cached")
	}
	c.drop("c")
	if _, ok := c.get("c", now); ok || c.bytes != 1 {
		t.Fatalf("after drop: bytes %d", c.bytes)
	}
}

// fakeChanges is a ListScanTicketsUpdatedSince over a slice.
type fakeChanges struct {
	mu      sync.Mutex
	tickets []storage.ScanTicket
	calls   int
}

func (f *fakeChanges) list(_ context.Context, since time.Time, limit int) ([]storage.ScanTicket, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var out []storage.ScanTicket
	for _, t := range f.tickets {
		if t.UpdatedAt.After(since) && len(out) < limit {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fakeChanges) add(t storage.ScanTicket) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tickets = append(f.tickets, t)
}

func woken(c chan struct{}) bool {
	select {
	case <-c:
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

func TestScanHub(t *testing.T) {
	clock := testharness.NewClock(testharness.Epoch)
	changes := &fakeChanges{}
	h := newScanHub(changes.list, time.Millisecond, clock.Now, slog.New(slog.DiscardHandler))

	// Local notify wakes every waiter of the ticket, and only them.
	watch := func(id string, expires time.Time) (*scanWaiter, chan struct{}) {
		w, c := chanWaiter(expires)
		if !h.watch(id, w) {
			t.Fatal("watch refused")
		}
		return w, c
	}
	wa1, a1 := watch("A", clock.Now().Add(time.Hour))
	wa2, a2 := watch("A", clock.Now().Add(time.Hour))
	wb, b := watch("B", clock.Now().Add(time.Hour))
	if h.waiting() != 3 {
		t.Fatalf("waiting = %d", h.waiting())
	}
	h.notify("A")
	h.notify("A") // a second wake before the first is read does not block
	if !woken(a1) || !woken(a2) {
		t.Fatal("A's waiters not woken")
	}
	select {
	case <-b:
		t.Fatal("B woken by A's change")
	default:
	}

	// A change another instance made is found by the poll.
	changes.add(storage.ScanTicket{ID: "B", UpdatedAt: clock.Now().Add(time.Second)})
	if !woken(b) {
		t.Fatal("B not woken by the poll")
	}

	// A waiter whose ticket expired by the provider's clock is woken.
	wc, c := watch("C", clock.Now().Add(time.Minute))
	clock.Advance(time.Minute)
	if !woken(c) {
		t.Fatal("C not woken at expiry")
	}

	// A browser that left is ended by the poll.
	var left sync.Once
	ended := make(chan struct{})
	wd := &scanWaiter{wake: func() {}, gone: func() bool { return true }, end: func() { left.Do(func() { close(ended) }) }, expires: clock.Now().Add(time.Hour)}
	h.watch("D", wd)
	if !woken(ended) {
		t.Fatal("a browser that left was not ended")
	}

	for _, x := range []struct {
		id string
		w  *scanWaiter
	}{{"A", wa1}, {"A", wa2}, {"B", wb}, {"C", wc}, {"D", wd}} {
		if !h.unwatch(x.id, x.w) {
			t.Fatalf("%s was not registered", x.id)
		}
	}
	if h.unwatch("A", wa1) {
		t.Fatal("unwatched twice")
	}
	if h.waiting() != 0 || len(h.waiters) != 0 {
		t.Fatalf("after unwatch: %d waiting, %d tickets", h.waiting(), len(h.waiters))
	}
	// With nobody waiting the poll stops.
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.Lock()
		polling := h.polling
		h.mu.Unlock()
		if !polling {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("poll still running with nobody waiting")
		}
		time.Sleep(time.Millisecond)
	}
	changes.mu.Lock()
	calls := changes.calls
	changes.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	changes.mu.Lock()
	defer changes.mu.Unlock()
	if changes.calls != calls {
		t.Fatalf("storage polled %d more times with nobody waiting", changes.calls-calls)
	}

	// At shutdown every waiter is ended, and no new one is taken.
	endedE := make(chan struct{})
	we := &scanWaiter{wake: func() {}, end: func() { close(endedE) }, expires: clock.Now().Add(time.Hour)}
	h.watch("E", we)
	h.end()
	if !woken(endedE) {
		t.Fatal("shutdown did not end the waiter")
	}
	if w, _ := chanWaiter(clock.Now()); h.watch("F", w) {
		t.Fatal("a waiter was taken after shutdown")
	}
	h.end() // twice is harmless
}
