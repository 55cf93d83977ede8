package provider

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
)

// scanHub wakes the browsers waiting on scan tickets (ScanStatus with a
// wait). A change made by this instance wakes its waiters at once
// (notify). Changes made by other instances are found by one poll of
// storage per interval for the whole instance — not one per waiter — that
// runs only while someone waits: ten thousand waiting browsers cost one
// indexed query a second.
type scanHub struct {
	mu      sync.Mutex
	waiters map[string][]*scanWaiter
	count   int
	polling bool
	ended   bool
	done    chan struct{} // closed by end

	list     func(ctx context.Context, since time.Time, limit int) ([]storage.ScanTicket, error)
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger
}

const (
	// scanImageBudget bounds the cached codes of one instance (a code is
	// 20–60 KB: some thousand live tickets).
	scanImageBudget = 64 << 20
	// scanPollOverlap re-reads changes this far behind the newest one
	// seen: instances' clocks differ a little, and a change stamped
	// slightly in the past must not be skipped. A change missed anyway is
	// seen when the browser's wait ends and it asks again (at most 25 s).
	scanPollOverlap = 2 * time.Second
	scanPollBatch   = 500
)

func newScanHub(list func(context.Context, time.Time, int) ([]storage.ScanTicket, error), interval time.Duration, now func() time.Time, log *slog.Logger) *scanHub {
	if interval <= 0 {
		interval = time.Second
	}
	return &scanHub{waiters: map[string][]*scanWaiter{}, done: make(chan struct{}), list: list, interval: interval, now: now, log: log}
}

// scanWaiter is one waiting browser. wake is called (never blocking the
// caller) when its ticket may have changed, and by the poll once the ticket
// expired by the provider's clock (which tests move). gone, when set, says
// whether the browser left; the poll then calls end, as end does at
// shutdown.
type scanWaiter struct {
	wake    func()
	gone    func() bool
	end     func()
	expires time.Time
}

// chanWaiter is a waiter whose wakes arrive on a channel.
func chanWaiter(expires time.Time) (*scanWaiter, chan struct{}) {
	c := make(chan struct{}, 1)
	return &scanWaiter{expires: expires, wake: func() {
		select {
		case c <- struct{}{}:
		default: // already woken
		}
	}}, c
}

// watch registers w for ticket id. After end it returns false and
// registers nothing.
func (h *scanHub) watch(id string, w *scanWaiter) bool {
	h.mu.Lock()
	if h.ended {
		h.mu.Unlock()
		return false
	}
	h.waiters[id] = append(h.waiters[id], w)
	h.count++
	start := !h.polling && h.list != nil
	if start {
		h.polling = true
	}
	h.mu.Unlock()
	if start {
		go h.poll()
	}
	return true
}

// unwatch removes w; it reports whether w was registered.
func (h *scanHub) unwatch(id string, w *scanWaiter) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.waiters[id]
	found := false
	for i, x := range ws {
		if x == w {
			ws[i] = ws[len(ws)-1]
			ws[len(ws)-1] = nil
			ws = ws[:len(ws)-1]
			h.count--
			found = true
			break
		}
	}
	if len(ws) == 0 {
		delete(h.waiters, id)
	} else {
		h.waiters[id] = ws
	}
	return found
}

// notify wakes the waiters of ticket id.
func (h *scanHub) notify(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.waiters[id] {
		w.wake()
	}
}

// sweep wakes the waiters whose ticket expired at now, and returns those
// whose browser left.
func (h *scanHub) sweep(now time.Time) (left []*scanWaiter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ws := range h.waiters {
		for _, w := range ws {
			switch {
			case w.gone != nil && w.gone():
				left = append(left, w)
			case !now.Before(w.expires):
				w.wake()
			}
		}
	}
	return left
}

// end stops the hub for good (the server is shutting down): every waiter is
// ended and no new one is taken.
func (h *scanHub) end() {
	h.mu.Lock()
	if h.ended {
		h.mu.Unlock()
		return
	}
	h.ended = true
	close(h.done)
	var all []*scanWaiter
	for _, ws := range h.waiters {
		all = append(all, ws...)
	}
	h.mu.Unlock()
	for _, w := range all {
		if w.end != nil {
			w.end()
		}
	}
}

// ScanWaiting returns how many browsers wait on scan tickets on this
// instance (for metrics and tests).
func (p *Provider) ScanWaiting() int { return p.scans.waiting() }

// EndScanWaits answers every browser waiting on a scan ticket with the
// status it knows, and takes no new waiter: for a graceful stop, before the
// HTTP servers wait for their requests (the browsers ask again, elsewhere).
func (p *Provider) EndScanWaits() { p.scans.end() }

// waiting returns how many waiters are registered.
func (h *scanHub) waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// poll runs while anyone waits: each interval it wakes the waiters of
// expired tickets, ends those whose browser left, asks storage for tickets
// changed since the newest change it saw, and wakes their waiters.
func (h *scanHub) poll() {
	since := h.now().Add(-scanPollOverlap)
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for range t.C {
		h.mu.Lock()
		if h.count == 0 {
			h.polling = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		for _, w := range h.sweep(h.now()) {
			if w.end != nil {
				w.end()
			}
		}
		newest := since
		for {
			ctx, cancel := context.WithTimeout(context.Background(), h.interval*5)
			changed, err := h.list(ctx, since, scanPollBatch)
			cancel()
			if err != nil {
				h.log.Warn("scan ticket poll failed", "err", err.Error())
				break
			}
			for _, c := range changed {
				h.notify(c.ID)
				if c.UpdatedAt.After(newest) {
					newest = c.UpdatedAt
				}
			}
			if len(changed) < scanPollBatch {
				break
			}
			since = newest // a full batch: read on from its end
		}
		if floor := newest.Add(-scanPollOverlap); floor.After(since) {
			since = floor
		}
	}
}

// scanImageCache keeps each ticket's code image on this instance for as
// long as the ticket lives, within a byte budget; the oldest go first.
type scanImageCache struct {
	mu      sync.Mutex
	entries map[string]scanImageEntry
	order   []string // insertion order: ticket lifetimes are equal, so also expiry order
	bytes   int
	budget  int
}

type scanImageEntry struct {
	img     wechat.CodeImage
	expires time.Time
}

func newScanImageCache(budget int) *scanImageCache {
	return &scanImageCache{entries: map[string]scanImageEntry{}, budget: budget}
}

func (c *scanImageCache) get(id string, now time.Time) (wechat.CodeImage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || !now.Before(e.expires) {
		return wechat.CodeImage{}, false
	}
	return e.img, true
}

func (c *scanImageCache) put(id string, img wechat.CodeImage, expires, now time.Time) {
	if len(img.Bytes) > c.budget {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[id]; ok {
		c.bytes -= len(old.img.Bytes)
	} else {
		c.order = append(c.order, id)
	}
	c.entries[id] = scanImageEntry{img: img, expires: expires}
	c.bytes += len(img.Bytes)
	c.trim(now)
}

// trim drops expired entries from the front, then the oldest while over
// budget. Entries dropped out of order (drop) leave their id in order;
// it is skipped when reached.
func (c *scanImageCache) trim(now time.Time) {
	for len(c.order) > 0 {
		id := c.order[0]
		e, ok := c.entries[id]
		if ok && c.bytes <= c.budget && now.Before(e.expires) {
			return
		}
		c.order = c.order[1:]
		if ok {
			delete(c.entries, id)
			c.bytes -= len(e.img.Bytes)
		}
	}
	if len(c.order) == 0 {
		c.order = nil // let the backing array go
	}
}

func (c *scanImageCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[id]; ok {
		delete(c.entries, id)
		c.bytes -= len(e.img.Bytes)
	}
}
