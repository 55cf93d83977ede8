package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/keys"
)

// benchAppID is the mini-program the standard set registers.
const benchAppID = "wxbench000000000001"

// benchWebAppID is the website app (QR sign-in) of the browser scenarios.
const benchWebAppID = "wxbench000000000002"

// standardSettings are the flags of `standard`.
type standardSettings struct {
	load      loadFlags
	conns     []int
	bin       string
	dsn       string
	instances int
	workdir   string
	keep      bool
	prefill   int
	newPeople bool
	sync      string
	phases    []string
	scenarios []scenario
	imported  bool
	dbPID     int
	// profileDir: serve the phases with inproc-server (the same app.New
	// assembly as wxoidc serve) writing CPU and allocation profiles here.
	profileDir string
}

// Phases of the standard set: each starts its own servers.
const (
	phaseServe   = "serve"  // `wxoidc serve`, ES256 access tokens, emulator in its own process
	phaseRS256   = "rs256"  // the same with keys.access_token_algorithm RS256
	phaseInproc  = "inproc" // emulator in the server process (as in dev mode)
	allPhases    = "serve,rs256,inproc"
	readyTimeout = 90 * time.Second
)

func runStandard(ctx context.Context, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("standard", flag.ContinueOnError)
	var st standardSettings
	st.load.register(fs, 5*time.Second, "16,64,256")
	fs.StringVar(&st.bin, "wxoidc", "", "wxoidc binary to measure (default: go build ./cmd/wxoidc into the work directory)")
	fs.StringVar(&st.dsn, "dsn", "", "storage DSN (default: a new SQLite file in the work directory); postgres://… for PostgreSQL")
	fs.IntVar(&st.instances, "instances", 1, "server instances sharing the storage (more than one needs PostgreSQL)")
	fs.StringVar(&st.workdir, "workdir", "", "directory for configs, database and logs (default: a new temporary directory)")
	fs.BoolVar(&st.keep, "keep", false, "keep the work directory (it is removed otherwise, unless --workdir was given)")
	fs.IntVar(&st.prefill, "prefill", 0, "token sessions to store before the runs (database-size comparison)")
	fs.BoolVar(&st.newPeople, "new-people", false, "grants sign people in for the first time (default: the --users people are stored before the runs, so grants are returning people's, as most sign-ins are)")
	fs.StringVar(&st.sync, "sqlite-synchronous", "FULL", "storage.sqlite_synchronous: FULL or NORMAL")
	phases := fs.String("phases", allPhases, "phases to run: serve (ES256 access tokens), rs256 (cc with RS256 access tokens), inproc (WeChat grant, emulator in the server process)")
	list := fs.String("scenarios", "all", "scenarios of the serve phase, or all")
	fs.IntVar(&st.dbPID, "db-pid", 0, "PostgreSQL's main process ID, to report its CPU (default: the process listening on the DSN's port, when it is on this machine)")
	fs.BoolVar(&st.imported, "imported-secret", false, "serve phase: also run cc with an imported (PBKDF2-hashed) client secret")
	fs.StringVar(&st.profileDir, "profile", "", "write CPU and allocation profiles of each phase's servers to this directory (servers then run as 'wxoidc-bench inproc-server', the same assembly as 'wxoidc serve')")
	if err := fs.Parse(args); err != nil {
		return usageErr{err}
	}
	var err error
	if st.conns, err = st.load.check(); err != nil {
		return err
	}
	if st.scenarios, err = parseScenarios(*list); err != nil {
		return usageErr{err}
	}
	for _, p := range strings.Split(*phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case phaseServe, phaseRS256, phaseInproc:
			st.phases = append(st.phases, p)
		case "":
		default:
			return usageErr{fmt.Errorf("--phases: unknown phase %q (want %s)", p, allPhases)}
		}
	}
	postgres := strings.HasPrefix(st.dsn, "postgres://") || strings.HasPrefix(st.dsn, "postgresql://")
	switch {
	case st.instances < 1:
		return usageErr{errors.New("--instances must be at least 1")}
	case st.instances > 1 && !postgres:
		return usageErr{errors.New("--instances > 1 needs --dsn postgres://… (SQLite is one machine, one process)")}
	}
	if postgres && st.dbPID == 0 {
		st.dbPID = localDatabasePID(st.dsn)
	}
	if postgres && slices.Contains(st.phases, phaseInproc) {
		// The in-process emulator phase is about WeChat-grant cost on one
		// SQLite instance; with PostgreSQL it would only repeat serve's line.
		st.phases = slices.DeleteFunc(st.phases, func(p string) bool { return p == phaseInproc })
	}

	if st.workdir == "" {
		if st.workdir, err = os.MkdirTemp("", "wxoidc-bench-"); err != nil {
			return err
		}
		if !st.keep {
			defer os.RemoveAll(st.workdir)
		}
	} else if err := os.MkdirAll(st.workdir, 0o700); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "work directory %s\n", st.workdir)
	if st.profileDir != "" {
		if err := os.MkdirAll(st.profileDir, 0o755); err != nil {
			return err
		}
	}
	if st.dsn == "" {
		st.dsn = "sqlite://" + filepath.Join(st.workdir, "wxoidc.db")
	}
	if st.bin == "" {
		st.bin = filepath.Join(st.workdir, "wxoidc")
		fmt.Fprintln(stdout, "building wxoidc …")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", st.bin, "github.com/wxoidc/wxoidc/cmd/wxoidc")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/wxoidc (run from the repository, or pass --wxoidc): %w\n%s", err, out)
		}
	}
	rep := newReport("standard " + strings.Join(args, " "))
	rep.Settings["dsn_kind"] = strings.SplitN(st.dsn, "://", 2)[0]
	rep.Settings["instances"] = strconv.Itoa(st.instances)
	rep.Settings["sqlite_synchronous"] = st.sync
	rep.Settings["prefill"] = strconv.Itoa(st.prefill)
	rep.Settings["new_people"] = strconv.FormatBool(st.newPeople)
	rep.Runs, err = st.run(ctx, stdout)
	return finishReport(stdout, st.load.jsonPath, rep, err)
}

func (st *standardSettings) run(ctx context.Context, stdout io.Writer) ([]result, error) {
	secretFile := filepath.Join(st.workdir, "app-secret")
	kekFile := filepath.Join(st.workdir, "kek")
	if err := writeRandomSecret(secretFile); err != nil {
		return nil, err
	}
	if _, err := os.Stat(kekFile); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(kekFile, []byte(base64.StdEncoding.EncodeToString(keys.GenerateKEK())+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	emu, emuURL, err := startEmulatorChild(ctx, filepath.Join(st.workdir, "emulator.log"), benchAppID, secretFile)
	if err != nil {
		return nil, err
	}
	defer emu.stop()

	ports := make([]int, st.instances)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	issuer := "http://127.0.0.1:" + itoa(ports[0])
	base := st.config(issuer, ports[0], kekFile, secretFile, emuURL)
	basePath := filepath.Join(st.workdir, "serve.yaml")
	if err := writeConfig(basePath, base); err != nil {
		return nil, err
	}
	loaded, err := config.Load(basePath, benchEnviron())
	if err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	seeded, err := seedClients(ctx, loaded, benchAppID, benchWebAppID)
	if err != nil {
		return nil, err
	}
	if !st.newPeople {
		start := time.Now()
		if err := seedPeople(ctx, loaded, benchAppID, st.load.users); err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "stored the accounts of %d returning people in %s (--new-people measures first sign-ins)\n",
			st.load.users, time.Since(start).Round(100*time.Millisecond))
	}
	if st.prefill > 0 {
		fmt.Fprintf(stdout, "storing %d token sessions …\n", st.prefill)
		start := time.Now()
		err := prefillTokenSessions(ctx, loaded, st.prefill, func(done int) {
			if done%100000 == 0 {
				fmt.Fprintf(stdout, "  %d (%s)\n", done, time.Since(start).Round(time.Second))
			}
		})
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "stored %d token sessions in %s\n", st.prefill, time.Since(start).Round(time.Second))
	}

	lc := &loadConfig{
		appID: benchAppID, miniClient: benchMiniClient, ccClient: benchCCClient, ccSecret: seeded.ccSecret,
		users: st.load.users, timeout: st.load.timeout, userSeq: new(atomic.Uint64),
		webClient: benchWebClient, webSecret: seeded.webSecret, webRedirect: benchWebRedirect, codes: st.load.codeBudget(),
		scanClient: benchScanClient,
	}
	if lc.emulator, err = parseTarget(emuURL); err != nil {
		return nil, err
	}
	for _, p := range ports {
		t, _ := parseTarget("http://127.0.0.1:" + itoa(p))
		lc.servers = append(lc.servers, t)
	}

	var all []result
	for _, phase := range st.phases {
		var rs []result
		var err error
		switch phase {
		case phaseServe:
			rs, err = st.runServe(ctx, stdout, lc, basePath, ports, emu.pid(), "")
		case phaseRS256:
			rs256 := *base
			rs256.Keys.AccessTokenAlgorithm = keys.RS256
			path := filepath.Join(st.workdir, "serve-rs256.yaml")
			if err := writeConfig(path, &rs256); err != nil {
				return all, err
			}
			rs, err = st.runServe(ctx, stdout, lc, path, ports, emu.pid(), phaseRS256)
		case phaseInproc:
			rs, err = st.runInproc(ctx, stdout, lc, base, secretFile)
		}
		all = append(all, rs...)
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

// config is the servers' configuration: production defaults, except the
// rate limits, off (one loader IP would be throttled), and a quieter log.
func (st *standardSettings) config(issuer string, port int, kekFile, secretFile, emuURL string) *config.Config {
	c := config.Default()
	c.Issuer = issuer
	c.HTTP.Addr = "127.0.0.1:" + itoa(port)
	c.Admin.Addr = ""
	c.Storage.DSN = st.dsn
	c.Storage.SQLiteSynchronous = st.sync
	c.Secrets.KEK = config.FileSecret(kekFile)
	c.WeChat.BaseURL = emuURL
	c.WeChat.BrowserBaseURL = emuURL // the emulator's QR page, for the browser scenarios
	c.WeChat.FallbackBaseURLs = []string{}
	c.WeChat.Apps = []config.WeChatApp{
		{AppID: benchAppID, Secret: config.FileSecret(secretFile)},
		{AppID: benchWebAppID, Secret: config.FileSecret(secretFile), Kind: config.WeChatKindWebsite, OpenPlatform: benchOpenPlatform},
	}
	c.Log.Level = "warn"
	c.Limits.DisableRates()
	return c
}

func writeConfig(path string, c *config.Config) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	return os.WriteFile(path, b, 0o600)
}

func writeRandomSecret(path string) error {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return os.WriteFile(path, []byte(base64.RawURLEncoding.EncodeToString(b)+"\n"), 0o600)
}

// runServe starts `wxoidc serve` instances on ports and runs the serve (or
// rs256) phase against them.
func (st *standardSettings) runServe(ctx context.Context, stdout io.Writer, lc *loadConfig, cfgPath string, ports []int, emuPID int, variant string) ([]result, error) {
	var servers []*child
	defer func() {
		for _, s := range servers {
			_ = s.stop()
		}
	}()
	obs := observed{emulator: emuPID, database: st.dbPID}
	for i, p := range ports {
		name := fmt.Sprintf("wxoidc-%d", i+1)
		if variant != "" {
			name += "-" + variant
		}
		addr := "127.0.0.1:" + itoa(p)
		bin, args := st.bin, []string{"serve", "--config", cfgPath}
		if st.profileDir != "" {
			self, err := os.Executable()
			if err != nil {
				return nil, err
			}
			bin, args = self, append(st.profileArgs(name), "--config", cfgPath)
		}
		s, err := startChild(name, filepath.Join(st.workdir, name+".log"), benchEnviron("WXOIDC_HTTP_ADDR="+addr), nil, bin, args...)
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
		// One at a time: the first creates the schema and the keys.
		if err := waitReady(ctx, s, "http://"+addr, readyTimeout); err != nil {
			return nil, err
		}
		obs.servers = append(obs.servers, s.pid())
	}
	srvLC := *lc
	srvLC.emulatorInProcess = false
	var specs []runSpec
	add := func(sc scenario, label string) {
		for _, c := range st.conns {
			for r := 1; r <= st.load.repeat; r++ {
				specs = append(specs, runSpec{label: label, phase: phaseOf(variant), sc: sc, conns: c,
					warmup: st.load.warmup, duration: st.load.duration, repeat: r})
			}
		}
	}
	if variant == phaseRS256 {
		sc, _ := scenarioByName("cc")
		add(sc, "cc RS256")
		return runSpecs(ctx, stdout, &srvLC, specs, obs)
	}
	for _, sc := range st.scenarios {
		label := sc.name
		if strings.HasPrefix(sc.name, "wechat") {
			label += " (emu separate)"
		}
		add(sc, label)
	}
	out, err := runSpecs(ctx, stdout, &srvLC, specs, obs)
	if err != nil || !st.imported {
		return out, err
	}
	// The same path with a PBKDF2-hashed (imported) secret.
	imported := srvLC
	imported.ccClient, imported.ccSecret = benchImportedClient, benchImportedSecret
	specs = specs[:0]
	sc, _ := scenarioByName("cc")
	add(sc, "cc, imported secret")
	more, err := runSpecs(ctx, stdout, &imported, specs, obs)
	return append(out, more...), err
}

// localDatabasePID finds the process serving a PostgreSQL DSN whose host is
// this machine, or 0.
func localDatabasePID(dsn string) int {
	u, err := url.Parse(dsn)
	if err != nil {
		return 0
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	if !config.IsLoopbackHost(host) {
		return 0
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	pid, _ := pidListening(p)
	return pid
}

// profileArgs are the inproc-server arguments of a profiled server.
func (st *standardSettings) profileArgs(name string) []string {
	return []string{"inproc-server", "--appid", benchAppID, "--secret-file", filepath.Join(st.workdir, "app-secret"),
		"--cpuprofile", filepath.Join(st.profileDir, name+".cpu.pprof"),
		"--memprofile", filepath.Join(st.profileDir, name+".allocs.pprof")}
}

func phaseOf(variant string) string {
	if variant == "" {
		return phaseServe
	}
	return variant
}

// runInproc starts `wxoidc-bench inproc-server` (the emulator mounted in the
// server process, as in dev mode) on the same storage and runs the WeChat
// grant against it.
func (st *standardSettings) runInproc(ctx context.Context, stdout io.Writer, lc *loadConfig, base *config.Config, secretFile string) ([]result, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := *base
	c.Issuer = "http://127.0.0.1:" + itoa(port)
	c.HTTP.Addr = "127.0.0.1:" + itoa(port)
	c.WeChat.BaseURL = c.Issuer + emulatorPrefix
	path := filepath.Join(st.workdir, "inproc.yaml")
	if err := writeConfig(path, &c); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"inproc-server", "--config", path, "--appid", benchAppID, "--secret-file", secretFile}
	if st.profileDir != "" {
		args = append(st.profileArgs("wxoidc-inproc"), "--config", path)
	}
	s, err := startChild("wxoidc-inproc", filepath.Join(st.workdir, "wxoidc-inproc.log"), benchEnviron(), nil, self, args...)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	if err := waitReady(ctx, s, c.Issuer, readyTimeout); err != nil {
		return nil, err
	}
	in := *lc
	in.servers = []target{{addr: c.HTTP.Addr, host: c.HTTP.Addr}}
	if in.emulator, err = parseTarget(c.WeChat.BaseURL); err != nil {
		return nil, err
	}
	in.emulatorInProcess = true
	var specs []runSpec
	for _, name := range []string{"wechat-phone", "wechat"} {
		sc, _ := scenarioByName(name)
		if !slices.ContainsFunc(st.scenarios, func(s scenario) bool { return s.name == name }) {
			continue
		}
		for _, conns := range st.conns {
			for r := 1; r <= st.load.repeat; r++ {
				specs = append(specs, runSpec{label: name + " (emu in-process)", phase: phaseInproc, sc: sc, conns: conns,
					warmup: st.load.warmup, duration: st.load.duration, repeat: r})
			}
		}
	}
	return runSpecs(ctx, stdout, &in, specs, observed{servers: []int{s.pid()}})
}

// runPrefill stores token sessions in the storage a config names.
func runPrefill(ctx context.Context, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("prefill", flag.ContinueOnError)
	path := fs.String("config", "", "wxoidc YAML config naming the storage")
	rows := fs.Int("rows", 0, "token sessions to store")
	if err := fs.Parse(args); err != nil {
		return usageErr{err}
	}
	if *path == "" || *rows < 1 {
		return usageErr{errors.New("--config and a positive --rows are required")}
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	start := time.Now()
	err = prefillTokenSessions(ctx, cfg, *rows, func(done int) {
		if done%100000 == 0 || done == *rows {
			fmt.Fprintf(stdout, "%d token sessions stored (%s)\n", done, time.Since(start).Round(time.Second))
		}
	})
	return err
}
