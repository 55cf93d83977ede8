package testharness

import (
	"time"

	"github.com/wxoidc/wxoidc/internal/manualclock"
)

// Epoch is where a test's manual clock starts when the instant itself does
// not matter. It is fixed, so a failure replays with the same times.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock is a clock that moves only when told (see manualclock).
type Clock = manualclock.Clock

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return manualclock.New(t) }
