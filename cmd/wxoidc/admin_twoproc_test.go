package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

// serveProc is one `wxoidc serve` process.
type serveProc struct {
	name, public, admin string
	cmd                 *exec.Cmd
	logs                *testharness.Buffer
	// exited is closed when the process has exited; err is then its
	// exit error (read it only after exited is closed).
	exited chan struct{}
	err    error
}

func startServe(t *testing.T, bin, name string, e adminTestEnv) *serveProc {
	t.Helper()
	p := &serveProc{name: name, public: testharness.FreeAddr(t), admin: testharness.FreeAddr(t), logs: &testharness.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--config", e.configPath)
	p.cmd.Env = append(os.Environ(), "WXOIDC_HTTP_ADDR="+p.public, "WXOIDC_ADMIN_ADDR="+p.admin)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", p.name, p.logs.String())
		}
	})
	return p
}

// stop sends SIGINT and waits for a clean exit.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	// A connection the client dialled but never used is, to the server, a
	// new connection that may still send a request: Shutdown waits up to 5 s
	// for it (net/http treats StateNew as active that long). Close ours first
	// so the drain measures the server, not the client's spare connections.
	http.DefaultClient.CloseIdleConnections()
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("%s exited with %v", p.name, p.err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop", p.name)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *serveProc) waitReady(t *testing.T, deadline time.Time) {
	t.Helper()
	for {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited: %v", p.name, p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready", p.name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// adminCall calls p's admin API with the configured token.
func (p *serveProc) adminCall(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, "http://"+p.admin+path, r)
	req.Header.Set("Authorization", "Bearer "+cliAdminTok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func (p *serveProc) storedKeys(t *testing.T) []cliKey {
	t.Helper()
	status, raw := p.adminCall(t, "GET", "/admin/v1/keys", nil)
	var out struct {
		Keys []cliKey `json:"keys"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("%s keys: %d %s", p.name, status, raw)
	}
	return out.Keys
}

// publishedJWKS returns the kids p's JWKS serves, in order (current keys
// first, then next, then retired: its view of each key's state).
func (p *serveProc) publishedJWKS(t *testing.T) []cliKey {
	t.Helper()
	resp, err := http.Get("http://" + p.public + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []cliKey `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set.Keys
}

// TestTwoProcessesOneSQLiteFile: two `wxoidc serve` processes share one
// SQLite file. A rotation made through A's admin API is served by B's JWKS
// within the reload interval, and concurrent rotations through both leave
// exactly one current and one next key per algorithm, with no rotation lost
// or doubled.
func TestTwoProcessesOneSQLiteFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two processes")
	}
	const reload = time.Second
	bin := testharness.BuildWxoidc(t)
	e := writeAdminConfig(t, "http://"+testharness.FreeAddr(t), "127.0.0.1:1", "127.0.0.1:2", reload)
	a := startServe(t, bin, "A", e)
	b := startServe(t, bin, "B", e)
	ready := time.Now().Add(30 * time.Second)
	a.waitReady(t, ready)
	b.waitReady(t, ready)

	// Both bootstrapped concurrently, yet agree on one set.
	keys := a.storedKeys(t)
	if len(keys) != 6 {
		t.Fatalf("stored keys after two concurrent starts: %+v", keys)
	}

	// Rotate RS256 through A (forced: the keys were just made).
	status, raw := a.adminCall(t, "POST", "/admin/v1/keys/rotate", map[string]any{"alg": "RS256", "force": true})
	if status != http.StatusOK {
		t.Fatalf("rotate through A: %d %s", status, raw)
	}
	rotatedAt := time.Now()
	var newCurrent, newNext string
	for _, k := range a.storedKeys(t) {
		switch {
		case k.Alg == "RS256" && k.State == "current":
			newCurrent = k.KID
		case k.Alg == "RS256" && k.State == "next":
			newNext = k.KID
		}
	}
	// B serves the new next key, and lists the new current key first,
	// within one reload interval (its next tick); the deadline allows 1s
	// more for process scheduling on a loaded machine.
	for {
		set := b.publishedJWKS(t)
		hasNext, firstRS := false, ""
		for _, k := range set {
			if k.KID == newNext {
				hasNext = true
			}
			if k.Alg == "RS256" && firstRS == "" {
				firstRS = k.KID
			}
		}
		if hasNext && firstRS == newCurrent {
			break
		}
		if time.Since(rotatedAt) > reload+time.Second {
			t.Fatalf("B still serves %+v %s after the rotation", set, time.Since(rotatedAt))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("B served the rotation after %s (reload interval %s)", time.Since(rotatedAt).Round(time.Millisecond), reload)

	// Concurrent rotations through both instances, every algorithm at once.
	successes := map[string]int{"RS256": 1, "ES256": 0, "EdDSA": 0}
	for round := range 3 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, p := range []*serveProc{a, b} {
			for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, raw := p.adminCall(t, "POST", "/admin/v1/keys/rotate", map[string]any{"alg": alg, "force": true})
					var e struct {
						Error string `json:"error"`
					}
					_ = json.Unmarshal(raw, &e)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case status == http.StatusOK:
						successes[alg]++
					case status == http.StatusConflict && e.Error == "conflict":
						// The other instance rotated first: nothing changed.
					default:
						t.Errorf("round %d %s %s: %d %s", round, p.name, alg, status, raw)
					}
				}()
			}
		}
		wg.Wait()
		counts := map[string]map[string]int{}
		for _, k := range a.storedKeys(t) {
			if counts[k.Alg] == nil {
				counts[k.Alg] = map[string]int{}
			}
			counts[k.Alg][k.State]++
		}
		for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
			c := counts[alg]
			if c["current"] != 1 || c["next"] != 1 || c["retired"] != successes[alg] {
				t.Fatalf("round %d %s: %v, want one current, one next and %d retired (one per successful rotation)", round, alg, c, successes[alg])
			}
		}
	}
	t.Logf("successful rotations per algorithm: %v", successes)

	// Both instances converge on the same published set.
	deadline := time.Now().Add(reload + 2*time.Second)
	for {
		ja, jb := a.publishedJWKS(t), b.publishedJWKS(t)
		if fmt.Sprint(ja) == fmt.Sprint(jb) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances disagree:\nA %+v\nB %+v", ja, jb)
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.stop(t)
	b.stop(t)
}
