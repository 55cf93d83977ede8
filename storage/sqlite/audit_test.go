package sqlite

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// Both ways of answering a prefix or time filter, the index range (few
// matches) and reading back the newest events (many), give what a plain
// filter over every event gives, for every page.
func TestAuditFilterPlans(t *testing.T) {
	s := openTest(t, Options{Synchronous: "NORMAL", Migrate: true})
	ctx := t.Context()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	actors := []string{"admin-console:ops", "admin-console:ci", "admin-api:ops", "rotation", "cli", "admin-console\xff", "admin-consolf"}
	actions := []string{"keys.rotate", "keys.retired", "clients.update", "accounts.disable", "keysx"}
	var all []storage.AuditEvent
	for i := range 400 {
		e := storage.AuditEvent{
			At:    base.Add(time.Duration(i*7%400) * time.Minute), // not in id order: as with clocks of several instances
			Actor: actors[(i*i+i/3)%len(actors)], Action: actions[(i/2+i*i)%len(actions)],
			Target: fmt.Sprintf("t%d", i), Details: "{}",
		}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ListAudit(ctx, 0, 1000)
	if err != nil || len(all) != 400 {
		t.Fatalf("%d events, %v", len(all), err)
	}
	matches := func(f storage.AuditFilter, e storage.AuditEvent) bool {
		ok := func(v, want string, prefix bool) bool {
			return want == "" || v == want || prefix && strings.HasPrefix(v, want)
		}
		return (f.BeforeID == 0 || e.ID < f.BeforeID) && ok(e.Actor, f.Actor, f.ActorPrefix) && ok(e.Action, f.Action, f.ActionPrefix) &&
			(f.Since.IsZero() || !e.At.Before(f.Since)) && (f.Until.IsZero() || e.At.Before(f.Until))
	}
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	filters := []storage.AuditFilter{
		{Actor: "admin-console:", ActorPrefix: true},
		{Actor: "admin-console", ActorPrefix: true}, // the range must take "admin-console\xff" and not "admin-consolf"
		{Actor: "admin-console:o", ActorPrefix: true, Action: "keys.", ActionPrefix: true},
		{Action: "keys", ActionPrefix: true},
		{Action: "keys.", ActionPrefix: true, Since: at(100), Until: at(130)},
		{Since: at(50), Until: at(60)},
		{Since: at(390)},
		{Until: at(5)},
		{Actor: "admin-console:c", ActorPrefix: true, Since: at(20), Until: at(380)}, // the prefix is the narrower range
		{Action: "accounts.", ActionPrefix: true, Since: at(200)},
		{Actor: "\xff", ActorPrefix: true},
		{Actor: "nobody", ActorPrefix: true},
	}
	for _, cap := range []int{1, 10, defaultAuditRangeCap} {
		s.auditRangeCap = cap
		for _, f := range filters {
			var want []string
			for _, e := range all {
				if matches(f, e) {
					want = append(want, e.Target)
				}
			}
			// Page through, 7 at a time.
			var got []string
			page := f
			page.Limit = 7
			for n := 0; ; n++ {
				if n > 100 {
					t.Fatal("paging does not end")
				}
				es, err := s.ListAuditFiltered(ctx, page)
				if err != nil {
					t.Fatalf("cap %d, %+v: %v", cap, page, err)
				}
				for _, e := range es {
					got = append(got, e.Target)
				}
				if len(es) < page.Limit {
					break
				}
				page.BeforeID = es[len(es)-1].ID
			}
			if !slices.Equal(got, want) {
				t.Errorf("cap %d, filter %+v:\n got %v\nwant %v", cap, f, got, want)
			}
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"admin-console:", "admin-console;", true},
		{"keys.", "keys/", true},
		{"a\xff", "b", true},
		{"a\xff\xff", "b", true},
		{"\xff", "", false},
		{"", "", false},
	} {
		got, ok := prefixEnd(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok && !(tc.in < got && !strings.HasPrefix(got, tc.in)) {
			t.Errorf("prefixEnd(%q) = %q is not above every string with the prefix", tc.in, got)
		}
	}
}
