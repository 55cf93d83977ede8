package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// flash is a one-time message shown on the next page the session views.
type flash struct {
	Error bool
	Text  string
}

// session is one signed-in admin. Only the hash of its id is kept, so a
// memory dump does not hand out live cookies.
type session struct {
	tokenName string
	csrf      string
	created   time.Time
	seen      time.Time

	mu    sync.Mutex
	flash *flash
	// once holds values shown on one page only (a new client secret): kept
	// here, never in a URL or a cookie, and forgotten when taken.
	once map[string]string
}

// keepOnce keeps v under key until takeOnce takes it.
func (s *session) keepOnce(key, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.once == nil {
		s.once = map[string]string{}
	}
	s.once[key] = v
}

// takeOnce returns the value kept under key, if any, and forgets it.
func (s *session) takeOnce(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.once[key]
	delete(s.once, key)
	return v, ok
}

// setFlash replaces the session's pending message.
func (s *session) setFlash(isError bool, text string) {
	s.mu.Lock()
	s.flash = &flash{Error: isError, Text: text}
	s.mu.Unlock()
}

// takeFlash returns the pending message and forgets it.
func (s *session) takeFlash() *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flash
	s.flash = nil
	return f
}

// validCSRF compares a submitted CSRF token with the session's in constant
// time.
func (s *session) validCSRF(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// sessions is the in-memory session table. It is bounded: when full, expired
// sessions go first, then the least recently seen.
type sessions struct {
	mu    sync.Mutex
	m     map[[32]byte]*session
	now   func() time.Time
	idle  time.Duration // a session unused this long ends
	max   time.Duration // a session ends this long after sign-in, used or not
	limit int
}

func newSessions(now func() time.Time, idle, max time.Duration, limit int) *sessions {
	return &sessions{m: map[[32]byte]*session{}, now: now, idle: idle, max: max, limit: limit}
}

// randomToken returns 32 random bytes, base64url-encoded.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for the admin token tokenName and returns the
// cookie value.
func (t *sessions) create(tokenName string) (id string, s *session) {
	id = randomToken()
	now := t.now()
	s = &session{tokenName: tokenName, csrf: randomToken(), created: now, seen: now}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= t.limit {
		t.evictLocked(now)
	}
	t.m[sha256.Sum256([]byte(id))] = s
	return id, s
}

// get returns the live session of cookie value id and marks it seen.
func (t *sessions) get(id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	key := sha256.Sum256([]byte(id))
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[key]
	if !ok {
		return nil, false
	}
	if t.expired(s, now) {
		delete(t.m, key)
		return nil, false
	}
	s.seen = now
	return s, true
}

// end removes the session of cookie value id.
func (t *sessions) end(id string) {
	key := sha256.Sum256([]byte(id))
	t.mu.Lock()
	delete(t.m, key)
	t.mu.Unlock()
}

func (t *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) >= t.idle || now.Sub(s.created) >= t.max
}

// evictLocked drops every expired session and, if the table is still full,
// the least recently seen one.
func (t *sessions) evictLocked(now time.Time) {
	var oldestKey [32]byte
	var oldest *session
	for k, s := range t.m {
		if t.expired(s, now) {
			delete(t.m, k)
			continue
		}
		if oldest == nil || s.seen.Before(oldest.seen) {
			oldest, oldestKey = s, k
		}
	}
	if len(t.m) >= t.limit && oldest != nil {
		delete(t.m, oldestKey)
	}
}
