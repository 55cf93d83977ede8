package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/storagetest"
)

func TestStorage(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) storage.Storage { return newTestStorage(t) })
}

// TestMigrateConcurrent starts four "instances" migrating one fresh
// database at once: the advisory lock must make them apply each migration
// once, with no error.
func TestMigrateConcurrent(t *testing.T) {
	dsn := newTestDatabase(t)
	const instances = 4
	stores := make([]*Storage, instances)
	for i := range stores {
		stores[i] = openTestStorage(t, dsn, Options{})
	}
	pending, err := stores[0].PendingMigrations(t.Context())
	if err != nil {
		t.Fatalf("PendingMigrations: %v", err)
	}
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != len(all) {
		t.Fatalf("fresh database: %d pending migrations, want %d", len(pending), len(all))
	}

	start := make(chan struct{})
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			<-start
			errs[i] = s.Migrate(t.Context())
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: Migrate: %v", i, err)
		}
	}

	var versions []string
	rows, err := stores[0].pool.Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range all {
		want = append(want, m.version)
	}
	if !slices.Equal(versions, want) {
		t.Errorf("schema_migrations = %v, want %v", versions, want)
	}
	var tables int
	err = stores[0].pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables
		WHERE schemaname = 'public' AND tablename = 'token_sessions'`).Scan(&tables)
	if err != nil || tables != 1 {
		t.Errorf("token_sessions tables: %d (err %v), want 1", tables, err)
	}
	pending, err = stores[1].PendingMigrations(t.Context())
	if err != nil || len(pending) != 0 {
		t.Errorf("after Migrate: pending = %v (err %v), want none", pending, err)
	}
	// Migrating an up-to-date database is a no-op.
	if err := stores[2].Migrate(t.Context()); err != nil {
		t.Errorf("second Migrate: %v", err)
	}
}

// TestMigrateCancelled checks that a Migrate whose context ends while it
// waits for the migration lock gives up with the context's error, and that
// the lock is not leaked: another instance migrates afterwards.
func TestMigrateCancelled(t *testing.T) {
	dsn := newTestDatabase(t)
	holder := openTestStorage(t, dsn, Options{})
	waiter := openTestStorage(t, dsn, Options{})

	tx, err := holder.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err = waiter.Migrate(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Migrate while the lock is held: err = %v, want context.DeadlineExceeded", err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := waiter.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate after the lock is released: %v", err)
	}
}

func TestReadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []string
		wantErr string
	}{
		{"ordered", fstest.MapFS{"m/0002_b.sql": file("B"), "m/0001_a.sql": file("A"), "m/0010_c.sql": file("C")},
			[]string{"0001_a", "0002_b", "0010_c"}, ""},
		{"bad name", fstest.MapFS{"m/1_a.sql": file("A")}, nil, "name must match"},
		{"upper case", fstest.MapFS{"m/0001_A.sql": file("A")}, nil, "name must match"},
		{"not sql", fstest.MapFS{"m/0001_a.txt": file("A")}, nil, "name must match"},
		{"shared number", fstest.MapFS{"m/0001_a.sql": file("A"), "m/0001_b.sql": file("B")}, nil, "share a number"},
		{"empty", fstest.MapFS{"m/.keep": nil}, nil, "name must match"},
		{"missing dir", fstest.MapFS{}, nil, "read migrations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := readMigrations(tc.files, "m")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, m.version)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("versions = %v, want %v", got, tc.want)
			}
		})
	}
	// The embedded set itself is valid.
	if _, err := loadMigrations(); err != nil {
		t.Errorf("embedded migrations: %v", err)
	}
}

func TestOpenDSN(t *testing.T) {
	const password = "s3cret-Pa55"
	tests := []struct {
		name    string
		dsn     string
		opts    Options
		wantErr string
	}{
		{"sqlite scheme", "sqlite:///var/lib/wxoidc.db", Options{}, "must start with postgres://"},
		{"keyword form", "host=localhost user=postgres password=" + password, Options{}, "must start with postgres://"},
		{"mysql scheme", "mysql://u:" + password + "@h/db", Options{}, "must start with postgres://"},
		{"empty", "", Options{}, "must start with postgres://"},
		{"bad port", "postgres://u:" + password + "@localhost:99999/db", Options{}, "parse DSN"},
		{"bad sslmode", "postgresql://u:" + password + "@localhost/db?sslmode=sometimes", Options{}, "parse DSN"},
		{"bad pool size", "postgres://u:" + password + "@localhost/db?pool_max_conns=many", Options{}, "parse DSN"},
		{"negative MaxConns", "postgres://u:" + password + "@localhost/db", Options{MaxConns: -1}, "MaxConns"},
		{"unreachable", "postgres://u:" + password + "@127.0.0.1:1/db?connect_timeout=2", Options{}, "ping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.dsn, tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestOpenOptions(t *testing.T) {
	dsn := newTestDatabase(t)
	// Both URL schemes are accepted; MaxConns overrides the pool default.
	alt := "postgresql://" + strings.TrimPrefix(dsn, "postgres://")
	s := openTestStorage(t, alt, Options{MaxConns: 3, Migrate: true})
	if got := s.pool.Config().MaxConns; got != 3 {
		t.Errorf("pool MaxConns = %d, want 3", got)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	// Without MaxConns the DSN's pool_max_conns applies.
	s2 := openTestStorage(t, withParam(t, dsn, "pool_max_conns", "7"), Options{})
	if got := s2.pool.Config().MaxConns; got != 7 {
		t.Errorf("pool MaxConns = %d, want 7 from the DSN", got)
	}
	// Options.Now fills in a zero audit time.
	if err := s.AppendAudit(t.Context(), storage.AuditEvent{Actor: "cli", Action: "test"}); err != nil {
		t.Fatal(err)
	}
	es, err := s.ListAudit(t.Context(), 0, 1)
	if err != nil || len(es) != 1 || !es[0].At.Equal(testClock()) {
		t.Errorf("audit event = %+v (err %v), want At from Options.Now", es, err)
	}
}

func TestMapErr(t *testing.T) {
	tests := []struct {
		code          string
		conflict      bool
		alreadyExists bool
	}{
		{"40001", true, false}, // serialization_failure
		{"40P01", true, false}, // deadlock_detected
		{"55P03", true, false}, // lock_not_available
		{"23505", false, true}, // unique_violation
		{"23503", false, false},
		{"42P01", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			pgErr := &pgconn.PgError{Code: tc.code, Message: "boom"}
			err := wrapErr("op", fmt.Errorf("inner: %w", pgErr))
			if got := errors.Is(err, storage.ErrConflict); got != tc.conflict {
				t.Errorf("Is(ErrConflict) = %v, want %v (err %v)", got, tc.conflict, err)
			}
			if got := errors.Is(err, storage.ErrAlreadyExists); got != tc.alreadyExists {
				t.Errorf("Is(ErrAlreadyExists) = %v, want %v", got, tc.alreadyExists)
			}
			var back *pgconn.PgError
			if !errors.As(err, &back) || back.Code != tc.code {
				t.Errorf("driver error not reachable through errors.As: %v", err)
			}
			// Mapping twice does not wrap twice.
			if again := mapErr(mapErr(pgErr)); strings.Count(again.Error(), "storage:") > 1 {
				t.Errorf("double mapping: %v", again)
			}
		})
	}
	if mapErr(nil) != nil {
		t.Error("mapErr(nil) != nil")
	}
	plain := errors.New("plain")
	if mapErr(plain) != plain {
		t.Error("mapErr changed a non-driver error")
	}
}

// retryWatcher is a slog handler that reports each retry, so tests can act
// between attempts without sleeping.
type retryWatcher struct {
	slog.Handler
	retries chan string
}

func (h *retryWatcher) Enabled(context.Context, slog.Level) bool { return true }
func (h *retryWatcher) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "retrying") {
		h.retries <- r.Message
	}
	return nil
}

// lockedAccount opens two storages on one database where the second gives up
// waiting for a row lock after 50 ms, creates an account, and locks its row
// in a transaction of the first; it returns the second storage, the account
// ID and a function that ends the lock holder's transaction.
func lockedAccount(t *testing.T, opts Options) (*Storage, string, func()) {
	t.Helper()
	dsn := newTestDatabase(t)
	holder := openTestStorage(t, dsn, Options{Migrate: true})
	waiter := openTestStorage(t, withParam(t, dsn, "lock_timeout", "50ms"), opts)
	ctx := t.Context()
	_, acct, err := holder.ResolveWeChatLogin(ctx, storage.WeChatLogin{
		AppID: "wx-app", OpenID: "openid-1", NewAccountID: "account-1", Now: testClock(),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Not t.Context(): the transaction may end in a cleanup, after it is cancelled.
	txCtx, err := holder.BeginTx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = holder.UpdateAccount(txCtx, acct.ID, func(a storage.Account) (storage.Account, error) {
		a.Disabled = true
		return a, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			if err := holder.Commit(txCtx); err != nil {
				t.Errorf("commit lock holder: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return waiter, acct.ID, release
}

func TestLockTimeoutIsConflict(t *testing.T) {
	waiter, id, _ := lockedAccount(t, Options{Migrate: true})
	calls := 0
	_, err := waiter.UpdateAccount(t.Context(), id, func(a storage.Account) (storage.Account, error) {
		calls++
		return a, nil
	})
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("UpdateAccount on a locked row: err = %v, want ErrConflict", err)
	}
	if calls != 0 {
		t.Errorf("updater called %d times before the lock was obtained", calls)
	}

	// Inside a caller's transaction the conflict is returned at once: the
	// transaction is aborted and only the caller may retry it.
	txCtx, err := waiter.BeginTx(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = waiter.Rollback(txCtx) }()
	_, err = waiter.GetAccount(txCtx, id) // plain reads do not wait for row locks
	if err != nil {
		t.Fatalf("GetAccount in tx: %v", err)
	}
	_, err = waiter.UpdateAccount(txCtx, id, func(a storage.Account) (storage.Account, error) { return a, nil })
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("UpdateAccount in tx on a locked row: err = %v, want ErrConflict", err)
	}
}

func TestConflictRetrySucceeds(t *testing.T) {
	w := &retryWatcher{retries: make(chan string, maxAttempts)}
	waiter, id, release := lockedAccount(t, Options{Migrate: true, Logger: slog.New(w)})
	done := make(chan error, 1)
	go func() {
		_, err := waiter.UpdateAccount(t.Context(), id, func(a storage.Account) (storage.Account, error) {
			a.PhoneHash = "hash-after-retry"
			return a, nil
		})
		done <- err
	}()
	<-w.retries // the first attempt hit the lock timeout
	release()
	if err := <-done; err != nil {
		t.Fatalf("UpdateAccount after the lock was released: %v", err)
	}
	a, err := waiter.GetAccount(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Disabled || a.PhoneHash != "hash-after-retry" {
		t.Errorf("account = %+v, want the holder's and the retried writes both applied", a)
	}
}

func TestContextDeadline(t *testing.T) {
	s := newTestStorage(t)
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := s.GetClient(expired, "c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GetClient with an expired context: err = %v, want DeadlineExceeded", err)
	}
	if _, err := s.BeginTx(expired); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("BeginTx with an expired context: err = %v, want DeadlineExceeded", err)
	}

	// A call blocked on a lock returns when its deadline passes.
	holderCtx, err := s.BeginTx(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Rollback(holderCtx) }()
	_, err = s.UpdateSigningKeys(holderCtx, func(ks []storage.SigningKey) ([]storage.SigningKey, error) { return ks, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel2 := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel2()
	_, err = s.UpdateSigningKeys(ctx, func(ks []storage.SigningKey) ([]storage.SigningKey, error) {
		t.Error("updater ran while another instance held the key lock")
		return ks, nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("UpdateSigningKeys blocked on the lock: err = %v, want DeadlineExceeded", err)
	}
}

func TestTransactionHandling(t *testing.T) {
	s := newTestStorage(t)
	ctx := t.Context()

	// A duplicate inside a transaction does not abort it (SQLite parity).
	ts := storage.TokenSession{Kind: storage.KindAccessToken, Signature: "sig-1", RequestID: "req-1",
		ExpiresAt: testClock().Add(time.Hour), Active: true}
	txCtx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTokenSession(txCtx, ts); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTokenSession(txCtx, ts); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("duplicate: err = %v, want ErrAlreadyExists", err)
	}
	c := storage.Client{ID: "client-1", CreatedAt: testClock(), UpdatedAt: testClock()}
	if err := s.CreateClient(txCtx, c); err != nil {
		t.Fatalf("write after a duplicate in the same transaction: %v", err)
	}
	if err := s.CreateClient(txCtx, c); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("duplicate client: err = %v, want ErrAlreadyExists", err)
	}
	if err := s.Commit(txCtx); err != nil {
		t.Fatalf("commit after duplicates: %v", err)
	}
	if _, err := s.GetClient(ctx, c.ID); err != nil {
		t.Errorf("client committed after a duplicate: %v", err)
	}

	// A transaction of one Storage is invisible to another on the same
	// database: its calls run outside it.
	other := openTestStorage(t, s.pool.Config().ConnString(), Options{})
	txCtx, err = s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Rollback(txCtx) }()
	if err := other.CreateClient(txCtx, storage.Client{ID: "client-2", CreatedAt: testClock(), UpdatedAt: testClock()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback(txCtx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetClient(ctx, "client-2"); err != nil {
		t.Errorf("write by another Storage was rolled back with this one's transaction: %v", err)
	}
}

// TestSigningKeysInCallerTx checks that the key lock is held until the
// caller's transaction ends: a second updater waits for the first to commit
// and then sees its result.
func TestSigningKeysInCallerTx(t *testing.T) {
	s := newTestStorage(t)
	ctx := t.Context()
	txCtx, err := s.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateSigningKeys(txCtx, func([]storage.SigningKey) ([]storage.SigningKey, error) {
		return []storage.SigningKey{{KID: "k1", Algorithm: "RS256", State: storage.KeyCurrent, CreatedAt: testClock()}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan int, 1)
	done := make(chan error, 1)
	go func() {
		_, err := s.UpdateSigningKeys(ctx, func(ks []storage.SigningKey) ([]storage.SigningKey, error) {
			seen <- len(ks)
			return ks, nil
		})
		done <- err
	}()
	// Wait until the second updater is blocked on the advisory lock.
	for {
		var waiting bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted)`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case n := <-seen:
			t.Fatalf("second updater ran (saw %d keys) while the first transaction held the lock", n)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := s.Commit(txCtx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := <-seen; n != 1 {
		t.Errorf("second updater saw %d keys, want the first's committed key", n)
	}
}

// TestLeastPrivilegeRole runs the service as a role with the grants that
// docs/deployment.md lists (data privileges only, no DDL) on a schema the
// owner migrated: every storage family works, and Migrate is a no-op.
func TestLeastPrivilegeRole(t *testing.T) {
	dsn := newTestDatabase(t)
	owner := openTestStorage(t, dsn, Options{Migrate: true})
	ctx := t.Context()

	role := "wxoidc_test_role_" + strings.TrimPrefix(owner.pool.Config().ConnConfig.Database, "wxoidc_test_")
	if _, err := owner.pool.Exec(ctx, "CREATE ROLE "+role+" LOGIN"); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
			t.Skipf("test user may not create roles: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		bg := context.Background()
		// Privileges in the test database must go before the role can.
		if _, err := owner.pool.Exec(bg, "DROP OWNED BY "+role); err != nil {
			t.Errorf("drop owned by test role: %v", err)
		}
		if _, err := owner.pool.Exec(bg, "DROP ROLE "+role); err != nil {
			t.Errorf("drop test role: %v", err)
		}
	})
	db := owner.pool.Config().ConnConfig.Database
	for _, stmt := range []string{
		"GRANT CONNECT ON DATABASE " + db + " TO " + role,
		"GRANT USAGE ON SCHEMA public TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + role,
	} {
		if _, err := owner.pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}

	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	app := openTestStorage(t, u.String(), Options{Migrate: true})
	if err := app.Migrate(ctx); err != nil {
		t.Fatalf("Migrate on an up-to-date schema as the data role: %v", err)
	}
	if _, err := app.pool.Exec(ctx, "CREATE TABLE must_fail (x int)"); err == nil {
		t.Fatal("the data role may create tables: the test does not test least privilege")
	}

	now := testClock()
	checks := []struct {
		name string
		run  func() error
	}{
		{"token session", func() error {
			return app.CreateTokenSession(ctx, storage.TokenSession{Kind: storage.KindRefreshToken,
				Signature: "sig", RequestID: "req", Active: true, ExpiresAt: now.Add(time.Hour)})
		}},
		{"rotate", func() error { return app.RotateRefreshToken(ctx, "req", "sig", now, 0) }},
		{"gc", func() error { _, err := app.DeleteExpiredTokenSessions(ctx, now, 10); return err }},
		{"client", func() error { return app.CreateClient(ctx, storage.Client{ID: "c", CreatedAt: now, UpdatedAt: now}) }},
		{"jti", func() error { return app.SetClientAssertionJTI(ctx, "jti", now.Add(time.Hour), now) }},
		{"login", func() error {
			_, _, err := app.ResolveWeChatLogin(ctx, storage.WeChatLogin{AppID: "wx", OpenID: "o", UnionID: "u",
				NewAccountID: "a", Now: now})
			return err
		}},
		{"login grant", func() error {
			holder := storage.TokenHolder{ClientID: "c", Subject: "a"}
			at := storage.TokenSession{Kind: storage.KindAccessToken, Signature: "grant-at", RequestID: "grant",
				ClientID: "c", Subject: "a", Active: true, ExpiresAt: now.Add(time.Hour)}
			l := storage.WeChatLogin{AppID: "wx", OpenID: "o", Now: now}
			phone := &storage.AccountPhone{Hash: "h", Source: "phone_code", VerifiedAt: now}
			if err := app.StoreLoginGrant(ctx, storage.LoginGrant{Login: l, Phone: phone, Holder: holder, Sessions: []storage.TokenSession{at}}); err != nil {
				return err
			}
			// A refusal runs wxoidc_refuse, which the role must be allowed to call.
			l.OpenID = "absent"
			at.Signature = "grant-at-2"
			err := app.StoreLoginGrant(ctx, storage.LoginGrant{Login: l, Holder: holder, Sessions: []storage.TokenSession{at}})
			if !errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("refused grant: %w, want ErrConflict", err)
			}
			return nil
		}},
		{"keys", func() error {
			_, err := app.UpdateSigningKeys(ctx, func([]storage.SigningKey) ([]storage.SigningKey, error) {
				return []storage.SigningKey{{KID: "k", Algorithm: "RS256", State: storage.KeyNext, CreatedAt: now}}, nil
			})
			return err
		}},
		{"audit", func() error { return app.AppendAudit(ctx, storage.AuditEvent{At: now, Actor: "cli", Action: "x"}) }},
		{"login session", func() error {
			if err := app.CreateLoginSession(ctx, storage.LoginSession{ID: "s", AccountID: "a", CreatedAt: now}); err != nil {
				return err
			}
			if err := app.AddLoginSessionClient(ctx, "s", "c"); err != nil {
				return err
			}
			if err := app.TouchLoginSession(ctx, "s", now); err != nil {
				return err
			}
			_, err := app.DeleteExpiredLoginSessions(ctx, now, 10)
			return err
		}},
		{"consent", func() error {
			return app.PutConsent(ctx, storage.Consent{AccountID: "a", ClientID: "c", GrantedAt: now})
		}},
		{"auth flow", func() error {
			if err := app.CreateAuthFlow(ctx, storage.AuthFlow{ID: "f", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
				return err
			}
			if _, err := app.TakeAuthFlow(ctx, "f", now); err != nil {
				return err
			}
			_, err := app.DeleteExpiredAuthFlows(ctx, now, 10)
			return err
		}},
		{"delete client", func() error { return app.DeleteClient(ctx, "c") }},
		{"app token", func() error {
			if _, err := app.AcquireAppTokenLease(ctx, "wx", "i1", time.Minute, now); err != nil {
				return err
			}
			if err := app.PutAppToken(ctx, storage.AppToken{AppID: "wx", TokenEncrypted: []byte("sealed"), ExpiresAt: now.Add(time.Hour)}); err != nil {
				return err
			}
			if _, err := app.GetAppToken(ctx, "wx"); err != nil {
				return err
			}
			return app.ReleaseAppTokenLease(ctx, "wx", "i1")
		}},
	}
	for _, c := range checks {
		if err := c.run(); err != nil {
			t.Errorf("%s as the data role: %v", c.name, err)
		}
	}
}

// TestUpdateSigningKeysWritesOnlyChanges checks, through the row version
// (xmin), that keys an updater returns unchanged are not rewritten: every
// instance runs a mostly no-op update on each reload tick.
func TestUpdateSigningKeysWritesOnlyChanges(t *testing.T) {
	s := newTestStorage(t)
	ctx := t.Context()
	// Sub-microsecond digits, which the database drops, must not count as a change.
	created := time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.FixedZone("CST", 8*3600))
	_, err := s.UpdateSigningKeys(ctx, func([]storage.SigningKey) ([]storage.SigningKey, error) {
		return []storage.SigningKey{
			{KID: "a", Algorithm: "RS256", State: storage.KeyCurrent, PublicJWK: []byte(`{}`), CreatedAt: created, ActivatedAt: created},
			{KID: "b", Algorithm: "RS256", State: storage.KeyNext, PublicJWK: []byte(`{}`), CreatedAt: created},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	versions := func() map[string]string {
		rows, err := s.pool.Query(ctx, `SELECT kid, xmin::text FROM signing_keys`)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		var kid, xmin string
		_, err = pgx.ForEachRow(rows, []any{&kid, &xmin}, func() error { m[kid] = xmin; return nil })
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := versions()

	_, err = s.UpdateSigningKeys(ctx, func(ks []storage.SigningKey) ([]storage.SigningKey, error) {
		ks[0].CreatedAt = created // same instant as stored, more precision
		ks[1].State = storage.KeyCurrent
		return ks, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	after := versions()
	if after["a"] != before["a"] {
		t.Error("unchanged key a was rewritten")
	}
	if after["b"] == before["b"] {
		t.Error("changed key b was not written")
	}
}
