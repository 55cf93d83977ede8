package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema change, applied in its own transaction.
type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// loadMigrations returns the embedded migrations ordered by version, which
// must run 1, 2, 3, … without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		m := migrationName.FindStringSubmatch(base)
		if m == nil {
			return nil, fmt.Errorf("migration %s: name must look like 0001_name.sql", base)
		}
		v, _ := strconv.Atoi(m[1]) // four digits
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d (versions must be contiguous from 1)", m.name, m.version, i+1)
		}
	}
	return ms, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT`

// Migrate applies every embedded migration the database lacks, each in its
// own transaction recorded in schema_migrations. It is idempotent and safe
// to run from several processes at once (the write lock serializes them). A
// database migrated by a newer binary is refused. Call it outside any
// transaction.
func (s *Storage) Migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if _, err := s.writer.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("sqlite: migrate: create schema_migrations: %w", mapErr(err))
	}
	current, err := schemaVersion(ctx, s.writer)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: read schema version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("sqlite: migrate: database schema version %d is newer than this binary's %d", current, len(ms))
	}
	for _, m := range ms {
		applied, err := s.applyMigration(ctx, m)
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %s: %w", m.name, err)
		}
		if applied {
			s.log.InfoContext(ctx, "sqlite: applied migration", "version", m.version, "name", m.name)
		}
	}
	return s.prepareStatements(ctx)
}

// applyMigration applies m unless it is recorded, checking under the write
// lock so that concurrent migrators apply it once.
func (s *Storage) applyMigration(ctx context.Context, m migration) (applied bool, err error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return false, mapErr(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the error that got us here is the one to report
		}
	}()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return false, mapErr(err)
	}
	if n > 0 {
		return false, mapErr(tx.Commit())
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, mapErr(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, s.now().UnixMicro()); err != nil {
		return false, mapErr(err)
	}
	if err := tx.Commit(); err != nil {
		return false, mapErr(err)
	}
	return true, nil
}

func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var tables int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables)
	if err != nil || tables == 0 {
		return 0, mapErr(err)
	}
	var v int
	err = db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, mapErr(err)
}

// SchemaVersion reports the database's schema version (0 before the first
// migration) and the latest version this binary knows.
func (s *Storage) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: %w", err)
	}
	current, err = schemaVersion(ctx, s.readers)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: read schema version: %w", err)
	}
	return current, len(ms), nil
}
