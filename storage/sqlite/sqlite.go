// Package sqlite is the SQLite backend of package storage, through the pure-Go
// driver modernc.org/sqlite.
//
// Concurrency model. SQLite allows one writer at a time; a second writer that
// finds the database locked waits up to busy_timeout and then fails with
// SQLITE_BUSY, and a deferred transaction that upgrades from read to write can
// fail at once without waiting. To keep those errors away from callers, a
// Storage holds two pools on the same WAL-mode file:
//
//   - the writer: exactly one connection. Every write and every transaction
//     (BeginTx, the read-modify-write methods, and single writes, which are
//     transactions of their own) runs on it, one at a time, so writers in
//     this process queue instead of contending inside SQLite. Their
//     transactions are savepoints in a batch transaction that is committed,
//     and synced, once for many of them (group commit, groupcommit.go);
//     Commit returns only after that sync. The batch BEGINs IMMEDIATE, so a
//     writer in another process (the `wxoidc keys` CLI against a running dev
//     server) is waited for at BEGIN, under busy_timeout, never half-way
//     through a transaction.
//   - the readers: a pool of query_only connections for reads outside a
//     transaction. In WAL mode they never block, and are never blocked by, the
//     writer.
//
// Reads made with a context that carries a transaction use that transaction,
// so they see its uncommitted writes. The flip side: inside a transaction,
// a write made with a context that does not carry it waits for the writer
// connection, which the transaction holds, until that context ends.
//
// SQLITE_BUSY and SQLITE_LOCKED (only possible across processes, past
// busy_timeout) map to storage.ErrConflict and storage.ErrUnavailable,
// unique-constraint violations to storage.ErrAlreadyExists.
//
// Storage format: times are INTEGER microseconds since the Unix epoch (NULL for
// the zero time), string lists are JSON arrays, booleans are 0/1.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wxoidc/wxoidc/storage"
)

// Options tune a Storage. The zero value is production-ready.
type Options struct {
	// Synchronous is PRAGMA synchronous: "FULL" (default; a committed
	// transaction survives power loss) or "NORMAL" (WAL stays consistent, but
	// the last transactions before a power loss may roll back).
	Synchronous string
	// BusyTimeout bounds how long a statement waits for a lock held by another
	// process before failing with storage.ErrConflict. Default 5s.
	BusyTimeout time.Duration
	// MaxOpenConns caps the reader pool. Default max(4, GOMAXPROCS). The
	// writer is always a single connection.
	MaxOpenConns int
	// Now is the clock for values the store fills in itself (migration
	// timestamps, an AuditEvent without At, a WeChatLogin without Now).
	// Default time.Now.
	Now func() time.Time
	// Logger receives migration progress and failed rollbacks. Default: discard.
	Logger *slog.Logger
	// Migrate runs Migrate during Open.
	Migrate bool
}

const (
	defaultBusyTimeout = 5 * time.Second
	minReaderConns     = 4
)

// normalize validates o and fills in defaults.
func (o Options) normalize() (Options, error) {
	switch strings.ToUpper(o.Synchronous) {
	case "":
		o.Synchronous = "FULL"
	case "FULL", "NORMAL":
		o.Synchronous = strings.ToUpper(o.Synchronous)
	default:
		return o, fmt.Errorf("synchronous %q: want FULL or NORMAL", o.Synchronous)
	}
	switch {
	case o.BusyTimeout < 0:
		return o, fmt.Errorf("busy timeout %v: must not be negative", o.BusyTimeout)
	case o.BusyTimeout == 0:
		o.BusyTimeout = defaultBusyTimeout
	case o.BusyTimeout < time.Millisecond:
		return o, fmt.Errorf("busy timeout %v: must be at least 1ms", o.BusyTimeout)
	}
	switch {
	case o.MaxOpenConns < 0:
		return o, fmt.Errorf("max open conns %d: must not be negative", o.MaxOpenConns)
	case o.MaxOpenConns == 0:
		o.MaxOpenConns = max(minReaderConns, runtime.GOMAXPROCS(0))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Storage is a storage.Storage on one SQLite database file.
type Storage struct {
	// auditRangeCap: see defaultAuditRangeCap.
	auditRangeCap int

	writer  *sql.DB
	readers *sql.DB
	wstmts  *stmtCache
	rstmts  *stmtCache
	group   *group // group commit of every write (groupcommit.go)
	// clientsVersion counts committed client changes (ClientsVersion).
	clientsVersion atomic.Uint64
	// statements counts the statements run (Statements).
	statements atomic.Uint64
	now        func() time.Time
	log        *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

var _ storage.Storage = (*Storage)(nil)

// Open opens (creating if needed) the database named by dsnOrPath: a file
// path, "sqlite:///abs/path.db" or "sqlite://relative/path.db". In-memory
// databases are refused: each pooled connection would get its own.
func Open(ctx context.Context, dsnOrPath string, opts Options) (*Storage, error) {
	path, err := parseDSN(dsnOrPath)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if opts, err = opts.normalize(); err != nil {
		return nil, fmt.Errorf("sqlite: options: %w", err)
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}

	writer, err := sql.Open("sqlite", connDSN(path, opts, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// Connect the writer first: it switches the file to WAL, which the
	// query_only readers cannot do but then inherit.
	if err := enableWAL(ctx, writer, opts.BusyTimeout); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, mapErr(err))
	}

	readers, err := sql.Open("sqlite", connDSN(path, opts, false))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	readers.SetMaxOpenConns(opts.MaxOpenConns)
	readers.SetMaxIdleConns(opts.MaxOpenConns)
	readers.SetConnMaxLifetime(0)
	readers.SetConnMaxIdleTime(0)
	if err := readers.PingContext(ctx); err != nil {
		writer.Close()
		readers.Close()
		return nil, fmt.Errorf("sqlite: open readers: %w", mapErr(err))
	}

	s := &Storage{
		auditRangeCap: defaultAuditRangeCap,
		writer:        writer,
		readers:       readers,
		wstmts:        newStmtCache(writer),
		rstmts:        newStmtCache(readers),
		group:         newGroup(writer, opts.Logger, opts.Synchronous),
		now:           opts.Now,
		log:           opts.Logger,
	}
	if opts.Migrate {
		// Migrate prepares the statements once the schema is current.
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	current, latest, err := s.SchemaVersion(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	if current != latest {
		// Usable for Migrate; queries fail until then.
		s.log.InfoContext(ctx, "sqlite: database schema is not current; migrate before use", "version", current, "latest", latest)
		return s, nil
	}
	if err := s.prepareStatements(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// createPrivate creates the database file, when it does not exist yet,
// readable and writable by its owner only: it holds token signatures,
// client-secret hashes and sealed WeChat session keys. SQLite creates the
// -wal and -shm files with the mode of the database file, so they are
// private too; left to SQLite, all three would be 0644 under the usual
// umask. An existing file keeps its mode (the operator chose it).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// enableWAL switches the database to WAL mode (persistent in the file).
// SQLite answers SQLITE_BUSY without waiting when another connection holds
// the file during the switch (several processes creating it at once), so
// this retries until busyTimeout.
func enableWAL(ctx context.Context, db *sql.DB, busyTimeout time.Duration) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("journal_mode is %q, want wal (is the file on a filesystem without shared memory?)", mode)
			}
			return nil
		}
		if err = mapErr(err); !errors.Is(err, storage.ErrConflict) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// parseDSN turns the Open argument into a file path.
func parseDSN(dsn string) (string, error) {
	path := dsn
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		path = strings.TrimPrefix(dsn, "sqlite://")
		if strings.ContainsAny(path, "?#") {
			return "", fmt.Errorf("dsn %q: query parameters are not supported, use Options", dsn)
		}
	case strings.Contains(dsn, "://"):
		return "", fmt.Errorf("dsn %q: not a sqlite:// DSN or a file path", dsn)
	case strings.HasPrefix(dsn, "file:"):
		return "", fmt.Errorf("dsn %q: SQLite URIs are not supported, use sqlite:///path or a plain path", dsn)
	}
	switch {
	case path == "":
		return "", fmt.Errorf("dsn %q: empty database path", dsn)
	case path == ":memory:" || strings.HasPrefix(path, ":memory:?"):
		return "", fmt.Errorf("dsn %q: in-memory databases are not supported (each pooled connection would see its own); use a file in a temporary directory", dsn)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("dsn %q: %w", dsn, err)
	}
	return abs, nil
}

// connDSN builds the driver DSN for one pool. The path goes in a file: URI,
// percent-encoded, so that no character of it can be taken for a parameter.
func connDSN(path string, opts Options, writer bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10))
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", opts.Synchronous)
	// Double-quoted strings are identifiers only; defensive mode forbids
	// statements that could corrupt the file on purpose.
	q.Set("_dqs", "0")
	q.Set("_defensive", "1")
	if writer {
		// journal_mode is set by enableWAL, which can retry.
		q.Set("_txlock", "immediate")
		// Every write transaction is a savepoint in the batch
		// (groupcommit.go), whose undo pages SQLite keeps in a statement
		// journal: a temporary file by default, one pwrite per page. In
		// memory it costs no system call; it holds the pages one
		// transaction changed, and a crash loses nothing (the batch is not
		// committed until the WAL is).
		q.Add("_pragma", "temp_store(memory)")
	} else {
		q.Set("_query_only", "1")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return u.String()
}

// Close closes both pools. It is safe to call more than once.
func (s *Storage) Close() error {
	s.closeOnce.Do(func() {
		// The committer first: it commits the batch in progress.
		s.group.close()
		s.closeErr = errors.Join(
			s.rstmts.close(),
			s.wstmts.close(),
			s.readers.Close(),
			// The last connection to close checkpoints the WAL into the file.
			s.writer.Close(),
		)
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// Ping checks that the database answers a query.
func (s *Storage) Ping(ctx context.Context) error {
	var one int
	if err := s.readers.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", mapErr(err))
	}
	return nil
}

// mapErr translates SQLite errors to the storage sentinels, keeping the
// original in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil // before se, which escapes: an allocation per statement
	}
	var se *sqlitedrv.Error
	if !errors.As(err, &se) || errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrAlreadyExists) {
		return err // not from SQLite, or already mapped
	}
	switch code := se.Code(); {
	case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
		// Another process held the lock past busy_timeout: a conflict the
		// caller may retry, and for an HTTP client a temporary outage.
		return fmt.Errorf("%w: %w: %w", storage.ErrConflict, storage.ErrUnavailable, err)
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", storage.ErrAlreadyExists, err)
	}
	return err
}

// Every query the package runs (migrations aside) is declared through
// readSQL or writeSQL, so that Open can prepare them all up front. Preparing
// lazily is not an option on the writer: inside a transaction its only
// connection is taken, and database/sql would wait for it forever.
var (
	readQueries  []string // run on the readers, and on the writer inside transactions
	writeQueries []string // run on the writer only
)

func readSQL(q string) string  { readQueries = append(readQueries, q); return q }
func writeSQL(q string) string { writeQueries = append(writeQueries, q); return q }

// stmtCache holds one pool's prepared statements; database/sql re-prepares
// each on every connection of the pool that runs it.
type stmtCache struct {
	db *sql.DB
	m  sync.Map // query string → *sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db} }

func (c *stmtCache) load(query string) (*sql.Stmt, bool) {
	st, ok := c.m.Load(query)
	if !ok {
		return nil, false
	}
	return st.(*sql.Stmt), true
}

// get returns the cached statement, preparing it on a miss. Never call it
// for the writer while holding the writer's connection.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.load(query); ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, mapErr(err)
	}
	if prev, loaded := c.m.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

func (c *stmtCache) prepareAll(ctx context.Context, queries ...[]string) error {
	for _, qs := range queries {
		for _, q := range qs {
			if _, err := c.get(ctx, q); err != nil {
				return fmt.Errorf("prepare %q: %w", strings.Join(strings.Fields(q), " "), err)
			}
		}
	}
	return nil
}

func (c *stmtCache) close() error {
	var errs []error
	c.m.Range(func(k, v any) bool {
		if err := v.(*sql.Stmt).Close(); err != nil {
			errs = append(errs, err)
		}
		c.m.Delete(k)
		return true
	})
	return errors.Join(errs...)
}

// prepareStatements prepares every declared query on both pools. It needs the
// current schema, so it runs after Migrate.
func (s *Storage) prepareStatements(ctx context.Context) error {
	if err := s.wstmts.prepareAll(ctx, readQueries, writeQueries); err != nil {
		return fmt.Errorf("sqlite: writer: %w", err)
	}
	if err := s.rstmts.prepareAll(ctx, readQueries); err != nil {
		return fmt.Errorf("sqlite: readers: %w", err)
	}
	return nil
}

// txStmt returns the prepared statement for query within the batch
// transaction tx. Close it after use.
func (s *Storage) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st, ok := s.wstmts.load(query); ok {
		// Reuses the statement already prepared on the writer connection.
		return tx.StmtContext(ctx, st), nil
	}
	// Not prepared yet (schema not migrated at Open): prepare on the
	// transaction's own connection, for this use only.
	st, err := tx.PrepareContext(ctx, query)
	return st, mapErr(err)
}

// exec runs a write statement. Outside a transaction the write is a
// transaction of its own, so that it takes part in group commit.
func (s *Storage) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	h := s.txFrom(ctx)
	if h == nil {
		return s.execAlone(ctx, query, args...)
	}
	var res sql.Result
	err := h.st.use(func(tx *sql.Tx) error {
		if clientWrites[query] {
			h.st.clientsChanged = true
		}
		ctx := context.WithoutCancel(ctx)
		st, err := s.txStmt(ctx, tx, query)
		if err != nil {
			return err
		}
		defer st.Close()
		s.statements.Add(1)
		res, err = st.ExecContext(ctx, args...)
		return mapErr(err)
	})
	return res, err
}

// Statements counts the SQL statements this Storage has run for its
// callers, transaction control (savepoints, batch commits) not included.
// Tests and benchmarks read it to count statements per request.
func (s *Storage) Statements() uint64 { return s.statements.Load() }

// execAlone runs one write statement as a transaction of its own: one turn
// of the batch (groupcommit.go), without a savepoint. A statement that fails
// on a constraint undoes itself (SQLite's statement-level atomicity), so the
// savepoint would only cost two statements; any other failure (disk full,
// I/O error) may have rolled the whole batch back, and is reported so.
func (s *Storage) execAlone(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.execTurn(ctx, false, query, args...)
}

// execEphemeral runs one write statement that may be lost in a power
// failure, though not in a process crash: it returns once the write is
// committed and visible, without waiting for a sync (groupcommit.go). Inside
// a transaction it is an ordinary statement of that transaction.
func (s *Storage) execEphemeral(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s.txFrom(ctx) != nil {
		return s.exec(ctx, query, args...)
	}
	return s.execTurn(ctx, true, query, args...)
}

func (s *Storage) execTurn(ctx context.Context, ephemeral bool, query string, args ...any) (sql.Result, error) {
	turn, tx, err := s.group.acquire(ctx, ephemeral)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	sctx := context.WithoutCancel(ctx)
	st, err := s.txStmt(sctx, tx, query)
	if err != nil {
		s.group.release(turn, turnOutcome{}) // nothing ran
		return nil, err
	}
	s.statements.Add(1)
	res, err := st.ExecContext(sctx, args...)
	st.Close()
	if err != nil {
		o := turnOutcome{}
		if !isConstraint(err) {
			o.broken = err
		}
		s.group.release(turn, o)
		return nil, mapErr(err)
	}
	if err := <-s.group.release(turn, turnOutcome{committed: true}); err != nil {
		return nil, err
	}
	if clientWrites[query] {
		s.clientsVersion.Add(1)
	}
	return res, nil
}

// isConstraint reports a constraint violation (unique, foreign key, not
// null, check): SQLite undoes the statement and keeps the transaction.
func isConstraint(err error) bool {
	var se *sqlitedrv.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// clientWrites are the statements that change a client (ClientsVersion).
var clientWrites = map[string]bool{insertClientSQL: true, updateClientSQL: true, deleteClientSQL: true}

// execCount runs a write statement and returns the number of rows it changed.
func (s *Storage) execCount(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return n, mapErr(err)
}

// execFound runs a write that must match a row: none is storage.ErrNotFound.
func (s *Storage) execFound(ctx context.Context, query string, args ...any) error {
	n, err := s.execCount(ctx, query, args...)
	if err == nil && n == 0 {
		err = storage.ErrNotFound
	}
	return err
}

// queryRow runs a single-row read (in the transaction ctx carries, else on
// a reader); a missing row is storage.ErrNotFound.
func (s *Storage) queryRow(ctx context.Context, query string, args []any, dest ...any) error {
	scan := func(st *sql.Stmt, ctx context.Context) error {
		err := st.QueryRowContext(ctx, args...).Scan(dest...)
		if errors.Is(err, sql.ErrNoRows) {
			return storage.ErrNotFound
		}
		return mapErr(err)
	}
	return s.withReadStmt(ctx, query, scan)
}

// withReadStmt runs fn with query's prepared statement: from the reader pool
// outside a transaction, on the transaction's connection inside one.
func (s *Storage) withReadStmt(ctx context.Context, query string, fn func(*sql.Stmt, context.Context) error) error {
	s.statements.Add(1)
	h := s.txFrom(ctx)
	if h == nil {
		st, err := s.rstmts.get(ctx, query)
		if err != nil {
			return err
		}
		return fn(st, ctx)
	}
	return h.st.use(func(tx *sql.Tx) error {
		ctx := context.WithoutCancel(ctx)
		st, err := s.txStmt(ctx, tx, query)
		if err != nil {
			return err
		}
		defer st.Close()
		return fn(st, ctx)
	})
}

// queryRows runs a multi-row read and calls scan for every row.
func (s *Storage) queryRows(ctx context.Context, query string, args []any, scan func(*sql.Rows) error) error {
	each := func(st *sql.Stmt, ctx context.Context) error {
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return mapErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return mapErr(rows.Err())
	}
	return s.withReadStmt(ctx, query, each)
}
