// Package ratelimit is a keyed token-bucket rate limiter: one bucket per key
// (a client IP, a client_id, a WeChat user), with memory bounded by
// forgetting the least recently used key.
package ratelimit

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// Rate is a token bucket: Limit events per Per on average, bursts of up to
// Burst. Limit 0 (or less) means unlimited.
type Rate struct {
	Limit int
	Per   time.Duration
	Burst int
}

// maxKeyLen bounds the bytes a limiter keeps per key: longer keys (an
// attacker's client_id, say) are kept as their SHA-256.
const maxKeyLen = 128

// Limiter is one token bucket per key, with memory bounded by forgetting
// the least recently used key. Forgetting a key refills its bucket, so the
// bound must exceed the keys active within one refill period. A nil
// *Limiter allows everything. Safe for concurrent use.
type Limiter struct {
	perSecond float64
	burst     float64
	maxKeys   int
	now       func() time.Time

	mu   sync.Mutex
	keys map[string]*list.Element
	lru  *list.List // of *bucket, most recently used first
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

// New returns a limiter for r, or nil when r is unlimited.
// maxKeys <= 0 means 100 000; now nil means time.Now.
func New(r Rate, maxKeys int, now func() time.Time) (*Limiter, error) {
	if r.Limit <= 0 {
		return nil, nil
	}
	if r.Per <= 0 || r.Burst < 1 {
		return nil, fmt.Errorf("rate limit %d per %s: the period must be positive and the burst at least 1 (burst %d)", r.Limit, r.Per, r.Burst)
	}
	if maxKeys <= 0 {
		maxKeys = 100_000
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		perSecond: float64(r.Limit) / r.Per.Seconds(),
		burst:     float64(r.Burst),
		maxKeys:   maxKeys,
		now:       now,
		keys:      make(map[string]*list.Element),
		lru:       list.New(),
	}, nil
}

// Allow takes one token from key's bucket. When the bucket is empty it takes
// nothing and returns false with the time until a token is available.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	return l.AllowAll(key)
}

// AllowAll takes one token from each key's bucket, or none when any of them
// is empty (then it returns the longest wait).
func (l *Limiter) AllowAll(keys ...string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	buckets := make([]*bucket, len(keys))
	var wait time.Duration
	for i, key := range keys {
		b := l.bucketLocked(key, now)
		buckets[i] = b
		if b.tokens < 1 {
			wait = max(wait, time.Duration((1-b.tokens)/l.perSecond*float64(time.Second)))
		}
	}
	if wait > 0 {
		return false, wait
	}
	for _, b := range buckets {
		b.tokens--
	}
	return true, 0
}

// bucketLocked returns key's bucket refilled up to now, creating it full
// (and forgetting the least recently used key) when it is new.
func (l *Limiter) bucketLocked(key string, now time.Time) *bucket {
	if len(key) > maxKeyLen {
		sum := sha256.Sum256([]byte(key))
		key = "sha256:" + hex.EncodeToString(sum[:])
	}
	if el, found := l.keys[key]; found {
		l.lru.MoveToFront(el)
		b := el.Value.(*bucket)
		// A clock that steps back refills nothing rather than draining.
		if elapsed := now.Sub(b.last); elapsed > 0 {
			b.tokens = min(l.burst, b.tokens+elapsed.Seconds()*l.perSecond)
			b.last = now
		}
		return b
	}
	if l.lru.Len() >= l.maxKeys {
		oldest := l.lru.Back()
		l.lru.Remove(oldest)
		delete(l.keys, oldest.Value.(*bucket).key)
	}
	b := &bucket{key: key, tokens: l.burst, last: now}
	l.keys[key] = l.lru.PushFront(b)
	return b
}

// Len returns how many keys the limiter remembers.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
