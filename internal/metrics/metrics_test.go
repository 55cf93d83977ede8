package metrics

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

func TestKeyGauges(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cfg := keys.Config{RotationPeriod: 24 * time.Hour, ReloadInterval: 30 * time.Second, JWKSMaxAge: 30 * time.Second}
	infos := []keys.KeyInfo{
		// RS256: current for 23h, next published long ago → rotation in 1h.
		{KID: "r-old", Algorithm: "RS256", State: storage.KeyRetired, CreatedAt: now.Add(-72 * time.Hour)},
		{KID: "r-cur", Algorithm: "RS256", State: storage.KeyCurrent, CreatedAt: now.Add(-48 * time.Hour), ActivatedAt: now.Add(-23 * time.Hour)},
		{KID: "r-next", Algorithm: "RS256", State: storage.KeyNext, CreatedAt: now.Add(-23 * time.Hour)},
		// ES256: overdue, but its next key is 10s old → waits for the safe delay.
		{KID: "e-cur", Algorithm: "ES256", State: storage.KeyCurrent, CreatedAt: now.Add(-50 * time.Hour), ActivatedAt: now.Add(-48 * time.Hour)},
		{KID: "e-next", Algorithm: "ES256", State: storage.KeyNext, CreatedAt: now.Add(-10 * time.Second)},
		// EdDSA: overdue and publish-safe → due now; no activation time recorded.
		{KID: "d-cur", Algorithm: "EdDSA", State: storage.KeyCurrent, CreatedAt: now.Add(-25 * time.Hour)},
		{KID: "d-next", Algorithm: "EdDSA", State: storage.KeyNext, CreatedAt: now.Add(-time.Hour)},
		{KID: "d-rev", Algorithm: "EdDSA", State: storage.KeyRevoked, CreatedAt: now.Add(-30 * time.Hour)},
	}
	g := keyGauges(infos, cfg, now)
	for _, tc := range []struct {
		alg       string
		age, next time.Duration
		counts    map[storage.KeyState]int
	}{
		{"RS256", 23 * time.Hour, time.Hour, map[storage.KeyState]int{storage.KeyRetired: 1, storage.KeyCurrent: 1, storage.KeyNext: 1}},
		{"ES256", 48 * time.Hour, 50 * time.Second, map[storage.KeyState]int{storage.KeyCurrent: 1, storage.KeyNext: 1}},
		{"EdDSA", 25 * time.Hour, 0, map[storage.KeyState]int{storage.KeyCurrent: 1, storage.KeyNext: 1, storage.KeyRevoked: 1}},
	} {
		v := g[tc.alg]
		if v == nil || v.age != tc.age || v.nextRotation != tc.next {
			t.Errorf("%s: %+v, want age %s next %s", tc.alg, v, tc.age, tc.next)
			continue
		}
		for state, n := range tc.counts {
			if v.count[state] != n {
				t.Errorf("%s %s: %d keys, want %d", tc.alg, state, v.count[state], n)
			}
		}
	}
}

type failingAudit struct{ storage.AuditStore }

func (failingAudit) AppendAudit(context.Context, storage.AuditEvent) error {
	return errors.New("disk full")
}

// An audit event that cannot be stored is not lost: it is logged in full
// at error level and counted.
func TestAuditFailureIsLoggedAndCounted(t *testing.T) {
	var logs bytes.Buffer
	a := admin.NewAuditor(failingAudit{}, slog.New(slog.NewJSONHandler(&logs, nil)), nil)
	m := New(nil, nil)
	a.OnStoreFailure(m.AuditFailed)
	err := a.Record(context.Background(), admin.ActorCLI, "clients.delete", "svc", map[string]any{"why": "test"})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	line := logs.String()
	for _, want := range []string{`"level":"ERROR"`, `"action":"clients.delete"`, `"target":"svc"`, `"actor":"cli"`, `\"why\":\"test\"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log lacks %s: %s", want, line)
		}
	}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range families {
		if f.GetName() == "wxoidc_audit_write_failures_total" {
			found = true
			if v := f.GetMetric()[0].GetCounter().GetValue(); v != 1 {
				t.Errorf("audit failures = %v", v)
			}
		}
	}
	if !found {
		t.Error("wxoidc_audit_write_failures_total not registered")
	}
}

func TestScanWaitingGauge(t *testing.T) {
	m := New(nil, nil)
	n := 0
	m.ObserveScanWaiting(func() int { return n })
	read := func() float64 {
		t.Helper()
		families, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "wxoidc_scan_waiting_browsers" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("wxoidc_scan_waiting_browsers not registered")
		return 0
	}
	if v := read(); v != 0 {
		t.Fatalf("gauge = %v, want 0", v)
	}
	n = 7
	if v := read(); v != 7 {
		t.Fatalf("gauge = %v, want 7", v)
	}
}
