// Package breaker is a circuit breaker over fixed windows, for calls to a
// dependency that may go down: while it is down, callers fail fast instead
// of piling up behind timeouts, and a few probes decide when it is back.
package breaker

import (
	"log/slog"
	"sync"
	"time"
)

// Config configures a Breaker; zero fields take the defaults.
type Config struct {
	// Window is the period over which calls are counted (default 10 s).
	Window time.Duration
	// MinRequests is the number of calls a window needs before the breaker
	// may open (default 20).
	MinRequests int
	// FailurePercent of failed calls in a window opens the breaker (default 50).
	FailurePercent int
	// OpenFor is how long it fails fast before probing (default 5 s).
	OpenFor time.Duration
	// Probes is the number of trial calls that must succeed to close it (default 3).
	Probes int
}

// Outcome is how an admitted call ended, as far as the breaker cares.
type Outcome int

const (
	// Success: the dependency answered (even with an error about the request).
	Success Outcome = iota
	// Failure: the dependency was busy, unreachable, too slow or garbled.
	Failure
	// Neutral: the call never reached the dependency.
	Neutral
)

type state int

const (
	closed state = iota
	open
	halfOpen
)

func (s state) String() string {
	switch s {
	case open:
		return "open"
	case halfOpen:
		return "half-open"
	}
	return "closed"
}

// Breaker is closed at first: it counts calls and failures per window and
// opens when the window has at least MinRequests calls and FailurePercent of
// them failed. Open, it refuses every call for OpenFor; then half-open, it
// lets Probes calls through at a time, closing when that many have succeeded
// and reopening on any failure. Safe for concurrent use.
type Breaker struct {
	name string
	cfg  Config
	now  func() time.Time
	log  *slog.Logger

	mu              sync.Mutex
	state           state
	windowStart     time.Time
	calls, failures int
	openedAt        time.Time
	probing, passed int
	// trial numbers the half-open periods, so that a probe admitted in an
	// earlier one does not count in the current one.
	trial uint64
}

// Ticket is an admitted call, to be handed back to Done.
type Ticket struct {
	probe bool // a half-open trial call
	trial uint64
}

// New returns a closed breaker. name prefixes its log lines ("wechat circuit
// breaker opened"); now nil means time.Now, log nil discards.
func New(name string, cfg Config, now func() time.Time, log *slog.Logger) *Breaker {
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Second
	}
	if cfg.MinRequests <= 0 {
		cfg.MinRequests = 20
	}
	if cfg.FailurePercent <= 0 || cfg.FailurePercent > 100 {
		cfg.FailurePercent = 50
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = 5 * time.Second
	}
	if cfg.Probes <= 0 {
		cfg.Probes = 3
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Breaker{name: name, cfg: cfg, now: now, log: log, windowStart: now()}
}

// State returns "closed", "open" or "half-open".
func (b *Breaker) State() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == open && !b.now().Before(b.openedAt.Add(b.cfg.OpenFor)) {
		return halfOpen.String()
	}
	return b.state.String()
}

// Admit decides whether a call may go ahead; when refused, wait is how long
// a client should wait. Every admitted call must end with Done.
func (b *Breaker) Admit() (t Ticket, wait time.Duration, ok bool) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == open {
		reopen := b.openedAt.Add(b.cfg.OpenFor)
		if now.Before(reopen) {
			return Ticket{}, reopen.Sub(now), false
		}
		b.state, b.probing, b.passed = halfOpen, 0, 0
		b.trial++
		b.log.Info(b.name + " circuit breaker half-open: probing")
	}
	if b.state == halfOpen {
		if b.probing+b.passed >= b.cfg.Probes {
			return Ticket{}, time.Second, false
		}
		b.probing++
		return Ticket{probe: true, trial: b.trial}, 0, true
	}
	return Ticket{}, 0, true
}

// Done records the outcome of an admitted call.
func (b *Breaker) Done(t Ticket, o Outcome) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.probe {
		if b.state != halfOpen || t.trial != b.trial {
			return // a stale probe: the state moved on without it
		}
		b.probing--
		switch o {
		case Failure:
			b.trip(now, "a probe failed")
		case Success:
			b.passed++
			if b.passed >= b.cfg.Probes {
				b.state, b.calls, b.failures, b.windowStart = closed, 0, 0, now
				b.log.Info(b.name + " circuit breaker closed: calls succeed again")
			}
		}
		return
	}
	// Calls admitted before the breaker opened may end after: only a closed
	// breaker counts them.
	if b.state != closed || o == Neutral {
		return
	}
	if now.Sub(b.windowStart) >= b.cfg.Window {
		b.windowStart, b.calls, b.failures = now, 0, 0
	}
	b.calls++
	if o == Failure {
		b.failures++
	}
	if b.calls >= b.cfg.MinRequests && b.failures*100 >= b.cfg.FailurePercent*b.calls {
		b.trip(now, "failure rate reached")
	}
}

func (b *Breaker) trip(now time.Time, why string) {
	b.log.Warn(b.name+" circuit breaker opened: failing fast", "reason", why,
		"calls", b.calls, "failures", b.failures, "open_for", b.cfg.OpenFor)
	b.state, b.openedAt, b.probing, b.passed = open, now, 0, 0
}
