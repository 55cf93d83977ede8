// Package manualclock is a clock that moves only when told. The WeChat
// emulator (which dev mode runs inside the server) and the tests share it; it
// lives apart from the test harness so that the server binary does not link
// the harness's browser driver.
package manualclock

import (
	"sync"
	"time"
)

// Clock is a clock that moves only when told, for code that takes a
// `func() time.Time`: pass its Now method value. Safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock stopped at t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
