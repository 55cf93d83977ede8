package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/storage/postgres/pgtest"
	"github.com/wxoidc/wxoidc/storage/sqlite"
)

// TestDatabaseRestartAnswers503 runs client_credentials under load against
// PostgreSQL behind a TCP proxy, cuts the proxy (every connection closed,
// new ones refused) for a moment, as a database restart or failover does,
// and restores it. Storage that is briefly unreachable is a temporary
// condition: every failure must be 503 temporarily_unavailable with
// Retry-After, never 500, and tokens must be issued again once it is back.
func TestDatabaseRestartAnswers503(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	proxy, dsn := pgtest.NewProxy(t, pgtest.NewDatabase(t))
	s := newStack(t, func(c *config.Config) {
		c.Storage.DSN = dsn
		c.Storage.PostgresMaxConns = 8
		lots := config.Rate{Limit: 1e6, Per: config.D(time.Second), Burst: 1e6}
		c.Limits.TokenPerClient, c.Limits.TokenPerIP = lots, lots
	})

	const workers = 8
	const cut = 300 * time.Millisecond
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		bad      []string     // failures that are not a proper 503
		phase    atomic.Int32 // 0 before the cut, 1 during, 2 after the restore
		okAfter  atomic.Int32
		warm     atomic.Int32
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {postCli}, "client_secret": {backendPw}}.Encode()
	request := func() {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth2/token", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := s.client.Do(req)
		if err != nil {
			mu.Lock()
			bad = append(bad, "transport: "+err.Error())
			mu.Unlock()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var tr tokenResponse
		_ = json.Unmarshal(body, &tr)
		mu.Lock()
		defer mu.Unlock()
		statuses[resp.StatusCode]++
		switch {
		case resp.StatusCode == http.StatusOK && tr.AccessToken != "":
			warm.Add(1)
			if phase.Load() == 2 {
				okAfter.Add(1)
			}
		case resp.StatusCode == http.StatusServiceUnavailable && tr.Error == "temporarily_unavailable" && resp.Header.Get("Retry-After") != "":
		default:
			if len(bad) < 10 {
				bad = append(bad, resp.Status+" Retry-After="+resp.Header.Get("Retry-After")+" "+string(body))
			}
		}
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				request()
			}
		}()
	}
	deadline := time.After(30 * time.Second)
	waitFor := func(what string, cond func() bool) {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-deadline:
				close(stop)
				wg.Wait()
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("timed out waiting for %s; statuses %v, failures %q", what, statuses, bad)
			case <-tick.C:
			}
		}
	}
	waitFor("warm-up tokens", func() bool { return warm.Load() >= 4*workers })

	phase.Store(1)
	proxy.Cut()
	time.Sleep(cut) // the outage itself
	proxy.Restore()
	phase.Store(2)

	waitFor("tokens after the restore", func() bool { return okAfter.Load() >= 4*workers })
	close(stop)
	wg.Wait()

	t.Logf("statuses: %v (cut %v, %d connections cut)", statuses, cut, proxy.CutConnections())
	if len(bad) > 0 {
		t.Errorf("%d answers other than 200 or 503 temporarily_unavailable with Retry-After (500s: %d); first: %q",
			len(bad), statuses[http.StatusInternalServerError], bad)
	}
	if proxy.CutConnections() == 0 {
		t.Fatal("the cut closed no connection: the test did not exercise an outage")
	}
}

// TestSQLiteBusyAnswers503: another process holding SQLite's write lock
// past the busy timeout (the CLI, a backup) is the same temporary outage:
// 503 temporarily_unavailable with Retry-After, then tokens again once the
// lock is released.
func TestSQLiteBusyAnswers503(t *testing.T) {
	var path string
	s := newStack(t, func(c *config.Config) {
		c.Storage.SQLiteBusyTimeout = config.D(20 * time.Millisecond)
		path = strings.TrimPrefix(c.Storage.DSN, "sqlite://")
	})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {postCli}, "client_secret": {backendPw}}

	release := holdSQLiteWriteLock(t, path)
	tr := s.token(form)
	if tr.Status != http.StatusServiceUnavailable || tr.Error != "temporarily_unavailable" || tr.RetryAfter != "1" {
		t.Errorf("token while another process holds the write lock: %d %s Retry-After=%q, want 503 temporarily_unavailable Retry-After=1",
			tr.Status, tr.Error, tr.RetryAfter)
	}
	release()
	mustToken(t, s.token(form))
}

// TestAdminAPIStorageUnavailable: the admin API answers a temporary storage
// outage (here SQLite's write lock held by another process past the busy
// timeout) with 503 temporarily_unavailable and Retry-After too.
func TestAdminAPIStorageUnavailable(t *testing.T) {
	var path string
	s := newAdmStack(t, func(c *config.Config) {
		c.Storage.SQLiteBusyTimeout = config.D(20 * time.Millisecond)
		path = strings.TrimPrefix(c.Storage.DSN, "sqlite://")
	})
	release := holdSQLiteWriteLock(t, path)
	body := map[string]any{"client_id": "reports", "audiences": []string{resource}}
	s.admError(http.MethodPost, "/admin/v1/clients", body, http.StatusServiceUnavailable, "temporarily_unavailable")
	req, _ := http.NewRequest(http.MethodPost, s.adminURL+"/admin/v1/clients", strings.NewReader(`{"client_id":"reports"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+admToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("admin write while storage is locked: %d Retry-After=%q, want 503 Retry-After=1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	release()
	s.admJSON(http.MethodPost, "/admin/v1/clients", body, http.StatusCreated, nil)
}

// holdSQLiteWriteLock takes the write lock of the SQLite file at path from
// another Storage (as another process would) and returns its release; the
// lock is released at cleanup too, so a failing test does not hang.
func holdSQLiteWriteLock(t *testing.T, path string) func() {
	t.Helper()
	other, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	txCtx, err := other.BeginTx(context.Background())
	if err != nil {
		other.Close()
		t.Fatal(err)
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			if err := other.Rollback(txCtx); err != nil {
				t.Error(err)
			}
			other.Close()
		})
	}
	t.Cleanup(release)
	return release
}
