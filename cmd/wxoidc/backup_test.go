package main

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

// runWith runs one command in-process with environ.
func runWith(environ []string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), &cliEnv{stdout: &out, stderr: &errb, environ: environ}, args)
	return code, out.String(), errb.String()
}

// mustRun runs a command that must succeed and returns its stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runWith(nil, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// clientExists reports whether `clients show` finds the client id.
func clientExists(t *testing.T, config, id string) bool {
	t.Helper()
	code, _, _ := runWith(nil, "clients", "show", "--config", config, id)
	return code == 0
}

// backup → restore round trip with the production-style configuration,
// and what both commands refuse, with their exit codes and messages.
func TestBackupRestoreCLI(t *testing.T) {
	e := writeAdminConfig(t, "http://127.0.0.1:1", "127.0.0.1:1", "127.0.0.1:2", time.Second)
	mustRun(t, "migrate", "--config", e.configPath)
	mustRun(t, "clients", "create", "--config", e.configPath, "--id", "before-backup")
	mustRun(t, "keys", "rotate", "--config", e.configPath, "--force")
	keysBefore := mustRun(t, "keys", "list", "--config", e.configPath, "--json")
	if !strings.Contains(keysBefore, `"kid"`) {
		t.Fatalf("no signing keys to compare: %s", keysBefore)
	}

	out := t.TempDir()
	backupPath := filepath.Join(out, "wxoidc-backup.db")
	stdout := mustRun(t, "backup", "--config", e.configPath, "--to", backupPath)
	if !strings.HasPrefix(stdout, "wrote "+backupPath+": ") || !strings.Contains(stdout, " bytes, schema version ") {
		t.Errorf("backup printed %q", stdout)
	}
	if fi, err := os.Stat(backupPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v %v, want mode 0600", fi, err)
	}
	backupBytes, err := os.ReadFile(backupPath)
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, "clients", "create", "--config", e.configPath, "--id", "after-backup")
	mustRun(t, "keys", "rotate", "--config", e.configPath, "--force")

	garbage := filepath.Join(out, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database\n"), 300), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(out, "foreign.db")
	writeForeignDB(t, foreign)
	pg := []string{"WXOIDC_STORAGE_DSN=postgres://wxoidc:hunter2-secret@127.0.0.1:1/wxoidc"}

	refusals := []struct {
		name     string
		environ  []string
		args     []string
		code     int
		inStderr string
	}{
		{"backup over an existing file", nil, []string{"backup", "--config", e.configPath, "--to", backupPath}, 1, "already exists: refusing to overwrite"},
		{"backup without --to", nil, []string{"backup", "--config", e.configPath}, 2, "need --to PATH"},
		{"backup with a stray argument", nil, []string{"backup", "--config", e.configPath, "--to", filepath.Join(out, "x.db"), "extra"}, 2, "unexpected argument"},
		{"backup of PostgreSQL", pg, []string{"backup", "--config", e.configPath, "--to", filepath.Join(out, "pg.db")}, 1, "use pg_dump (docs/operations.md"},
		{"restore without --from", nil, []string{"restore", "--config", e.configPath}, 2, "need --from PATH"},
		{"restore to PostgreSQL", pg, []string{"restore", "--config", e.configPath, "--from", backupPath}, 1, "use pg_restore (docs/operations.md"},
		{"restore of a file that is no database", nil, []string{"restore", "--config", e.configPath, "--from", garbage}, 1, "not a SQLite database"},
		{"restore of another application's database", nil, []string{"restore", "--config", e.configPath, "--from", foreign}, 1, "not a wxoidc database (no schema_migrations table)"},
		{"restore of a missing file", nil, []string{"restore", "--config", e.configPath, "--from", filepath.Join(out, "missing.db")}, 1, "no such file or directory"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runWith(tc.environ, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
				t.Errorf("exit %d, want %d; stderr lacks %q?\nstdout: %s\nstderr: %s", code, tc.code, tc.inStderr, stdout, stderr)
			}
			if strings.Contains(stdout+stderr, "hunter2") {
				t.Errorf("the DSN's password was printed: %s%s", stdout, stderr)
			}
		})
	}
	if raw, err := os.ReadFile(backupPath); err != nil || !bytes.Equal(raw, backupBytes) {
		t.Errorf("a refused backup changed the existing file (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(out, "pg.db")); !os.IsNotExist(err) {
		t.Errorf("a PostgreSQL backup wrote a file: %v", err)
	}
	if !clientExists(t, e.configPath, "after-backup") {
		t.Fatal("a refused restore changed the database")
	}

	stdout = mustRun(t, "restore", "--config", e.configPath, "--from", backupPath)
	dbPath := filepath.Join(e.dir, "wxoidc.db")
	if !strings.HasPrefix(stdout, "restored "+dbPath+" from "+backupPath) || !strings.Contains(stdout, "kept as "+dbPath+".before-restore-") {
		t.Errorf("restore printed %q", stdout)
	}
	if !clientExists(t, e.configPath, "before-backup") || clientExists(t, e.configPath, "after-backup") {
		t.Error("the restored database is not the backup")
	}
	if keysAfter := mustRun(t, "keys", "list", "--config", e.configPath, "--json"); keysAfter != keysBefore {
		t.Errorf("signing keys after the restore:\n%s\nwant\n%s", keysAfter, keysBefore)
	}
	kept, err := filepath.Glob(filepath.Join(e.dir, "wxoidc.db.before-restore-*"))
	if err != nil || len(kept) != 1 {
		t.Fatalf("kept databases: %v %v", kept, err)
	}

	// --force-discard keeps nothing more.
	stdout = mustRun(t, "restore", "--config", e.configPath, "--from", backupPath, "--force-discard")
	if strings.Contains(stdout, "kept as") {
		t.Errorf("restore --force-discard printed %q", stdout)
	}
	if again, _ := filepath.Glob(filepath.Join(e.dir, "wxoidc.db.before-restore-*")); len(again) != 1 {
		t.Errorf("kept databases after --force-discard: %v", again)
	}
}

// writeForeignDB writes a SQLite database of some other application.
func writeForeignDB(t *testing.T, path string) {
	t.Helper()
	// A dev data directory's database is a wxoidc one; a copy with its
	// schema_migrations table dropped is not.
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, "migrate", "--data", dir)
	mustRun(t, "backup", "--data", dir, "--to", path)
	s, err := sql.Open("sqlite", path) // the driver storage/sqlite registers
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Exec(`DROP TABLE schema_migrations`); err != nil {
		t.Fatal(err)
	}
}

// While `wxoidc serve` runs on the database (another process), backup
// works and restore is refused, leaving the server serving; once it is
// stopped, restore brings the backup back.
func TestRestoreRefusedWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a server process")
	}
	bin := testharness.BuildWxoidc(t)
	e := writeAdminConfig(t, "http://"+testharness.FreeAddr(t), "127.0.0.1:1", "127.0.0.1:2", time.Second)
	srv := startServe(t, bin, "serve", e)
	srv.waitReady(t, time.Now().Add(30*time.Second))

	mustRun(t, "clients", "create", "--config", e.configPath, "--id", "before-backup")
	backupPath := filepath.Join(t.TempDir(), "wxoidc-backup.db")
	mustRun(t, "backup", "--config", e.configPath, "--to", backupPath)
	mustRun(t, "clients", "create", "--config", e.configPath, "--id", "after-backup")

	code, stdout, stderr := runWith(nil, "restore", "--config", e.configPath, "--from", backupPath)
	if code != 1 || !strings.Contains(stderr, "database is in use") || !strings.Contains(stderr, "stop them all") {
		t.Fatalf("restore while serving: exit %d\n%s%s", code, stdout, stderr)
	}
	if kept, _ := filepath.Glob(filepath.Join(e.dir, "wxoidc.db.before-restore-*")); len(kept) != 0 {
		t.Errorf("a refused restore kept %v", kept)
	}
	resp, err := http.Get("http://" + srv.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("server after the refused restore: %d", resp.StatusCode)
	}
	if !clientExists(t, e.configPath, "after-backup") {
		t.Fatal("a refused restore changed the database")
	}

	srv.stop(t)
	mustRun(t, "restore", "--config", e.configPath, "--from", backupPath)
	if !clientExists(t, e.configPath, "before-backup") || clientExists(t, e.configPath, "after-backup") {
		t.Error("the restored database is not the backup")
	}
	// The server starts on the restored database.
	again := startServe(t, bin, "serve after restore", e)
	again.waitReady(t, time.Now().Add(30*time.Second))
	again.stop(t)
}
