package testharness

import (
	"strings"
	"sync"
	"testing"
)

// Secrets is the set of values a test has handed out or received (secrets,
// codes, keys, tokens, phone numbers) that its output must never contain.
// Safe for concurrent use.
type Secrets struct {
	mu     sync.Mutex
	values []string
}

// Add records values; empty ones are ignored, as every string contains "".
func (s *Secrets) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		if v != "" {
			s.values = append(s.values, v)
		}
	}
}

// Check fails t for each recorded value that out contains, naming out by
// what ("logs", "error") and the value by its first six characters.
func (s *Secrets) Check(t testing.TB, what, out string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.values {
		if strings.Contains(out, v) {
			t.Errorf("%s leak a secret value (%.6s…): %s", what, v, out)
		}
	}
}
