package app

import (
	"context"
	"log/slog"
	"time"
)

// expiredDeleter is what the cleanup needs of the store: the bounded deletes
// of expired rows (storage.TokenSessionStore, LoginSessionStore,
// AuthFlowStore, ScanTicketStore).
type expiredDeleter interface {
	DeleteExpiredTokenSessions(ctx context.Context, now time.Time, limit int) (int64, error)
	DeleteExpiredLoginSessions(ctx context.Context, now time.Time, limit int) (int64, error)
	DeleteExpiredAuthFlows(ctx context.Context, now time.Time, limit int) (int64, error)
	DeleteExpiredScanTickets(ctx context.Context, now time.Time, limit int) (int64, error)
}

// cleanupLoop deletes expired rows every storage.cleanup_interval, in
// bounded batches, so a large backlog never holds the write lock for long.
func (a *App) cleanupLoop(ctx context.Context) {
	every := a.Config.Storage.CleanupInterval.Duration
	batch := a.Config.Storage.CleanupBatch
	if every <= 0 || batch <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		deleteExpired(ctx, a.Store, a.now, batch, a.log)
	}
}

// deleteExpired runs one cleanup pass: each kind of expiring row in turn,
// batch by batch until a batch comes back short. A failing kind is logged
// and skipped; the next pass tries again.
func deleteExpired(ctx context.Context, store expiredDeleter, now func() time.Time, batch int, log *slog.Logger) {
	kinds := []struct {
		what string
		del  func(ctx context.Context, now time.Time, limit int) (int64, error)
	}{
		{"token sessions", store.DeleteExpiredTokenSessions},
		{"login sessions", store.DeleteExpiredLoginSessions},
		{"auth flows", store.DeleteExpiredAuthFlows},
		{"scan tickets", store.DeleteExpiredScanTickets},
	}
	for _, k := range kinds {
		total := int64(0)
		for ctx.Err() == nil {
			n, err := k.del(ctx, now(), batch)
			if err != nil {
				log.WarnContext(ctx, "cleanup of expired "+k.what+" failed", "error", err.Error())
				break
			}
			total += n
			if n < int64(batch) {
				break
			}
		}
		if total > 0 {
			log.InfoContext(ctx, "expired "+k.what+" deleted", "count", total)
		}
	}
}
