package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// backupToken is the token session number i of a test, by its signature.
func backupToken(sig string, now time.Time) storage.TokenSession {
	return storage.TokenSession{
		Kind: storage.KindRefreshToken, Signature: sig, RequestID: "req-" + sig, RequestedAt: now,
		ClientID: "client-1", Subject: "account-1", GrantedScopes: []string{"openid"}, Form: "scope=openid",
		SessionData: []byte("sealed-" + sig), Active: true, ExpiresAt: now.Add(time.Hour),
	}
}

// backupKeys are the signing keys of a test: one per state, with private
// key bytes standing for the sealed keys.
func backupKeys(now time.Time) []storage.SigningKey {
	var ks []storage.SigningKey
	for i, st := range []storage.KeyState{storage.KeyNext, storage.KeyCurrent, storage.KeyRetired, storage.KeyRevoked} {
		k := storage.SigningKey{
			KID: fmt.Sprintf("kid-%d", i), Algorithm: "ES256", State: st,
			PrivateKeyEncrypted: []byte(fmt.Sprintf("sealed-private-%d", i)), PublicJWK: []byte(fmt.Sprintf(`{"kid":"kid-%d"}`, i)),
			CreatedAt: now.Add(time.Duration(i) * time.Second),
		}
		switch st {
		case storage.KeyCurrent:
			k.ActivatedAt = now
		case storage.KeyRetired:
			k.ActivatedAt, k.RetiredAt, k.RemoveAfter = now, now, now.Add(time.Hour)
		case storage.KeyRevoked:
			k.RevokedAt = now
		}
		ks = append(ks, k)
	}
	return ks
}

// tokenSignatures lists every token signature of the database at path.
func tokenSignatures(t *testing.T, s *Storage) []string {
	t.Helper()
	rows, err := s.readers.QueryContext(t.Context(), `SELECT signature FROM token_sessions ORDER BY signature`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sig string
		if err := rows.Scan(&sig); err != nil {
			t.Fatal(err)
		}
		out = append(out, sig)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The "done when": a backup taken while other connections write
// tokens as fast as they can, restored into a fresh path, holds every token
// and signing key that existed when the backup began, only tokens that were
// written, and passes SQLite's checks and the schema check.
func TestBackupUnderWriteLoadRestoresEverything(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "wxoidc.db")
	now := time.Now().UTC().Truncate(time.Microsecond)

	// Two stores on one file: the connections of two servers.
	a, err := Open(ctx, "sqlite://"+dbPath, Options{Migrate: true, Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dbPath, Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	wantKeys, err := a.UpdateSigningKeys(ctx, func([]storage.SigningKey) ([]storage.SigningKey, error) { return backupKeys(now), nil })
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu        sync.Mutex
		attempted = map[string]bool{} // every signature a writer tried
		acked     []string            // signatures whose write returned, in order
	)
	write := func(s *Storage, sig string) error {
		mu.Lock()
		attempted[sig] = true
		mu.Unlock()
		if err := s.CreateTokenSession(ctx, backupToken(sig, now)); err != nil {
			return err
		}
		mu.Lock()
		acked = append(acked, sig)
		mu.Unlock()
		return nil
	}
	for i := range 200 {
		if err := write(a, fmt.Sprintf("seed-%04d", i)); err != nil {
			t.Fatal(err)
		}
	}

	// The load: four writers, two per store, until stopped. Each reports
	// progress so the backup starts mid-load without a sleep.
	stop := make(chan struct{})
	progress := make(chan struct{}, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := write(s, fmt.Sprintf("load-%d-%06d", w, i)); err != nil {
					errs <- err
					return
				}
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	for range 50 { // the load is running
		<-progress
	}

	mu.Lock()
	before := slices.Clone(acked)
	mu.Unlock()
	backupPath := filepath.Join(t.TempDir(), "backup.db")
	info, err := Backup(ctx, "sqlite://"+dbPath, backupPath)
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writer: %v", err)
	}
	if err != nil {
		t.Fatalf("Backup under load: %v", err)
	}
	t.Logf("backup of %d bytes, schema %d; %d tokens before it, %d written while it ran", info.Size, info.SchemaVersion, len(before), during)
	_, latest, err := a.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != backupPath || info.SchemaVersion != latest || info.Size == 0 {
		t.Errorf("BackupInfo = %+v, want path %s, schema version %d", info, backupPath, latest)
	}
	if fi, err := os.Stat(backupPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, %v; want mode 0600", fi, err)
	}
	if left := leftovers(t, filepath.Dir(backupPath), "backup.db"); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// Restore into a fresh path.
	restored := filepath.Join(t.TempDir(), "restored", "wxoidc.db")
	if err := os.MkdirAll(filepath.Dir(restored), 0o700); err != nil {
		t.Fatal(err)
	}
	res, err := Restore(ctx, restored, backupPath, RestoreOptions{})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if res.Path != restored || res.KeptAs != "" || res.From.SchemaVersion != latest {
		t.Errorf("RestoreResult = %+v", res)
	}
	if v, err := verifyFile(ctx, restored); err != nil || v != latest {
		t.Fatalf("restored file: version %d, %v", v, err)
	}

	r, err := Open(ctx, restored, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if cur, lat, err := r.SchemaVersion(ctx); err != nil || cur != lat {
		t.Fatalf("restored schema %d of %d: %v", cur, lat, err)
	}
	gotKeys, err := r.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gotKeys) != fmt.Sprint(wantKeys) {
		t.Errorf("restored signing keys\n got %+v\nwant %+v", gotKeys, wantKeys)
	}
	for _, sig := range before {
		got, err := r.GetTokenSession(ctx, storage.KindRefreshToken, sig)
		if err != nil {
			t.Fatalf("token %s, written before the backup began: %v", sig, err)
		}
		if want := backupToken(sig, now); got.RequestID != want.RequestID || string(got.SessionData) != string(want.SessionData) || !got.ExpiresAt.Equal(want.ExpiresAt) {
			t.Fatalf("token %s: got %+v, want %+v", sig, got, want)
		}
	}
	all := tokenSignatures(t, r)
	for _, sig := range all {
		if !attempted[sig] {
			t.Fatalf("restored token %s was never written", sig)
		}
	}
	if len(all) < len(before) {
		t.Fatalf("restored %d tokens, fewer than the %d before the backup", len(all), len(before))
	}
	// The restored database takes writes.
	if err := r.CreateTokenSession(ctx, backupToken("after-restore", now)); err != nil {
		t.Fatalf("write to the restored database: %v", err)
	}
}

// A write transaction open in another connection neither holds the backup
// up nor gets into it: the backup is the database as committed when it
// began.
func TestBackupIgnoresOpenWriteTransaction(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	now := time.Now().UTC()
	if err := s.CreateTokenSession(ctx, backupToken("committed", now)); err != nil {
		t.Fatal(err)
	}
	dbPath := s.path(t)

	// Another connection holds the write lock, an insert uncommitted.
	other, err := sql.Open("sqlite", fileURI(dbPath, url.Values{"_busy_timeout": {"0"}, "_txlock": {"immediate"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, insertTokenSQL, tokenArgs(backupToken("uncommitted", now))...); err != nil {
		t.Fatal(err)
	}

	backupPath := filepath.Join(t.TempDir(), "backup.db")
	// A backup that waited for the lock would wait forever: the
	// transaction ends only after Backup returns.
	if _, err := Backup(ctx, dbPath, backupPath); err != nil {
		t.Fatalf("Backup while another connection writes: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	restored := filepath.Join(t.TempDir(), "wxoidc.db")
	if _, err := Restore(ctx, restored, backupPath, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, restored, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := tokenSignatures(t, r); !slices.Equal(got, []string{"committed"}) {
		t.Errorf("restored tokens %v, want only the committed one", got)
	}
}

// path is the file s was opened on.
func (s *Storage) path(t *testing.T) string {
	t.Helper()
	var file string
	if err := s.readers.QueryRowContext(t.Context(), `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
		t.Fatal(err)
	}
	return file
}

// leftovers lists the files of dir other than keep.
func leftovers(t *testing.T, dir string, keep ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !slices.Contains(keep, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestBackupRefusals(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Options{})
	dbPath := s.path(t)
	outDir := t.TempDir()
	existing := filepath.Join(outDir, "existing.db")
	if err := os.WriteFile(existing, []byte("an older backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	missingDB := filepath.Join(t.TempDir(), "none.db")
	tests := []struct {
		name, dsn, to, errPart string
	}{
		{"existing file", dbPath, existing, "already exists: refusing to overwrite"},
		{"no such directory", dbPath, filepath.Join(outDir, "no", "such", "dir.db"), "no such file or directory"},
		{"no database", missingDB, filepath.Join(outDir, "x.db"), "no such file or directory"},
		{"postgres", "postgres://u:secret@db/wxoidc", filepath.Join(outDir, "y.db"), "not a sqlite:// DSN"},
		{"empty name", dbPath, "", "no backup file name"},
		{"the database's WAL", dbPath, dbPath + "-wal", "a file of the database itself"},
		{"the database itself", dbPath, dbPath, "already exists"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Backup(ctx, tc.dsn, tc.to)
			if err == nil || !strings.Contains(err.Error(), tc.errPart) {
				t.Fatalf("Backup(%q, %q) = %v, want an error containing %q", tc.dsn, tc.to, err, tc.errPart)
			}
		})
	}
	if raw, err := os.ReadFile(existing); err != nil || string(raw) != "an older backup" {
		t.Errorf("the existing file was changed: %q %v", raw, err)
	}
	if _, err := os.Stat(missingDB); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a backup of a missing database created it: %v", err)
	}
	if left := leftovers(t, outDir, "existing.db"); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// writeDB creates a SQLite file at path by running stmts.
func writeDB(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", fileURI(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// A backup that is not an intact wxoidc database this binary knows is
// refused with a message that says so, before the database is touched.
func TestRestoreRefusesBadBackups(t *testing.T) {
	ctx := t.Context()
	src := openTest(t, Options{})
	if err := src.CreateTokenSession(ctx, backupToken("in-backup", time.Now())); err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	good := filepath.Join(bad, "good.db")
	if _, err := Backup(ctx, src.path(t), good); err != nil {
		t.Fatal(err)
	}
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	// variant writes a copy of the good backup changed by stmts.
	variant := func(name string, stmts ...string) string {
		p := filepath.Join(bad, name)
		if err := os.WriteFile(p, goodBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		writeDB(t, p, stmts...)
		return p
	}
	file := func(name string, content []byte) string {
		p := filepath.Join(bad, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A damaged file: the good backup with the b-tree page headers of
	// every page but the first (the schema) overwritten.
	damaged := slices.Clone(goodBytes)
	pageSize := int(damaged[16])<<8 | int(damaged[17])
	for off := pageSize; off < len(damaged); off += pageSize {
		copy(damaged[off:off+8], "\x5a\x5a\x5a\x5a\x5a\x5a\x5a\x5a")
	}
	other := filepath.Join(bad, "other-app.db")
	writeDB(t, other, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`)

	tests := []struct {
		name, from, errPart string
	}{
		{"text file", file("notes.txt", []byte(strings.Repeat("not a database\n", 400))), "not a SQLite database"},
		{"empty file", file("empty.db", nil), "not a wxoidc database"},
		{"another application's database", other, "not a wxoidc database (no schema_migrations table)"},
		{"damaged", file("damaged.db", damaged), "damaged"},
		{"newer schema", variant("newer.db", fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '9999_future.sql', 0)`, len(ms)+1)),
			fmt.Sprintf("schema version %d is newer than this binary's %d", len(ms)+1, len(ms))},
		{"foreign migration", variant("foreign.db", `UPDATE schema_migrations SET name = '0001_other.sql' WHERE version = 1`), "not a wxoidc database (migration 1"},
		{"gap in migrations", variant("gap.db", `DELETE FROM schema_migrations WHERE version = 2`), "not a wxoidc database (schema_migrations has version 3 after 1)"},
		{"no migrations", variant("nomig.db", `DELETE FROM schema_migrations`), "not a wxoidc database (no migration applied)"},
		{"missing", filepath.Join(bad, "missing.db"), "no such file or directory"},
		{"directory", bad, "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dbPath := filepath.Join(dir, "wxoidc.db")
			cur, err := Open(ctx, dbPath, Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := cur.CreateTokenSession(ctx, backupToken("current", time.Now())); err != nil {
				t.Fatal(err)
			}
			cur.Close()

			_, err = Restore(ctx, dbPath, tc.from, RestoreOptions{})
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), tc.errPart) {
				t.Fatalf("Restore from %s = %v, want an error containing %q", tc.name, err, tc.errPart)
			}
			if left := leftovers(t, dir, "wxoidc.db", "wxoidc.db-shm", "wxoidc.db-wal"); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
			s, err := Open(ctx, dbPath, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := tokenSignatures(t, s); !slices.Equal(got, []string{"current"}) {
				t.Errorf("the current database changed: tokens %v", got)
			}
		})
	}

	// The database itself is not a backup of itself.
	dbPath := src.path(t)
	src.Close()
	if _, err := Restore(ctx, dbPath, dbPath, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "the database itself") {
		t.Errorf("restore of the database onto itself: %v", err)
	}
}

// helperEnv makes the test binary, run by holdOpenInChild, hold a database
// open in a process of its own, as a server does.
const helperEnv = "WXOIDC_SQLITE_TEST_HOLD_OPEN"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(holdOpen(path))
	}
	os.Exit(m.Run())
}

// holdOpen opens the database at path, reads from it, says "ready" and
// keeps it open until its standard input closes.
func holdOpen(path string) int {
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	defer s.Close()
	if _, err := s.ListSigningKeys(context.Background()); err != nil {
		fmt.Println("read:", err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// holdOpenInChild runs holdOpen in another process and returns once the
// database is open there; release ends that process.
func holdOpenInChild(t *testing.T, path string) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		stdin.Close()
		_ = cmd.Wait()
		t.Fatalf("child: %q %v", line, err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("child: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// Restore refuses while the database is open, idle or not, in this process
// or another, and leaves it alone; once nothing has it open, the backup
// replaces it and the replaced database is kept whole.
func TestRestoreRefusesDatabaseInUse(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "wxoidc.db")
	now := time.Date(2026, 12, 3, 22, 30, 0, 0, time.UTC)
	s, err := Open(ctx, dbPath, Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTokenSession(ctx, backupToken("in-backup", now)); err != nil {
		t.Fatal(err)
	}
	backupPath := filepath.Join(t.TempDir(), "backup.db")
	if _, err := Backup(ctx, dbPath, backupPath); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTokenSession(ctx, backupToken("after-backup", now)); err != nil {
		t.Fatal(err)
	}

	// Open in this process (a store, idle).
	_, err = Restore(ctx, dbPath, backupPath, RestoreOptions{})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "stop them all") {
		t.Fatalf("Restore while a store has the database open: %v, want ErrInUse", err)
	}
	if got := tokenSignatures(t, s); !slices.Equal(got, []string{"after-backup", "in-backup"}) {
		t.Fatalf("the refused restore changed the database: %v", got)
	}
	s.Close()

	// A database in rollback-journal mode (not wxoidc's), read by another
	// connection.
	plain := filepath.Join(t.TempDir(), "plain.db")
	writeDB(t, plain, `PRAGMA journal_mode = DELETE`, `CREATE TABLE t (x)`)
	reader, err := sql.Open("sqlite", fileURI(plain, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	rtx, err := reader.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, plain, backupPath, RestoreOptions{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("Restore over a rollback-mode database being read: %v, want ErrInUse", err)
	}
	_ = rtx.Rollback()

	// Open in another process; with DiscardCurrent too.
	release := holdOpenInChild(t, dbPath)
	for _, discard := range []bool{false, true} {
		if _, err := Restore(ctx, dbPath, backupPath, RestoreOptions{DiscardCurrent: discard}); !errors.Is(err, ErrInUse) {
			t.Fatalf("Restore (discard %v) while another process has the database open: %v, want ErrInUse", discard, err)
		}
	}
	release()

	res, err := Restore(ctx, dbPath, backupPath, RestoreOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("Restore once nothing uses the database: %v", err)
	}
	wantKept := dbPath + ".before-restore-20261203T223000Z"
	if res.KeptAs != wantKept {
		t.Errorf("KeptAs = %q, want %q", res.KeptAs, wantKept)
	}
	for _, stale := range []string{dbPath + "-wal", dbPath + "-shm", dbPath + "-journal", wantKept + "-wal"} {
		if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it gone", filepath.Base(stale), err)
		}
	}
	if left := leftovers(t, dir, "wxoidc.db", filepath.Base(wantKept)); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	if fi, err := os.Stat(dbPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored database: %v %v, want mode 0600", fi, err)
	}

	r, err := Open(ctx, dbPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := tokenSignatures(t, r); !slices.Equal(got, []string{"in-backup"}) {
		t.Errorf("restored tokens %v, want the backup's", got)
	}
	// The kept database is complete on its own: its WAL was checkpointed
	// into it before it was set aside.
	if _, err := verifyFile(ctx, wantKept); err != nil {
		t.Fatal(err)
	}
	k, err := Open(ctx, wantKept, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if got := tokenSignatures(t, k); !slices.Equal(got, []string{"after-backup", "in-backup"}) {
		t.Errorf("kept database tokens %v, want both", got)
	}

	// Discarding: no copy is kept.
	r.Close()
	res, err = Restore(ctx, dbPath, backupPath, RestoreOptions{DiscardCurrent: true, Now: func() time.Time { return now.Add(time.Hour) }})
	if err != nil || res.KeptAs != "" {
		t.Fatalf("Restore discarding: %+v %v", res, err)
	}
	if left := leftovers(t, dir, "wxoidc.db", filepath.Base(wantKept), filepath.Base(wantKept)+"-shm", filepath.Base(wantKept)+"-wal"); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
