package main

import (
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

func TestStore(t *testing.T) {
	clock := testharness.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := newStore[string](time.Minute, clock.Now)
	a := s.put("a")
	if v, ok := s.get(a); !ok || v != "a" {
		t.Fatalf("get: %q %v", v, ok)
	}
	if _, ok := s.get("unknown"); ok {
		t.Error("an unknown key is live")
	}
	// take is single use.
	if v, ok := s.take(a); !ok || v != "a" {
		t.Fatalf("take: %q %v", v, ok)
	}
	if _, ok := s.take(a); ok {
		t.Error("taken twice")
	}
	// Expiry, and expired entries go at the next put.
	b := s.put("b")
	clock.Advance(time.Minute)
	if _, ok := s.get(b); ok {
		t.Error("live after its lifetime")
	}
	s.put("c")
	if len(s.entries) != 1 {
		t.Errorf("%d entries after put, want the new one only", len(s.entries))
	}
}

func TestClaimRows(t *testing.T) {
	rows := claimRows(map[string]any{"sub": "s1", "amr": []any{"wechat"}, "auth_time": float64(1767225600), "phone_number_verified": true})
	want := []claimRow{
		{"amr", `["wechat"]`}, {"auth_time", "1767225600 (2026-01-01T00:00:00Z)"}, {"phone_number_verified", "true"}, {"sub", "s1"},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %v", rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d = %v, want %v", i, rows[i], want[i])
		}
	}
}
