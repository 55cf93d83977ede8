package sqlite

// Online backup and offline restore of a database file (docs/operations.md,
// "Backups").
//
// Backup runs VACUUM INTO on a read-only connection of its own. In WAL mode
// that is one read transaction: it sees the database as of its start, every
// transaction committed before it and none after, while servers in this or
// other processes keep reading and writing. Copying the database file
// instead is unsafe: committed transactions that are still in the -wal file
// would be missing, and a copy taken during a checkpoint is torn.
//
// Restore replaces the database file while nothing uses it. To know that,
// it opens the database with locking_mode=EXCLUSIVE and busy_timeout 0,
// switches it out of WAL mode and runs an empty BEGIN EXCLUSIVE. In WAL
// mode every open connection (a server's, an admin command's, in any
// process) holds a shared lock on the database file for as long as it is
// open, idle or not; leaving WAL mode needs the exclusive lock, so it fails
// at once while any connection is open. In exclusive locking mode the
// connection then keeps that lock until Restore is done, so no server can
// open the old database meanwhile, and the old database is one
// self-contained file (the switch checkpoints the WAL into it). The -wal
// and -shm files cannot tell the same: they outlive a crashed server.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wxoidc/wxoidc/storage"
)

// ErrInUse is returned by Restore while a process has the database open.
var ErrInUse = errors.New("database is in use")

// BackupInfo describes a verified backup file.
type BackupInfo struct {
	Path          string // absolute path
	Size          int64  // bytes
	SchemaVersion int    // latest migration applied
}

// Backup writes a consistent copy of the database named by dsnOrPath (as
// for Open) to the new file to, while servers may be using the database.
// It refuses to overwrite an existing file. The copy is written to a
// temporary file next to to, verified (as Restore verifies a backup),
// synced and then linked to its name, so to is either absent or complete.
// The file is readable by its owner only: it holds the same secrets as the
// database.
func Backup(ctx context.Context, dsnOrPath, to string) (BackupInfo, error) {
	info, err := backup(ctx, dsnOrPath, to)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	return info, nil
}

func backup(ctx context.Context, dsnOrPath, to string) (BackupInfo, error) {
	src, err := parseDSN(dsnOrPath)
	if err != nil {
		return BackupInfo{}, err
	}
	if _, err := os.Stat(src); err != nil {
		return BackupInfo{}, fmt.Errorf("database: %w", err)
	}
	if to == "" {
		return BackupInfo{}, errors.New("no backup file name")
	}
	dst, err := filepath.Abs(to)
	if err != nil {
		return BackupInfo{}, err
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if dst == src+suffix {
			return BackupInfo{}, fmt.Errorf("%s is a file of the database itself: choose another name", dst)
		}
	}
	if _, err := os.Lstat(dst); err == nil {
		return BackupInfo{}, fmt.Errorf("%s already exists: refusing to overwrite it (choose a new name)", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return BackupInfo{}, err
	}

	// VACUUM INTO accepts an existing file when it is empty: CreateTemp
	// makes it 0600 and with a name nobody else uses.
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return BackupInfo{}, err
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer removeFamily(tmpPath) // after the link, only the temporary name goes

	if err := vacuumInto(ctx, src, tmpPath); err != nil {
		return BackupInfo{}, err
	}
	version, err := verifyFile(ctx, tmpPath)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("the copy failed verification: %w", err)
	}
	if err := syncFile(tmpPath); err != nil {
		return BackupInfo{}, err
	}
	// A link, unlike a rename, fails when dst appeared meanwhile.
	if err := os.Link(tmpPath, dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return BackupInfo{}, fmt.Errorf("%s already exists: refusing to overwrite it (choose a new name)", dst)
		}
		return BackupInfo{}, err
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return BackupInfo{}, err
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return BackupInfo{}, err
	}
	return BackupInfo{Path: dst, Size: fi.Size(), SchemaVersion: version}, nil
}

// vacuumInto copies the database at src into the empty file dst, on a
// read-only connection of its own (it never writes to src).
func vacuumInto(ctx context.Context, src, dst string) error {
	db, err := sql.Open("sqlite", fileURI(src, url.Values{
		"mode":          {"ro"},
		"_busy_timeout": {strconv.FormatInt(defaultBusyTimeout.Milliseconds(), 10)},
	}))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("copy %s: %w", src, notADatabase(mapErr(err)))
	}
	return nil
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// DiscardCurrent drops the database being replaced instead of keeping
	// it as <db>.before-restore-<time>.
	DiscardCurrent bool
	// Now names the kept database. Default time.Now.
	Now func() time.Time
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	Path   string     // the database file now holding the backup
	From   BackupInfo // the backup restored
	KeptAs string     // the replaced database; "" when there was none or it was discarded
	// LatestSchemaVersion is this binary's. A backup below it needs Migrate
	// before servers use it.
	LatestSchemaVersion int
}

// Restore replaces the database named by dsnOrPath with the backup file
// from. It refuses (ErrInUse) while any process has the database open, and
// refuses a backup that is damaged, not a wxoidc database, or at a schema
// version newer than this binary's. The backup is copied next to the
// database, verified there and renamed into place, so the database is
// either the old one or the restored one. The old database is kept, as one
// self-contained file, under <db>.before-restore-<UTC time> unless
// opts.DiscardCurrent; stale -wal and -shm files are removed. The backup
// file itself is not changed. A database that does not exist yet is simply
// created from the backup.
//
// No server may start until Restore returns: one that opened the old file
// during the swap would keep using it.
func Restore(ctx context.Context, dsnOrPath, from string, opts RestoreOptions) (RestoreResult, error) {
	res, err := restore(ctx, dsnOrPath, from, opts)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("sqlite: restore: %w", err)
	}
	return res, nil
}

func restore(ctx context.Context, dsnOrPath, from string, opts RestoreOptions) (res RestoreResult, err error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	dbPath, err := parseDSN(dsnOrPath)
	if err != nil {
		return res, err
	}
	if from == "" {
		return res, errors.New("no backup file name")
	}
	srcPath, err := filepath.Abs(from)
	if err != nil {
		return res, err
	}
	srcInfo, err := os.Stat(srcPath)
	switch {
	case err != nil:
		return res, fmt.Errorf("backup file: %w", err)
	case !srcInfo.Mode().IsRegular():
		return res, fmt.Errorf("backup file %s: not a regular file", srcPath)
	}
	dbInfo, err := os.Stat(dbPath)
	dbExists := err == nil
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return res, fmt.Errorf("database: %w", err)
	case dbExists && os.SameFile(srcInfo, dbInfo):
		return res, fmt.Errorf("%s is the database itself, not a backup of it", srcPath)
	}

	// Copy first, so that what is verified is what gets installed, and a
	// bad backup is refused before the database is touched.
	tmpPath, err := copyPrivate(srcPath, filepath.Dir(dbPath), "."+filepath.Base(dbPath)+".restore-*")
	if err != nil {
		return res, fmt.Errorf("copy the backup next to the database: %w", err)
	}
	defer removeFamily(tmpPath) // after the rename, only leftovers go
	version, err := verifyFile(ctx, tmpPath)
	if err != nil {
		return res, fmt.Errorf("backup %s: %w", srcPath, err)
	}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return res, err
	}
	// The servers open the file in WAL mode; in it already, it never needs
	// a rollback journal.
	if err := setWAL(ctx, tmpPath); err != nil {
		return res, fmt.Errorf("backup %s: %w", srcPath, err)
	}
	if err := syncFile(tmpPath); err != nil {
		return res, err
	}
	res = RestoreResult{Path: dbPath, From: BackupInfo{Path: srcPath, Size: srcInfo.Size(), SchemaVersion: version}, LatestSchemaVersion: len(ms)}

	if dbExists {
		release, err := lockExclusive(ctx, dbPath)
		if err != nil {
			return RestoreResult{}, err
		}
		// Released once the restored file is in place: until then, no
		// server can open the old one.
		defer release()
		if !opts.DiscardCurrent {
			kept := dbPath + ".before-restore-" + opts.Now().UTC().Format("20060102T150405Z")
			if err := os.Link(dbPath, kept); err != nil {
				return RestoreResult{}, fmt.Errorf("keep the current database: %w", err)
			}
			res.KeptAs = kept
		}
	}
	// Stale files of the old database (or of none: a -wal left without its
	// database must not be replayed into the restored one). Nothing holds
	// them: the exclusive lock is ours.
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(dbPath + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return RestoreResult{}, fmt.Errorf("remove stale %s: %w", dbPath+suffix, err)
		}
	}
	if err := os.Rename(tmpPath, dbPath); err != nil {
		return RestoreResult{}, fmt.Errorf("put the backup in place: %w", err)
	}
	if err := syncDir(filepath.Dir(dbPath)); err != nil {
		return RestoreResult{}, err
	}
	return res, nil
}

// lockExclusive takes the exclusive lock on the database at path, or
// returns ErrInUse at once if any connection has it open (package comment),
// and switches it to rollback-journal mode, which leaves it one complete
// file. release closes the connection, giving the lock up.
func lockExclusive(ctx context.Context, path string) (release func(), err error) {
	db, err := sql.Open("sqlite", fileURI(path, url.Values{"mode": {"rw"}, "_busy_timeout": {"0"}}))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open the current database: %w", err)
	}
	release = func() { conn.Close(); db.Close() }
	// Before the first read, which is when the lock is taken.
	if _, err := conn.ExecContext(ctx, "PRAGMA locking_mode = EXCLUSIVE"); err != nil {
		release()
		return nil, fmt.Errorf("lock the current database: %w", err)
	}
	// Leaving WAL mode fails while any connection is open. An empty
	// exclusive transaction then makes sure of the lock, whatever the mode
	// was; in exclusive locking mode it is kept after the commit.
	for _, q := range []string{"PRAGMA journal_mode = DELETE", "BEGIN EXCLUSIVE", "COMMIT"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			release()
			err = notADatabase(mapErr(err))
			if errors.Is(err, storage.ErrConflict) { // SQLITE_BUSY, mapped
				return nil, fmt.Errorf("%w: %s is open in another process or connection (a wxoidc serve or dev, or an admin command); stop them all, then restore", ErrInUse, path)
			}
			return nil, fmt.Errorf("lock the current database %s: %w", path, err)
		}
	}
	return release, nil
}

// verifyFile checks that the file at path (a temporary copy of ours) is an
// intact wxoidc database this binary can use, and returns its schema
// version: SQLite's integrity and foreign-key checks pass, and its
// schema_migrations table records this binary's migrations 1…version, by
// version and name.
func verifyFile(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", fileURI(path, url.Values{"mode": {"rw"}}))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return verifyDB(ctx, db)
}

func verifyDB(ctx context.Context, db *sql.DB) (int, error) {
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check(10)")
	if err != nil {
		return 0, notADatabase(mapErr(err))
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return 0, err
		}
		problems = append(problems, line)
	}
	if err := rows.Close(); err != nil {
		return 0, notADatabase(mapErr(err))
	}
	if err := rows.Err(); err != nil {
		return 0, notADatabase(mapErr(err))
	}
	if len(problems) != 1 || problems[0] != "ok" {
		return 0, fmt.Errorf("the file is damaged (integrity check: %s)", strings.Join(problems, "; "))
	}
	var fkProblems int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pragma_foreign_key_check").Scan(&fkProblems); err != nil {
		return 0, notADatabase(mapErr(err))
	}
	if fkProblems > 0 {
		return 0, fmt.Errorf("the file is damaged (%d rows break a foreign key)", fkProblems)
	}
	return checkMigrations(ctx, db)
}

// checkMigrations returns the schema version of db, and an error unless
// its schema_migrations rows are this binary's migrations 1…version.
func checkMigrations(ctx context.Context, db *sql.DB) (int, error) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return 0, err
	}
	const notOurs = "not a wxoidc database"
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return 0, notADatabase(mapErr(err))
	}
	if tables == 0 {
		return 0, errors.New(notOurs + " (no schema_migrations table)")
	}
	rows, err := db.QueryContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		return 0, fmt.Errorf(notOurs+" (schema_migrations: %w)", mapErr(err))
	}
	defer rows.Close()
	version := 0
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return 0, fmt.Errorf(notOurs+" (schema_migrations: %w)", err)
		}
		switch {
		case v > len(ms):
			return 0, fmt.Errorf("schema version %d is newer than this binary's %d: restore it with the wxoidc release that wrote it, or a newer one", v, len(ms))
		case v != version+1:
			return 0, fmt.Errorf(notOurs+" (schema_migrations has version %d after %d)", v, version)
		case name != ms[v-1].name:
			return 0, fmt.Errorf(notOurs+" (migration %d is %q, want %q)", v, name, ms[v-1].name)
		}
		version = v
	}
	if err := rows.Err(); err != nil {
		return 0, mapErr(err)
	}
	if version == 0 {
		return 0, errors.New(notOurs + " (no migration applied)")
	}
	return version, nil
}

// setWAL switches the file at path (ours, unused) to WAL mode.
func setWAL(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", fileURI(path, url.Values{"mode": {"rw"}}))
	if err != nil {
		return err
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return mapErr(err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	return nil
}

// notADatabase says what SQLite's "file is not a database" (SQLITE_NOTADB)
// and "database disk image is malformed" (SQLITE_CORRUPT) mean here.
func notADatabase(err error) error {
	var se *sqlitedrv.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("not a SQLite database (%w)", err)
		case sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("the file is damaged (%w)", err)
		}
	}
	return err
}

// fileURI is the driver DSN for path with query parameters q.
func fileURI(path string, q url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return u.String()
}

// copyPrivate copies src to a new file (mode 0600) in dir named by pattern
// (as os.CreateTemp), synced, and returns its path.
func copyPrivate(src, dir, pattern string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}

// removeFamily removes the file at path and the -wal, -shm and -journal
// files SQLite may have left next to it.
func removeFamily(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		_ = os.Remove(path + suffix) // best effort: a leftover temporary file
	}
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
