package sqlite

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// benchSession is a realistic row: hashed signature, a few scopes, and an
// encrypted session blob of about the size provider writes.
func benchSession(kind storage.SessionKind, i int) storage.TokenSession {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	data := make([]byte, 600)
	_, _ = rand.Read(data)
	now := time.Now()
	return storage.TokenSession{
		Kind:              kind,
		Signature:         hex.EncodeToString(sum[:]),
		RequestID:         fmt.Sprintf("req-%d", i),
		RequestedAt:       now,
		ClientID:          "mini-program",
		Subject:           fmt.Sprintf("account-%d", i%1000),
		RequestedScopes:   []string{"openid", "profile", "phone", "offline_access"},
		GrantedScopes:     []string{"openid", "profile", "phone", "offline_access"},
		RequestedAudience: []string{"https://api.example.com"},
		GrantedAudience:   []string{"https://api.example.com"},
		Form:              "grant_type=urn%3Awxoidc%3Agrant-type%3Awechat&scope=openid+profile+phone+offline_access",
		SessionData:       data,
		Active:            true,
		ExpiresAt:         now.Add(time.Hour),
	}
}

var benchModes = []string{"FULL", "NORMAL"}

func BenchmarkTokenSessionInsert(b *testing.B) {
	for _, mode := range benchModes {
		b.Run("synchronous="+mode, func(b *testing.B) {
			s := openTest(b, Options{Synchronous: mode})
			ctx := b.Context()
			i := 0
			for b.Loop() {
				if err := s.CreateTokenSession(ctx, benchSession(storage.KindAccessToken, i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkTokenSessionInsertParallel measures insert throughput with many
// request goroutines queueing for the single writer.
func BenchmarkTokenSessionInsertParallel(b *testing.B) {
	for _, mode := range benchModes {
		b.Run("synchronous="+mode, func(b *testing.B) {
			s := openTest(b, Options{Synchronous: mode})
			ctx := b.Context()
			var next atomic.Int64
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.CreateTokenSession(ctx, benchSession(storage.KindAccessToken, int(next.Add(1)))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

const benchRows = 10000

func BenchmarkTokenSessionLookup(b *testing.B) {
	for _, mode := range benchModes {
		b.Run("synchronous="+mode, func(b *testing.B) {
			s := openTest(b, Options{Synchronous: mode})
			ctx := b.Context()
			sigs := make([]string, benchRows)
			txCtx, err := s.BeginTx(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for i := range benchRows {
				ts := benchSession(storage.KindAccessToken, i)
				sigs[i] = ts.Signature
				if err := s.CreateTokenSession(txCtx, ts); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Commit(txCtx); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				if _, err := s.GetTokenSession(ctx, storage.KindAccessToken, sigs[i%benchRows]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkRefreshRotation is one refresh-token grant's storage work as
// fosite does it: one transaction rotating the old refresh token and
// creating the new access and refresh tokens.
func BenchmarkRefreshRotation(b *testing.B) {
	for _, mode := range benchModes {
		b.Run("synchronous="+mode, func(b *testing.B) {
			s := openTest(b, Options{Synchronous: mode})
			ctx := b.Context()
			prev := benchSession(storage.KindRefreshToken, 0)
			if err := s.CreateTokenSession(ctx, prev); err != nil {
				b.Fatal(err)
			}
			i := 1
			now := time.Now()
			for b.Loop() {
				at := benchSession(storage.KindAccessToken, i)
				rt := benchSession(storage.KindRefreshToken, i)
				at.RequestID, rt.RequestID = prev.RequestID, prev.RequestID
				txCtx, err := s.BeginTx(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.RotateRefreshToken(txCtx, prev.RequestID, prev.Signature, now, 0); err != nil {
					b.Fatal(err)
				}
				if err := s.CreateTokenSession(txCtx, at); err != nil {
					b.Fatal(err)
				}
				if err := s.CreateTokenSession(txCtx, rt); err != nil {
					b.Fatal(err)
				}
				if err := s.Commit(txCtx); err != nil {
					b.Fatal(err)
				}
				prev = rt
				i++
			}
		})
	}
}
