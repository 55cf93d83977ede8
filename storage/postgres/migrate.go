package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded SQL file; version is its name without ".sql".
type migration struct {
	version string
	sql     string
}

// migrationName fixes the file names so that lexical order is apply order.
var migrationName = regexp.MustCompile(`^[0-9]{4}_[a-z0-9_]+\.sql$`)

// migrationLockKey is the advisory-lock key that serializes migrations
// across instances ("wxoidc" in ASCII, then a 1). Other advisory locks of
// this package use keys derived from hashes (lockKey).
const migrationLockKey int64 = 0x7778_6f69_6463_0001

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    text        PRIMARY KEY,
	applied_at timestamptz NOT NULL
)`

func loadMigrations() ([]migration, error) {
	return readMigrations(migrationFiles, "migrations")
}

func readMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("storage/postgres: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if !migrationName.MatchString(e.Name()) {
			return nil, fmt.Errorf("storage/postgres: migration file %q: name must match %s", e.Name(), migrationName)
		}
		b, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("storage/postgres: read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: strings.TrimSuffix(e.Name(), ".sql"), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return strings.Compare(a.version, b.version) })
	for i := 1; i < len(ms); i++ {
		if ms[i].version[:4] == ms[i-1].version[:4] {
			return nil, fmt.Errorf("storage/postgres: migrations %s and %s share a number", ms[i-1].version, ms[i].version)
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("storage/postgres: no migrations embedded")
	}
	return ms, nil
}

// Migrate applies every pending migration, in order, each in its own
// transaction that also records it in schema_migrations. Each transaction
// first takes a transaction-scoped advisory lock, so instances starting
// together apply each migration once; the lock cannot outlive its
// transaction even when ctx is cancelled half-way. An up-to-date schema is
// detected first without DDL or lock, so a role with data privileges only
// can call Migrate at every start once the owner has migrated.
func (s *Storage) Migrate(ctx context.Context) error {
	pending, err := s.PendingMigrations(ctx)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		applied := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
			if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
			var done bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&done)
			if err != nil {
				return fmt.Errorf("read schema_migrations: %w", err)
			}
			if done {
				return nil
			}
			// Exec without arguments uses the simple protocol, which accepts
			// several statements in one string.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
				m.version, s.now().UTC()); err != nil {
				return fmt.Errorf("record migration: %w", err)
			}
			applied = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("storage/postgres: migration %s: %w", m.version, mapErr(err))
		}
		if applied {
			s.logger.InfoContext(ctx, "postgres migration applied", "version", m.version)
		}
	}
	return nil
}

// PendingMigrations lists, in order, the embedded migrations the database has
// not recorded (for readiness checks and the migrate command).
func (s *Storage) PendingMigrations(ctx context.Context) ([]string, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("storage/postgres: read schema version: %w", mapErr(err))
	}
	applied := map[string]bool{}
	if exists {
		rows, err := s.pool.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return nil, fmt.Errorf("storage/postgres: read schema version: %w", mapErr(err))
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("storage/postgres: read schema version: %w", mapErr(err))
		}
		for _, v := range versions {
			applied[v] = true
		}
	}
	var pending []string
	for _, m := range ms {
		if !applied[m.version] {
			pending = append(pending, m.version)
		}
	}
	return pending, nil
}
