package ratelimit

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

func mustLimiter(t *testing.T, r Rate, maxKeys int, now func() time.Time) *Limiter {
	t.Helper()
	l, err := New(r, maxKeys, now)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLimiterBurstAndRefill(t *testing.T) {
	clk := testharness.NewClock(testharness.Epoch)
	l := mustLimiter(t, Rate{Limit: 60, Per: time.Minute, Burst: 3}, 10, clk.Now)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("call %d refused within the burst", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != time.Second {
		t.Fatalf("4th call: ok=%v wait=%v, want refused for 1s", ok, wait)
	}
	// Another key has its own bucket.
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("key b refused")
	}
	clk.Advance(500 * time.Millisecond)
	if ok, wait := l.Allow("a"); ok || wait != 500*time.Millisecond {
		t.Fatalf("half refilled: ok=%v wait=%v", ok, wait)
	}
	clk.Advance(500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refused after a full token refilled")
	}
	// Refill stops at the burst.
	clk.Advance(time.Hour)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("call %d after an hour refused", i)
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("bucket refilled beyond its burst")
	}
	// A clock stepping back refills nothing and breaks nothing.
	clk.Advance(-time.Hour)
	if ok, wait := l.Allow("a"); ok || wait <= 0 {
		t.Fatalf("after the clock stepped back: ok=%v wait=%v", ok, wait)
	}
}

func TestLimiterForgetsLeastRecentlyUsed(t *testing.T) {
	clk := testharness.NewClock(testharness.Epoch)
	l := mustLimiter(t, Rate{Limit: 1, Per: time.Hour, Burst: 1}, 2, clk.Now)
	l.Allow("a")
	l.Allow("b")
	l.Allow("a") // a is now the most recent (refused)
	l.Allow("c") // evicts b
	if l.Len() != 2 {
		t.Fatalf("Len = %d, want 2", l.Len())
	}
	if ok, _ := l.Allow("a"); ok {
		t.Error("a was forgotten although recently used")
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("b should have been forgotten (fresh bucket)")
	}
}

func TestLimiterHashesLongKeys(t *testing.T) {
	clk := testharness.NewClock(testharness.Epoch)
	l := mustLimiter(t, Rate{Limit: 1, Per: time.Hour, Burst: 1}, 10, clk.Now)
	long := strings.Repeat("x", 10_000)
	if ok, _ := l.Allow(long); !ok {
		t.Fatal("first call refused")
	}
	if ok, _ := l.Allow(long); ok {
		t.Fatal("a long key must still be limited")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.keys {
		if len(k) > maxKeyLen {
			t.Fatalf("kept a %d-byte key", len(k))
		}
	}
}

func TestLimiterDisabledAndInvalid(t *testing.T) {
	l, err := New(Rate{}, 0, nil)
	if err != nil || l != nil {
		t.Fatalf("zero rate: %v, %v; want nil limiter", l, err)
	}
	for range 1000 {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatal("a nil limiter refused")
		}
	}
	if _, err := New(Rate{Limit: 1, Per: 0, Burst: 1}, 0, nil); err == nil {
		t.Error("zero period accepted")
	}
	if _, err := New(Rate{Limit: 1, Per: time.Second, Burst: 0}, 0, nil); err == nil {
		t.Error("zero burst accepted")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	clk := testharness.NewClock(testharness.Epoch)
	l := mustLimiter(t, Rate{Limit: 1, Per: time.Hour, Burst: 50}, 1000, clk.Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if ok, _ := l.Allow("shared"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("allowed %d calls, want exactly the burst of 50", allowed)
	}
}

func TestLimiterAllowAllTakesAllOrNothing(t *testing.T) {
	clk := testharness.NewClock(testharness.Epoch)
	l := mustLimiter(t, Rate{Limit: 1, Per: 10 * time.Second, Burst: 1}, 10, clk.Now)
	l.Allow("a")
	if ok, wait := l.AllowAll("b", "a"); ok || wait != 10*time.Second {
		t.Fatalf("AllowAll with a spent bucket: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("a refused AllowAll took b's token")
	}
}

// FuzzLimiterKeys feeds attacker-chosen keys (a client_id, say) to a
// limiter: its memory stays bounded in keys and in bytes per key, and each
// key's first request is allowed.
func FuzzLimiterKeys(f *testing.F) {
	f.Add("mini-a", "mini-b", strings.Repeat("k", 1000))
	f.Add("", "\x00", "\xff\xfe")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		now := time.Unix(0, 0)
		l, err := New(Rate{Limit: 1, Per: time.Hour, Burst: 1}, 2, func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{a, b, c} {
			l.Allow(k)
		}
		if l.Len() > 2 {
			t.Fatalf("%d keys kept, bound 2", l.Len())
		}
		l.mu.Lock()
		for k := range l.keys {
			if len(k) > maxKeyLen {
				l.mu.Unlock()
				t.Fatalf("kept a %d-byte key", len(k))
			}
		}
		l.mu.Unlock()
		if ok, _ := l.Allow(c + "\x01fresh"); !ok {
			t.Fatal("a new key's first request was refused")
		}
	})
}
