package provider

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/storage"
)

// TestErrorOfStorageUnavailable: wherever a temporary storage failure
// surfaces (fosite wraps storage errors in invalid_client, server_error, its
// serialization failure; our handlers in temporarily_unavailable), the
// answer is 503 temporarily_unavailable with Retry-After, never 500 or 401.
func TestErrorOfStorageUnavailable(t *testing.T) {
	down := fmt.Errorf("storage/postgres: get client: %w: connection refused", storage.ErrUnavailable)
	busy := fmt.Errorf("sqlite: %w: %w: database is locked", storage.ErrConflict, storage.ErrUnavailable)
	lost := fmt.Errorf("storage/postgres: rotate: %w: serialization failure", storage.ErrConflict)
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"bare", down, http.StatusServiceUnavailable},
		{"client lookup (fosite invalid_client)", fosite.ErrInvalidClient.WithWrap(mapErr(down)).WithDebug(down.Error()), http.StatusServiceUnavailable},
		{"token store (fosite server_error)", fosite.ErrServerError.WithWrap(mapErr(down)), http.StatusServiceUnavailable},
		{"handler storageError", storageError(down), http.StatusServiceUnavailable},
		{"sqlite busy through fosite's serialization failure", mapErr(busy), http.StatusServiceUnavailable},
		{"sqlite busy in refresh (fosite invalid_request)", fosite.ErrInvalidRequest.WithWrap(mapErr(busy)), http.StatusServiceUnavailable},
		{"conflict past the retries", mapErr(lost), http.StatusServiceUnavailable},
		{"conflict fosite already answered (concurrent refresh)", fosite.ErrInvalidRequest.WithWrap(mapErr(lost)), http.StatusBadRequest},
		{"other storage failure", fosite.ErrServerError.WithWrap(errors.New("disk full")), http.StatusInternalServerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := ErrorOf(tc.err)
			if e.Status != tc.want {
				t.Fatalf("status = %d (%s), want %d", e.Status, e.Code, tc.want)
			}
			if tc.want != http.StatusServiceUnavailable {
				return
			}
			if e.Code != "temporarily_unavailable" || e.RetryAfter != time.Second {
				t.Errorf("answer = %s Retry-After %v, want temporarily_unavailable after 1s", e.Code, e.RetryAfter)
			}
		})
	}
}
