package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/storagetest"
)

// openTest opens a migrated storage in a fresh temporary directory.
func openTest(t testing.TB, opts Options) *Storage {
	t.Helper()
	opts.Migrate = true
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "wxoidc.db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStorage(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) storage.Storage {
		return openTest(t, Options{})
	})
}

func TestStorageSynchronousNormal(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) storage.Storage {
		return openTest(t, Options{Synchronous: "normal", MaxOpenConns: 1})
	})
}

func TestParseDSN(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      string
		want    string // "" means an error is expected
		errPart string
	}{
		{in: "/var/lib/wxoidc/db.sqlite", want: "/var/lib/wxoidc/db.sqlite"},
		{in: "data/wxoidc.db", want: filepath.Join(wd, "data/wxoidc.db")},
		{in: "sqlite:///var/lib/wxoidc.db", want: "/var/lib/wxoidc.db"},
		{in: "sqlite://relative.db", want: filepath.Join(wd, "relative.db")},
		{in: "sqlite://dir/sub/x.db", want: filepath.Join(wd, "dir/sub/x.db")},
		{in: "/tmp/odd name?#.db", want: "/tmp/odd name?#.db"}, // a plain path is taken literally
		{in: "", errPart: "empty"},
		{in: "sqlite://", errPart: "empty"},
		{in: ":memory:", errPart: "in-memory"},
		{in: "sqlite://:memory:", errPart: "in-memory"},
		{in: "file::memory:?cache=shared", errPart: "URIs are not supported"},
		{in: "file:/tmp/x.db", errPart: "URIs are not supported"},
		{in: "postgres://localhost/db", errPart: "not a sqlite://"},
		{in: "sqlite:///tmp/x.db?_pragma=foreign_keys(0)", errPart: "query parameters"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseDSN(tc.in)
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("parseDSN(%q) = %q, %v; want an error containing %q", tc.in, got, err, tc.errPart)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseDSN(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestOptionsNormalize(t *testing.T) {
	tests := []struct {
		name    string
		in      Options
		check   func(Options) bool
		wantErr bool
	}{
		{name: "defaults", in: Options{}, check: func(o Options) bool {
			return o.Synchronous == "FULL" && o.BusyTimeout == 5*time.Second && o.MaxOpenConns >= minReaderConns &&
				o.Now != nil && o.Logger != nil
		}},
		{name: "normal lower case", in: Options{Synchronous: "normal"}, check: func(o Options) bool { return o.Synchronous == "NORMAL" }},
		{name: "explicit values kept", in: Options{BusyTimeout: time.Second, MaxOpenConns: 2}, check: func(o Options) bool {
			return o.BusyTimeout == time.Second && o.MaxOpenConns == 2
		}},
		{name: "synchronous off refused", in: Options{Synchronous: "OFF"}, wantErr: true},
		{name: "synchronous extra refused", in: Options{Synchronous: "EXTRA"}, wantErr: true},
		{name: "negative busy timeout", in: Options{BusyTimeout: -time.Second}, wantErr: true},
		{name: "sub-millisecond busy timeout", in: Options{BusyTimeout: time.Microsecond}, wantErr: true},
		{name: "negative max open conns", in: Options{MaxOpenConns: -1}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.normalize()
			if tc.wantErr {
				if err == nil {
					t.Fatalf("normalize(%+v) succeeded", tc.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("normalize: %v", err)
			}
			if !tc.check(got) {
				t.Fatalf("normalize(%+v) = %+v", tc.in, got)
			}
		})
	}
}

func TestOpenRefusesBadInput(t *testing.T) {
	if _, err := Open(t.Context(), ":memory:", Options{}); err == nil {
		t.Error("Open(:memory:) succeeded")
	}
	if _, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"), Options{Synchronous: "OFF"}); err == nil {
		t.Error("Open with synchronous=OFF succeeded")
	}
	if _, err := Open(t.Context(), filepath.Join(t.TempDir(), "missing-dir", "x.db"), Options{}); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

// pragma reads one PRAGMA on a pool.
func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestPragmas(t *testing.T) {
	for _, tc := range []struct {
		sync     string
		wantSync string // PRAGMA synchronous reports a number
	}{
		{"", "2"},
		{"NORMAL", "1"},
	} {
		t.Run("synchronous="+tc.sync, func(t *testing.T) {
			s := openTest(t, Options{Synchronous: tc.sync, BusyTimeout: 1234 * time.Millisecond})
			pools := map[string]*sql.DB{"writer": s.writer, "readers": s.readers}
			for name, p := range pools {
				want := map[string]string{
					"journal_mode": "wal",
					"foreign_keys": "1",
					"synchronous":  tc.wantSync,
					"busy_timeout": "1234",
					"query_only":   map[string]string{"writer": "0", "readers": "1"}[name],
				}
				for pragmaName, w := range want {
					if got := pragma(t, p, pragmaName); got != w {
						t.Errorf("%s: PRAGMA %s = %q, want %q", name, pragmaName, got, w)
					}
				}
			}
			// The readers really are read-only.
			if _, err := s.readers.ExecContext(t.Context(), "DELETE FROM clients"); err == nil {
				t.Error("a reader connection accepted a write")
			}
		})
	}
}

func TestMigrate(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := Open(ctx, "sqlite://"+path, Options{})
	if err != nil {
		t.Fatalf("Open without Migrate: %v", err)
	}
	defer s.Close()
	current, latest, err := s.SchemaVersion(ctx)
	if err != nil || current != 0 || latest < 1 {
		t.Fatalf("fresh database: SchemaVersion = %d, %d, %v; want 0, ≥1, nil", current, latest, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping before migrating: %v", err)
	}

	for i := range 2 { // the second run is a no-op
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
		current, latest, err = s.SchemaVersion(ctx)
		if err != nil || current != latest {
			t.Fatalf("after Migrate #%d: SchemaVersion = %d, %d, %v", i+1, current, latest, err)
		}
		var rows int
		if err := s.writer.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != latest {
			t.Fatalf("after Migrate #%d: %d rows in schema_migrations, want %d", i+1, rows, latest)
		}
	}
	// The storage opened before migrating works once migrated.
	c := storage.Client{ID: "c1", Name: "x"}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatalf("CreateClient after Migrate: %v", err)
	}

	// Reopening with Migrate is a no-op too, and the data survives.
	s2, err := Open(ctx, path, Options{Migrate: true})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	if _, err := s2.GetClient(ctx, "c1"); err != nil {
		t.Fatalf("GetClient after reopen: %v", err)
	}

	// A database from a newer binary is refused.
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future.sql', 0)`, latest+1); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Migrate on a newer schema: %v, want an error", err)
	}
}

func TestConcurrentMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			s, err := Open(t.Context(), path, Options{Migrate: true})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Open+Migrate: %v", err)
		}
	}
	s2, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	current, latest, err := s2.SchemaVersion(t.Context())
	if err != nil || current != latest {
		t.Fatalf("SchemaVersion = %d, %d, %v", current, latest, err)
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name     string
		fs       fstest.MapFS
		versions []int
		errPart  string
	}{
		{name: "ordered", fs: fstest.MapFS{
			"migrations/0002_b.sql": file("B"), "migrations/0001_a.sql": file("A"),
		}, versions: []int{1, 2}},
		{name: "gap", fs: fstest.MapFS{
			"migrations/0001_a.sql": file("A"), "migrations/0003_c.sql": file("C"),
		}, errPart: "contiguous"},
		{name: "bad name", fs: fstest.MapFS{"migrations/1_a.sql": file("A")}, errPart: "name must look like"},
		{name: "duplicate version", fs: fstest.MapFS{
			"migrations/0001_a.sql": file("A"), "migrations/0001_b.sql": file("B"),
		}, errPart: "contiguous"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := loadMigrations(tc.fs)
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("loadMigrations: %v, want an error containing %q", err, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if len(got) != len(tc.versions) || got[0] != tc.versions[0] || got[len(got)-1] != tc.versions[len(tc.versions)-1] {
				t.Fatalf("versions %v, want %v", got, tc.versions)
			}
		})
	}
	// The embedded set itself is valid.
	if _, err := loadMigrations(migrationFiles); err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
}

// TestBusyIsConflict holds the write lock from a second Storage on the same
// file (as the CLI would from another process) and checks that a writer
// giving up after busy_timeout reports storage.ErrConflict, and
// storage.ErrUnavailable: for an HTTP client it is a temporary outage (503
// with Retry-After), as a PostgreSQL restart is.
func TestBusyIsConflict(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "busy.db")
	holder, err := Open(ctx, path, Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	waiter, err := Open(ctx, path, Options{BusyTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()

	txCtx, err := holder.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ts := storage.TokenSession{Kind: storage.KindAccessToken, Signature: "sig", RequestID: "r", Active: true}
	if err := waiter.CreateTokenSession(ctx, ts); !errors.Is(err, storage.ErrConflict) || !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("write while another connection holds the lock: %v, want ErrConflict and ErrUnavailable", err)
	}
	if _, err := waiter.BeginTx(ctx); !errors.Is(err, storage.ErrConflict) || !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("BeginTx while another connection holds the lock: %v, want ErrConflict and ErrUnavailable", err)
	}
	// Readers are not blocked by the writer (WAL).
	if _, err := waiter.GetTokenSession(ctx, ts.Kind, ts.Signature); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("read while another connection holds the lock: %v, want ErrNotFound", err)
	}
	if err := holder.Rollback(txCtx); err != nil {
		t.Fatal(err)
	}
	if err := waiter.CreateTokenSession(ctx, ts); err != nil {
		t.Errorf("write after the lock is released: %v", err)
	}
}

// TestTxMisuse covers what SQLite does beyond the suite's TxMisuse.
func TestTxMisuse(t *testing.T) {
	s := openTest(t, Options{})
	ctx := t.Context()

	// A transaction of another Storage is not this one's.
	other := openTest(t, Options{})
	otherCtx, err := other.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(otherCtx)
	if err := s.Commit(otherCtx); err == nil {
		t.Error("Commit of another Storage's transaction succeeded")
	}

	// A transaction ends when its context does.
	cctx, cancel := context.WithCancel(ctx)
	txCtx, err := s.BeginTx(cctx)
	if err != nil {
		t.Fatal(err)
	}
	ts := storage.TokenSession{Kind: storage.KindAccessToken, Signature: "sig", RequestID: "r", Active: true}
	if err := s.CreateTokenSession(txCtx, ts); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := s.Commit(txCtx); err == nil {
		t.Error("Commit after the context ended succeeded")
	}
	if _, err := s.GetTokenSession(ctx, ts.Kind, ts.Signature); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("write of a cancelled transaction: %v, want ErrNotFound", err)
	}
	// And the writer is free again.
	if err := s.CreateTokenSession(ctx, ts); err != nil {
		t.Errorf("write after a cancelled transaction: %v", err)
	}
}

// TestQueryPlans checks that every lookup path uses an index rather than
// scanning its table.
func TestQueryPlans(t *testing.T) {
	s := openTest(t, Options{})
	queries := map[string]string{
		"token by signature":      selectTokenSQL,
		"revoke by request":       deactivateRequestSQL,
		"delete by request":       deleteRequestSQL,
		"rotation lookup":         selectRotationSQL,
		"delete by subject":       deleteSubjectSQL,
		"deactivate by subject":   deactivateSubjectSQL,
		"expired, oldest first":   deleteExpiredSQL,
		"client by ID":            selectClientSQL,
		"jti lookup":              selectJTISQL,
		"jti purge":               purgeJTIsSQL,
		"account by ID":           selectAccountSQL,
		"accounts by phone hash":  accountsByPhoneSQL,
		"identity by openid":      selectIdentitySQL,
		"identities of account":   listIdentitiesSQL,
		"account by unionid":      accountByUnionIDSQL,
		"audit page":              listAuditBeforeSQL,
		"login session by ID":     selectLoginSessionSQL,
		"sessions of account":     accountLoginSessionSQL,
		"delete account sessions": deleteAccountLoginSessionsSQL,
		"expired login sessions":  deleteExpiredLoginSessionsSQL,
		"session clients":         listSessionClientsSQL,
		"client's session links":  deleteClientSessionLinksSQL,
		"consent by key":          selectConsentSQL,
		"consents of account":     accountConsentsSQL,
		"client's consents":       deleteClientConsentsSQL,
		"take auth flow":          takeAuthFlowSQL,
		"expired auth flows":      deleteExpiredAuthFlowSQL,
		"scan ticket by ID":       selectScanTicketSQL,
		"scan tickets updated":    listScanTicketsSQL,
		"expired scan tickets":    deleteExpiredScanTicketsSQL,
	}
	scan := regexp.MustCompile(`^SCAN \w+$|USE TEMP B-TREE`)
	for name, q := range queries {
		args := make([]any, strings.Count(q, "?"))
		rows, err := s.writer.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
			if scan.MatchString(detail) {
				t.Errorf("%s: %q in plan %q", name, detail, plan)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "c.db"), Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

// TestOddPath opens a database whose path holds characters with a meaning
// in URIs; they must reach the file system literally.
func TestOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd dir?x=1#frag%20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "wx oidc.db")
	s, err := Open(t.Context(), path, Options{Migrate: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.CreateClient(t.Context(), storage.Client{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not at the literal path: %v", err)
	}
}

// The writer keeps its statement journals (every transaction's savepoint)
// in memory: a temporary file costs a pwrite per page, about a tenth of a
// grant's CPU (docs/performance.md).
func TestWriterStatementJournalInMemory(t *testing.T) {
	s := openTest(t, Options{})
	var store int
	if err := s.writer.QueryRowContext(t.Context(), "PRAGMA temp_store").Scan(&store); err != nil {
		t.Fatal(err)
	}
	if store != 2 { // 2 = MEMORY
		t.Errorf("writer temp_store = %d, want 2 (MEMORY)", store)
	}
}
