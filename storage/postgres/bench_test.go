package postgres

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// benchSession is an access-token session of realistic size: a 64-byte
// hex signature hash and about 600 bytes of encrypted session data.
func benchSession(i int64) storage.TokenSession {
	now := testClock()
	return storage.TokenSession{
		Kind:              storage.KindAccessToken,
		Signature:         fmt.Sprintf("%064x", i),
		RequestID:         fmt.Sprintf("req-%d", i),
		RequestedAt:       now,
		ClientID:          "demo-miniprogram",
		Subject:           fmt.Sprintf("account-%d", i%1000),
		RequestedScopes:   []string{"openid", "phone", "offline_access"},
		GrantedScopes:     []string{"openid", "phone", "offline_access"},
		RequestedAudience: []string{"https://api.example.com"},
		GrantedAudience:   []string{"https://api.example.com"},
		Form:              "grant_type=urn%3Awxoidc%3Agrant-type%3Awechat&scope=openid+phone+offline_access",
		SessionData:       make([]byte, 600),
		Active:            true,
		ExpiresAt:         now.Add(time.Hour),
	}
}

func BenchmarkCreateTokenSession(b *testing.B) {
	s := newTestStorage(b)
	var n int64
	b.ReportAllocs()
	for b.Loop() {
		n++
		if err := s.CreateTokenSession(b.Context(), benchSession(n)); err != nil {
			b.Fatal(err)
		}
	}
}

// The parallel benchmarks run 4 goroutines per CPU, like concurrent token
// requests, on the default pool size.
func BenchmarkCreateTokenSessionParallel(b *testing.B) {
	s := newTestStorage(b)
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.CreateTokenSession(b.Context(), benchSession(n.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// seedSessions inserts rows sessions for the lookup benchmarks, in one
// transaction (one WAL flush instead of one per row).
func seedSessions(b *testing.B, s *Storage, rows int64) {
	b.Helper()
	ctx, err := s.BeginTx(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	for i := range rows {
		if err := s.CreateTokenSession(ctx, benchSession(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(b.Context(), `ANALYZE token_sessions`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
}

const benchRows = 10000

func BenchmarkGetTokenSession(b *testing.B) {
	s := newTestStorage(b)
	seedSessions(b, s, benchRows)
	var n int64
	b.ReportAllocs()
	for b.Loop() {
		n++
		if _, err := s.GetTokenSession(b.Context(), storage.KindAccessToken, benchSession(n%benchRows).Signature); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetTokenSessionParallel(b *testing.B) {
	s := newTestStorage(b)
	seedSessions(b, s, benchRows)
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sig := benchSession(n.Add(1) % benchRows).Signature
			if _, err := s.GetTokenSession(b.Context(), storage.KindAccessToken, sig); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
