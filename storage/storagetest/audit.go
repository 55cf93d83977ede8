package storagetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

func testAudit(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	got, err := s.ListAudit(ctx, 0, 10)
	mustNoErr(t, "list empty", err)
	if len(got) != 0 {
		t.Fatalf("empty storage lists %d audit events", len(got))
	}

	var appended []storage.AuditEvent
	for i := range 5 {
		e := storage.AuditEvent{
			At:      baseTime.Add(time.Duration(i) * time.Second),
			Actor:   "cli",
			Action:  "clients.create",
			Target:  fmt.Sprintf("client-%d", i),
			Details: fmt.Sprintf(`{"n":%d}`, i),
		}
		mustNoErr(t, "append", s.AppendAudit(ctx, e))
		appended = append(appended, e)
	}

	all, err := s.ListAudit(ctx, 0, 10)
	mustNoErr(t, "list", err)
	if len(all) != len(appended) {
		t.Fatalf("listed %d events, want %d", len(all), len(appended))
	}
	for i, e := range all {
		if e.ID <= 0 {
			t.Errorf("event %d: ID = %d, want a positive store-assigned ID", i, e.ID)
		}
		if i > 0 && e.ID >= all[i-1].ID {
			t.Errorf("events not newest first: ID %d after %d", e.ID, all[i-1].ID)
		}
		want := appended[len(appended)-1-i]
		want.ID = e.ID
		checkRecord(t, fmt.Sprintf("event %d", i), e, want)
	}

	// Paging with beforeID walks back to the oldest event.
	var paged []storage.AuditEvent
	before := int64(0)
	for pages := 0; ; pages++ {
		if pages > len(appended) {
			t.Fatal("paging does not terminate")
		}
		page, err := s.ListAudit(ctx, before, 2)
		mustNoErr(t, "list page", err)
		if len(page) > 2 {
			t.Fatalf("page has %d events, limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		before = page[len(page)-1].ID
	}
	checkRecords(t, "paged", paged, all)
}

// testAuditFilter pins ListAuditFiltered: exact and prefix matches of actor
// and action (byte-exact: GLOB and LIKE wildcards are plain characters), a
// half-open time range, keyset paging, and refusal of bad filters.
func testAuditFilter(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	events := []struct{ actor, action string }{
		{"admin-console:ops", "accounts.disable"},
		{"admin-api:ops", "keys.rotate"},
		{"admin-console:ops", "accounts.revoke_tokens"},
		{"rotation", "keys.created"},
		{"admin-console:ci", "keys.revoke"},
		{"admin-console:ops", "keys.rotate"},
		{"cli", "clients.create"},
		{"admin-console:o*s", "keys?rotate"},
		{"admin-console:o%s", "keys_rotate"},
		{"admin-console:ops", "accounts.enable"},
	}
	for i, e := range events {
		mustNoErr(t, "append", s.AppendAudit(ctx, storage.AuditEvent{
			At: baseTime.Add(time.Duration(i) * time.Minute), Actor: e.actor, Action: e.action,
			Target: fmt.Sprintf("t%d", i), Details: "{}",
		}))
	}
	all, err := s.ListAudit(ctx, 0, 100)
	mustNoErr(t, "list all", err)
	if len(all) != len(events) {
		t.Fatalf("listed %d events, want %d", len(all), len(events))
	}
	// targets returns the targets of the events matching f, newest first.
	targets := func(f storage.AuditFilter) string {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = 100
		}
		got, err := s.ListAuditFiltered(ctx, f)
		mustNoErr(t, fmt.Sprintf("filter %+v", f), err)
		var out []string
		for i, e := range got {
			if i > 0 && e.ID >= got[i-1].ID {
				t.Errorf("filter %+v: not newest first", f)
			}
			out = append(out, e.Target)
		}
		return strings.Join(out, ",")
	}
	at := func(i int) time.Time { return baseTime.Add(time.Duration(i) * time.Minute) }
	for _, tc := range []struct {
		name string
		f    storage.AuditFilter
		want string
	}{
		{"no filter", storage.AuditFilter{}, "t9,t8,t7,t6,t5,t4,t3,t2,t1,t0"},
		{"exact actor", storage.AuditFilter{Actor: "admin-console:ops"}, "t9,t5,t2,t0"},
		{"actor prefix", storage.AuditFilter{Actor: "admin-console:", ActorPrefix: true}, "t9,t8,t7,t5,t4,t2,t0"},
		{"actor prefix is not a pattern", storage.AuditFilter{Actor: "admin-console:o*", ActorPrefix: true}, "t7"},
		{"actor exact is not a pattern", storage.AuditFilter{Actor: "admin-console:o%s"}, "t8"},
		{"actor is case-sensitive", storage.AuditFilter{Actor: "ADMIN-CONSOLE:", ActorPrefix: true}, ""},
		{"exact actor is not a prefix", storage.AuditFilter{Actor: "admin-console:"}, ""},
		{"exact action", storage.AuditFilter{Action: "keys.rotate"}, "t5,t1"},
		{"action prefix", storage.AuditFilter{Action: "keys.", ActionPrefix: true}, "t5,t4,t3,t1"},
		{"action ? is a plain character", storage.AuditFilter{Action: "keys?", ActionPrefix: true}, "t7"},
		{"action _ is a plain character", storage.AuditFilter{Action: "keys_rotate"}, "t8"},
		{"actor and action", storage.AuditFilter{Actor: "admin-console:", ActorPrefix: true, Action: "accounts.", ActionPrefix: true}, "t9,t2,t0"},
		{"since (inclusive)", storage.AuditFilter{Since: at(7)}, "t9,t8,t7"},
		{"until (exclusive)", storage.AuditFilter{Until: at(2)}, "t1,t0"},
		{"range", storage.AuditFilter{Since: at(2), Until: at(6), Actor: "admin-console:ops"}, "t5,t2"},
		{"before", storage.AuditFilter{BeforeID: all[4].ID, Actor: "admin-console:ops"}, "t2,t0"},
		{"limit", storage.AuditFilter{Actor: "admin-console:ops", Limit: 2}, "t9,t5"},
	} {
		if got := targets(tc.f); got != tc.want {
			t.Errorf("%s: got [%s], want [%s]", tc.name, got, tc.want)
		}
	}

	// Paging with BeforeID walks every match once.
	var paged []string
	f := storage.AuditFilter{Actor: "admin-console:", ActorPrefix: true, Limit: 3}
	for pages := 0; ; pages++ {
		if pages > len(events) {
			t.Fatal("paging does not terminate")
		}
		page, err := s.ListAuditFiltered(ctx, f)
		mustNoErr(t, "page", err)
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			paged = append(paged, e.Target)
		}
		f.BeforeID = page[len(page)-1].ID
	}
	if got := strings.Join(paged, ","); got != "t9,t8,t7,t5,t4,t2,t0" {
		t.Errorf("paged: %s", got)
	}

	// The full record comes back.
	got, err := s.ListAuditFiltered(ctx, storage.AuditFilter{Action: "accounts.enable", Limit: 1})
	mustNoErr(t, "one", err)
	if len(got) != 1 {
		t.Fatalf("accounts.enable: %d events", len(got))
	}
	checkRecord(t, "filtered event", got[0], all[0])

	for _, bad := range []storage.AuditFilter{
		{Limit: 0},
		{Limit: -1},
		{Limit: 10, BeforeID: -1},
		{Limit: 10, Since: at(5), Until: at(4)},
	} {
		if _, err := s.ListAuditFiltered(ctx, bad); err == nil {
			t.Errorf("filter %+v accepted", bad)
		}
	}
}
