package postgres

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

func TestAppTokenLease(t *testing.T) {
	s := newTestStorage(t)
	ctx := t.Context()
	t0 := testClock()
	const ttl = 30 * time.Second

	if _, _, err := s.GetAppToken(ctx, "wx-app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetAppToken before any token: err = %v, want ErrNotFound", err)
	}

	steps := []struct {
		name   string
		holder string
		at     time.Time
		want   bool
	}{
		{"first caller gets the lease", "instance-a", t0, true},
		{"second caller waits", "instance-b", t0.Add(time.Second), false},
		{"holder renews", "instance-a", t0.Add(10 * time.Second), true},
		{"renewal extends the lease", "instance-b", t0.Add(ttl + time.Second), false},
		{"lease runs out at its end", "instance-b", t0.Add(10*time.Second + ttl), true},
		{"former holder now waits", "instance-a", t0.Add(11*time.Second + ttl), false},
	}
	for _, st := range steps {
		got, err := s.AcquireAppTokenLease(ctx, "wx-app", st.holder, ttl, st.at)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want {
			t.Errorf("%s: acquired = %v, want %v", st.name, got, st.want)
		}
	}
	// A lease alone stores no token.
	if _, _, err := s.GetAppToken(ctx, "wx-app"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetAppToken with only a lease: err = %v, want ErrNotFound", err)
	}
	// Leases are per appid.
	if got, err := s.AcquireAppTokenLease(ctx, "wx-other", "instance-a", ttl, t0.Add(11*time.Second+ttl)); err != nil || !got {
		t.Errorf("lease of another appid: acquired = %v (err %v), want true", got, err)
	}

	exp := t0.Add(2 * time.Hour)
	if err := s.PutAppToken(ctx, "wx-app", "token-1", exp); err != nil {
		t.Fatal(err)
	}
	tok, gotExp, err := s.GetAppToken(ctx, "wx-app")
	if err != nil || tok != "token-1" || !gotExp.Equal(exp) || gotExp.Location() != time.UTC {
		t.Errorf("GetAppToken = %q, %v (err %v), want token-1, %v UTC", tok, gotExp, err, exp)
	}
	// Put released instance-b's lease: anyone may start the next refresh.
	if got, err := s.AcquireAppTokenLease(ctx, "wx-app", "instance-c", ttl, t0.Add(12*time.Second+ttl)); err != nil || !got {
		t.Errorf("acquire after Put: %v (err %v), want true", got, err)
	}
	// The lease does not hide the stored token, and Put replaces it.
	if tok, _, err := s.GetAppToken(ctx, "wx-app"); err != nil || tok != "token-1" {
		t.Errorf("GetAppToken during a refresh = %q (err %v), want token-1", tok, err)
	}
	if err := s.PutAppToken(ctx, "wx-app", "token-2", exp.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if tok, gotExp, err := s.GetAppToken(ctx, "wx-app"); err != nil || tok != "token-2" || !gotExp.Equal(exp.Add(time.Hour)) {
		t.Errorf("GetAppToken after second Put = %q, %v (err %v)", tok, gotExp, err)
	}
}

func TestAppTokenLeaseConcurrent(t *testing.T) {
	s := newTestStorage(t)
	const n = 16
	got := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.AcquireAppTokenLease(t.Context(), "wx-app", fmt.Sprintf("instance-%d", i), time.Minute, testClock())
		})
	}
	close(start)
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
		}
		if got[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d callers got the lease, want exactly 1", winners)
	}
}

func TestAppTokenValidation(t *testing.T) {
	s := newTestStorage(t)
	ctx := t.Context()
	tests := []struct {
		name string
		call func() error
	}{
		{"put empty appid", func() error { return s.PutAppToken(ctx, "", "tok", testClock()) }},
		{"put empty token", func() error { return s.PutAppToken(ctx, "wx", "", testClock()) }},
		{"lease empty appid", func() error { _, err := s.AcquireAppTokenLease(ctx, "", "h", time.Minute, testClock()); return err }},
		{"lease empty holder", func() error { _, err := s.AcquireAppTokenLease(ctx, "wx", "", time.Minute, testClock()); return err }},
		{"lease zero ttl", func() error { _, err := s.AcquireAppTokenLease(ctx, "wx", "h", 0, testClock()); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil {
				t.Error("accepted")
			}
		})
	}
}
