package main

import (
	"sync"
	"time"
)

// store keeps values server-side under random keys that expire: the
// browser holds only the key, in a cookie.
type store[V any] struct {
	mu       sync.Mutex
	lifetime time.Duration
	now      func() time.Time
	entries  map[string]entry[V]
}

type entry[V any] struct {
	value   V
	expires time.Time
}

func newStore[V any](lifetime time.Duration, now func() time.Time) *store[V] {
	return &store[V]{lifetime: lifetime, now: now, entries: map[string]entry[V]{}}
}

// put stores v under a new random key and returns the key. Expired
// entries go at the same time, so the map cannot grow without bound.
func (s *store[V]) put(v V) string {
	key := randomString()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, e := range s.entries {
		if !now.Before(e.expires) {
			delete(s.entries, k)
		}
	}
	s.entries[key] = entry[V]{value: v, expires: now.Add(s.lifetime)}
	return key
}

// get returns the live value under key.
func (s *store[V]) get(key string) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || !s.now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// take returns the live value under key and removes it (single use).
func (s *store[V]) take(key string) (V, bool) {
	v, ok := s.get(key)
	s.mu.Lock()
	delete(s.entries, key)
	s.mu.Unlock()
	return v, ok
}
