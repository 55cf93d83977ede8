package storagetest

import (
	"fmt"
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
