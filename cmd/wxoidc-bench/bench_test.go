package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/keys"
)

func TestParseStat(t *testing.T) {
	// comm may hold spaces and parentheses.
	line := "4242 (wx (oidc) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 8 2 20 0 9 0 123 456 789\n"
	st, err := parseStat([]byte(line))
	if err != nil || st != (stat{ppid: 1, utime: 250, stime: 75, cutime: 8, cstime: 2}) {
		t.Fatalf("parseStat = %+v, %v", st, err)
	}
	if ms := st.ms(st.utime + st.stime); ms != 3250 {
		t.Fatalf("%v ms, want 3250 (325 ticks)", ms)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 u s 0 0", "1 (x) S 1 2 3 4 5 6 7 8 9 10 1 1 -1 0"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
	// The live files parse, and a tree counts at least its root.
	self, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	tree, err := procTreeCPU(os.Getpid())
	if err != nil || tree < self {
		t.Fatalf("procTreeCPU = %v, %v; procCPU = %v", tree, err, self)
	}
}

func TestParseMachineCPU(t *testing.T) {
	got, err := parseMachineCPU([]byte("cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 1 2 3\n"))
	if err != nil || got != (machineCPU{busy: 1600, steal: 70}) {
		t.Fatalf("parseMachineCPU = %+v, %v", got, err)
	}
	if _, err := parseMachineCPU([]byte("intr 1 2 3")); err == nil {
		t.Error("malformed /proc/stat accepted")
	}
	if _, err := readMachineCPU(); err != nil {
		t.Fatal(err)
	}
}

func TestParseStatusMemory(t *testing.T) {
	status := "Name:\tx\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n"
	rss, hwm, err := parseStatusMemory(strings.NewReader(status))
	if err != nil || rss != 40 || hwm != 50 {
		t.Fatalf("got rss %v hwm %v err %v; want 40, 50", rss, hwm, err)
	}
	if _, _, err := parseStatusMemory(strings.NewReader("VmRSS:\t1 kB\n")); err == nil {
		t.Error("missing VmHWM accepted")
	}
	if _, _, err := procMemory(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}

func TestPIDListening(t *testing.T) {
	table := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0 100 0 0 10 0\n" +
		"   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0 100 0 0 10 0\n" +
		"   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 333 1 0 100 0 0 10 0\n"
	got := listeningInodes([]byte(table), 8080)
	if !reflect.DeepEqual(got, map[string]bool{"111": true}) {
		t.Fatalf("listeningInodes = %v, want only the LISTEN socket on 8080", got)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pid, err := pidListening(ln.Addr().(*net.TCPAddr).Port)
	if err != nil || pid != os.Getpid() {
		t.Fatalf("pidListening = %d, %v; want this process %d", pid, err, os.Getpid())
	}
}

func TestPercentile(t *testing.T) {
	var v []int64
	for i := 1; i <= 100; i++ {
		v = append(v, int64(i)*1e6)
	}
	for _, c := range []struct{ p, want float64 }{{0.5, 50}, {0.9, 90}, {0.99, 99}, {1, 100}} {
		if got := percentile(v, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p*100, got, c.want)
		}
	}
	if percentile(nil, 0.5) != 0 || percentile([]int64{7e6}, 0.99) != 7 {
		t.Error("edge cases")
	}
}

func TestMedians(t *testing.T) {
	emu := 1.0
	runs := []result{
		{Label: "a", Conns: 16, RPS: 100, ServerCPUms: 3, Requests: 10, EmulatorCPUms: &emu},
		{Label: "b", Conns: 16, RPS: 7, Requests: 1},
		{Label: "a", Conns: 16, RPS: 300, ServerCPUms: 1, Requests: 30, Errors: 2, EmulatorCPUms: &emu},
		{Label: "a", Conns: 16, RPS: 200, ServerCPUms: 2, Requests: 20, EmulatorCPUms: &emu},
	}
	m := medians(runs)
	if len(m) != 2 || m[0].Label != "a" || m[1].Label != "b" {
		t.Fatalf("groups %+v", m)
	}
	a := m[0]
	if a.RPS != 200 || a.ServerCPUms != 2 || a.Requests != 60 || a.Errors != 2 || a.Repeat != 3 || a.RPSSpread != "100–300" || *a.EmulatorCPUms != 1 {
		t.Fatalf("median of a = %+v", a)
	}
}

func TestIntListAndScenarios(t *testing.T) {
	if got, err := intList("16, 64,256"); err != nil || !reflect.DeepEqual(got, []int{16, 64, 256}) {
		t.Fatalf("intList = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "a", "-1"} {
		if _, err := intList(bad); err == nil {
			t.Errorf("intList(%q) succeeded", bad)
		}
	}
	all, err := parseScenarios("all")
	if err != nil || len(all) != len(scenarios) {
		t.Fatalf("all = %d scenarios, %v", len(all), err)
	}
	if _, err := parseScenarios("cc,nope"); err == nil {
		t.Error("unknown scenario accepted")
	}
}

func TestRequestBytes(t *testing.T) {
	tg, err := parseTarget("http://127.0.0.1:8080/base/")
	if err != nil {
		t.Fatal(err)
	}
	if tg.addr != "127.0.0.1:8080" || tg.prefix != "/base" {
		t.Fatalf("target %+v", tg)
	}
	raw := tg.request("POST", "/oauth2/token", []byte("a=b"), "Content-Type", "application/x-www-form-urlencoded")
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.Path != "/base/oauth2/token" || req.Host != "127.0.0.1:8080" || req.ContentLength != 3 ||
		req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Fatalf("request %+v", req)
	}
	if _, err := parseTarget("https://example.com"); err == nil {
		t.Error("https accepted")
	}
}

// TestConnChunkedAndClose checks the loader's HTTP client against net/http's
// server: chunked bodies, keep-alive, and a server that closes.
func TestConnChunkedAndClose(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		// Larger than net/http's buffer: sent chunked.
		_, _ = w.Write(bytes.Repeat([]byte("x"), 5000))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tg, _ := parseTarget(srv.URL)
	c := newConn(tg, 5*time.Second)
	defer c.close()
	for _, path := range []string{"/", "/", "/close", "/"} {
		status, body, err := c.do(tg.request("GET", path, nil))
		if err != nil || status != 200 || len(body) != 5000 {
			t.Fatalf("GET %s: %d, %d bytes, %v", path, status, len(body), err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (keep-alive, then a new one after Connection: close)", n)
	}
}

// TestScenariosAgainstInstance runs every scenario briefly against a real
// instance (app.New, the emulator mounted in-process as in dev mode), with
// the config the standard set writes: each must succeed without errors and
// report CPU and memory. It is bounded: about 0.2 s per scenario.
func TestScenariosAgainstInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an instance")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	issuer := "http://127.0.0.1:" + strconv.Itoa(port)
	kekFile, secretFile := filepath.Join(dir, "kek"), filepath.Join(dir, "app-secret")
	if err := os.WriteFile(kekFile, []byte(base64.StdEncoding.EncodeToString(keys.GenerateKEK())), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeRandomSecret(secretFile); err != nil {
		t.Fatal(err)
	}
	st := &standardSettings{dsn: "sqlite://" + filepath.Join(dir, "wxoidc.db"), sync: "NORMAL"}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := writeConfig(cfgPath, st.config(issuer, port, kekFile, secretFile, issuer+emulatorPrefix)); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		t.Fatalf("the standard set's config does not load: %v", err)
	}
	ctx := context.Background()
	seeded, err := seedClients(ctx, cfg, benchAppID, benchWebAppID)
	if err != nil {
		t.Fatal(err)
	}
	if err := prefillTokenSessions(ctx, cfg, 100, nil); err != nil {
		t.Fatal(err)
	}
	secret, err := readSecretFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	emu := newBenchEmulator(benchAppID, secret)
	a, err := app.New(ctx, app.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), Mount: func(r chi.Router) {
		r.Handle(emulatorPrefix+"/*", http.StripPrefix(emulatorPrefix, emu.Handler()))
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := &http.Server{Handler: a.Public}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// codes: enough for code-exchange's 220 ms at the fastest rate two
	// connections reach here (about 3,000 req/s); running out is an error.
	lc := &loadConfig{appID: benchAppID, miniClient: benchMiniClient, ccClient: benchCCClient, ccSecret: seeded.ccSecret,
		users: 50, timeout: 10 * time.Second, userSeq: new(atomic.Uint64), emulatorInProcess: true,
		webClient: benchWebClient, webSecret: seeded.webSecret, webRedirect: benchWebRedirect, codes: 1000,
		scanClient: benchScanClient}
	lc.servers = []target{must(parseTarget(issuer))}
	lc.emulator = must(parseTarget(issuer + emulatorPrefix))
	obs := observed{servers: []int{os.Getpid()}}
	for _, sc := range scenarios {
		res, err := runLoad(ctx, lc, runSpec{sc: sc, conns: 2, warmup: 20 * time.Millisecond, duration: 200 * time.Millisecond, repeat: 1}, obs)
		if err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		if res.Requests == 0 || res.Errors+res.PrepErrors != 0 || res.RPS <= 0 || res.P99ms < res.P50ms || res.RSSMiB <= 0 {
			t.Errorf("%s: %+v", sc.name, res)
		}
	}
	// scan-status measures the status of a ticket bound to its browser: the
	// same request without the browser's cookie is refused.
	w := &worker{lc: lc, srv: newConn(lc.servers[0], lc.timeout)}
	defer w.srv.close()
	jar, _ := cookiejar.New(nil)
	b := &scanBrowser{jar: jar}
	if err := w.startScan(ctx, b); err != nil {
		t.Fatal(err)
	}
	if status, body, err := w.srv.do(w.srv.t.request("GET", scanPathPrefix+b.ticket, nil)); err != nil || status != http.StatusNotFound {
		t.Errorf("scan status without the browser cookie: %d %s %v, want 404", status, body, err)
	}
	if status, body, err := w.srv.do(w.srv.t.request("GET", scanPathPrefix+b.ticket, nil, "Cookie", b.cookie)); err != nil || status != http.StatusOK || !bytes.Contains(body, []byte(`"pending"`)) {
		t.Errorf("scan status with the browser cookie: %d %s %v, want 200 pending", status, body, err)
	}
	if time.Until(b.expires) < time.Minute {
		t.Errorf("ticket expires in %v, want about 2 minutes", time.Until(b.expires))
	}
	// An imported (PBKDF2) secret works too, and a wrong secret is counted
	// as an error, not hidden.
	imported := *lc
	imported.ccClient, imported.ccSecret = benchImportedClient, benchImportedSecret
	cc, _ := scenarioByName("cc")
	if res, err := runLoad(ctx, &imported, runSpec{sc: cc, conns: 1, duration: 100 * time.Millisecond}, obs); err != nil || res.Errors != 0 {
		t.Errorf("imported secret: %+v %v", res, err)
	}
	wrong := *lc
	wrong.ccSecret = "wrong"
	res, err := runLoad(ctx, &wrong, runSpec{sc: cc, conns: 1, duration: 100 * time.Millisecond}, obs)
	if err != nil || res.Errors == 0 || res.Statuses["401"] == 0 {
		t.Errorf("wrong secret: %+v %v", res, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
