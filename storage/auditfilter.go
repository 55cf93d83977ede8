package storage

import (
	"errors"
	"fmt"
	"time"
)

// AuditFilter selects audit events for ListAuditFiltered. Zero fields do
// not filter. Matching is exact and case-sensitive, byte for byte.
type AuditFilter struct {
	// Actor keeps events of this actor ("admin-console:ops"), or with
	// ActorPrefix of every actor it begins ("admin-console:").
	Actor       string
	ActorPrefix bool
	// Action keeps events of this action ("keys.rotate"), or with
	// ActionPrefix of every action it begins ("keys.").
	Action       string
	ActionPrefix bool
	// Since and Until keep events with Since <= At < Until.
	Since, Until time.Time
	// BeforeID keeps events with ID < BeforeID (0: from the newest), the
	// keyset of the next page.
	BeforeID int64
	// Limit is the page size; it must be positive.
	Limit int
}

// Check reports a filter no backend can run: a limit that is not positive,
// a negative BeforeID, or a time range that ends before it starts.
func (f AuditFilter) Check() error {
	switch {
	case f.Limit <= 0:
		return fmt.Errorf("audit filter: limit %d must be positive", f.Limit)
	case f.BeforeID < 0:
		return fmt.Errorf("audit filter: beforeID %d must not be negative", f.BeforeID)
	case !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since):
		return errors.New("audit filter: until is before since")
	}
	return nil
}
