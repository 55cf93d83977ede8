//go:build unix

package sqlite

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/wxoidc/wxoidc/storage"
)

// The database, -wal and -shm files are created readable by their owner
// only, even under a umask that would give SQLite's default 0644.
func TestFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })

	path := filepath.Join(t.TempDir(), "wxoidc.db")
	s, err := Open(t.Context(), "sqlite://"+path, Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateClient(t.Context(), storage.Client{ID: "mode-check", TokenEndpointAuthMethod: "none", GrantTypes: []string{"refresh_token"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatalf("after a write: %v", err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", filepath.Base(name), mode)
		}
	}
}
