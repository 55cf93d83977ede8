package breaker

import (
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

func testBreaker(clk *testharness.Clock) *Breaker {
	return New("test", Config{Window: 10 * time.Second, MinRequests: 4, FailurePercent: 50, OpenFor: 5 * time.Second, Probes: 2}, clk.Now, nil)
}

func record(t *testing.T, b *Breaker, o Outcome) {
	t.Helper()
	tk, _, ok := b.Admit()
	if !ok {
		t.Fatalf("breaker refused a call in state %s", b.State())
	}
	b.Done(tk, o)
}

func TestBreakerOpensOnFailureRate(t *testing.T) {
	clk := testharness.NewClock(testharness.Epoch)
	b := testBreaker(clk)
	// Below MinRequests nothing opens, even at 100 % failures.
	for range 3 {
		record(t, b, Failure)
	}
	if b.State() != "closed" {
		t.Fatalf("opened below min_requests: %s", b.State())
	}
	// A new window forgets the old failures.
	clk.Advance(10 * time.Second)
	record(t, b, Success)
	record(t, b, Success)
	record(t, b, Failure)
	if b.State() != "closed" {
		t.Fatal("opened although the old window's failures should be forgotten")
	}
	// Neutral outcomes are not counted.
	tk, _, _ := b.Admit()
	b.Done(tk, Neutral)
	if b.State() != "closed" {
		t.Fatal("a neutral outcome counted")
	}
	record(t, b, Failure) // 2 of 4 = 50 %
	if b.State() != "open" {
		t.Fatalf("state = %s, want open at 50 %% of 4 calls", b.State())
	}
	_, wait, ok := b.Admit()
	if ok || wait != 5*time.Second {
		t.Fatalf("open breaker: ok=%v wait=%v, want refused for 5s", ok, wait)
	}
	clk.Advance(2 * time.Second)
	if _, wait, _ := b.Admit(); wait != 3*time.Second {
		t.Fatalf("wait = %v, want the remaining 3s", wait)
	}
}

func tripped(t *testing.T, clk *testharness.Clock) *Breaker {
	t.Helper()
	b := testBreaker(clk)
	for range 4 {
		record(t, b, Failure)
	}
	if b.State() != "open" {
		t.Fatal("did not open")
	}
	clk.Advance(5 * time.Second)
	return b
}

func TestBreakerHalfOpenCloses(t *testing.T) {
	clk := testharness.NewClock(testharness.Epoch)
	b := tripped(t, clk)
	if b.State() != "half-open" {
		t.Fatalf("state = %s after open_for, want half-open", b.State())
	}
	p1, _, ok1 := b.Admit()
	p2, _, ok2 := b.Admit()
	_, wait, ok3 := b.Admit()
	if !ok1 || !ok2 || ok3 || wait <= 0 || !p1.probe || !p2.probe {
		t.Fatalf("half-open admits exactly 2 probes: %v %v %v (wait %v)", ok1, ok2, ok3, wait)
	}
	// A probe that never reached WeChat frees its place.
	b.Done(p1, Neutral)
	p3, _, ok := b.Admit()
	if !ok {
		t.Fatal("a neutral probe did not free its place")
	}
	b.Done(p2, Success)
	if b.State() != "half-open" {
		t.Fatal("closed after one of two probes")
	}
	b.Done(p3, Success)
	if b.State() != "closed" {
		t.Fatalf("state = %s after all probes passed, want closed", b.State())
	}
	// Closed again with a fresh window.
	for range 3 {
		record(t, b, Failure)
	}
	if b.State() != "closed" {
		t.Fatal("the window was not reset on closing")
	}
}

func TestBreakerProbeFailureReopens(t *testing.T) {
	clk := testharness.NewClock(testharness.Epoch)
	b := tripped(t, clk)
	old, _, _ := b.Admit()
	p, _, _ := b.Admit()
	b.Done(p, Failure)
	if b.State() != "open" {
		t.Fatalf("state = %s after a failed probe, want open", b.State())
	}
	if _, wait, ok := b.Admit(); ok || wait != 5*time.Second {
		t.Fatalf("reopened breaker: ok=%v wait=%v", ok, wait)
	}
	clk.Advance(5 * time.Second)
	fresh, _, _ := b.Admit()
	// The probe of the previous half-open period ends now: it must not count.
	b.Done(old, Success)
	b.Done(fresh, Success)
	if b.State() != "half-open" {
		t.Fatalf("a stale probe counted: state %s", b.State())
	}
	// Calls admitted while closed that end while open are ignored too.
	b2 := testBreaker(clk)
	var tickets []Ticket
	for range 4 {
		tk, _, _ := b2.Admit()
		tickets = append(tickets, tk)
	}
	for _, tk := range tickets {
		b2.Done(tk, Failure)
	}
	b2.Done(Ticket{}, Success)
	if b2.State() != "open" {
		t.Fatal("a late success of a closed-state call closed an open breaker")
	}
}
