// Command wxoidc-bench is wxoidc's load harness. It drives running servers at
// a fixed concurrency for a fixed duration and reports, per path, req/s,
// latency percentiles, errors, server CPU-ms per request (from /proc) and
// peak RSS, as a table and as JSON.
//
//	wxoidc-bench standard [flags]   start servers, run the standard set, stop them (< 5 min)
//	wxoidc-bench run --url URL ...  load an already running server
//	wxoidc-bench emulator ...       serve the WeChat emulator on its own port
//	wxoidc-bench inproc-server ...  a wxoidc instance with the emulator in-process
//	wxoidc-bench prefill ...        store N token sessions (database-size runs)
//
// docs/performance.md explains the method and records the figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// usageErr marks a command-line mistake (exit code 2).
type usageErr struct{ err error }

func (e usageErr) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "standard":
		err = runStandard(ctx, stdout, args[1:])
	case "run":
		err = runRun(ctx, stdout, args[1:])
	case "emulator":
		err = runEmulator(ctx, stdout, args[1:])
	case "inproc-server":
		err = runInprocServer(ctx, stderr, args[1:])
	case "prefill":
		err = runPrefill(ctx, stdout, args[1:])
	default:
		fmt.Fprintf(stderr, "wxoidc-bench: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageErr
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "wxoidc-bench %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "wxoidc-bench %s: %v\n", args[0], err)
		return 1
	}
}

const usage = `wxoidc-bench — wxoidc's load harness

Usage:
  wxoidc-bench standard [--dsn DSN] [--instances N] [--conns 16,64,256] [--duration 5s] [--repeat 1] [--json FILE]
      Build wxoidc, start the emulator and the servers, run the standard set, stop everything.
  wxoidc-bench run --url URL [--url URL2] --scenarios LIST [--conns 64] [--duration 10s] [--json FILE]
      Load running servers (defaults fit 'wxoidc dev'; the browser scenarios need --web-client,
      --web-secret-file and --web-redirect-uri).
  wxoidc-bench emulator --secret-file FILE [--addr 127.0.0.1:0] [--appid ID]
  wxoidc-bench inproc-server --config FILE --secret-file FILE [--appid ID]
  wxoidc-bench prefill --config FILE --rows N

Scenarios: ` + "discovery, jwks, cc, introspect, userinfo, refresh, wechat, wechat-phone, wechat-phone-rs256,\n  authorize, code-exchange, login-page, scan-status" + `
Run 'wxoidc-bench <command> --help' for a command's flags.
`

// intList parses "16,64,256".
func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers separated by commas", s)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q: empty list", s)
	}
	return out, nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// loadFlags are the flags shared by run and standard.
type loadFlags struct {
	conns    string
	duration time.Duration
	warmup   time.Duration
	repeat   int
	users    int
	timeout  time.Duration
	jsonPath string
	codes    int
}

func (l *loadFlags) register(fs *flag.FlagSet, defDuration time.Duration, defConns string) {
	fs.StringVar(&l.conns, "conns", defConns, "connections (concurrency), comma-separated: one run per value")
	fs.DurationVar(&l.duration, "duration", defDuration, "measured time of one run")
	fs.DurationVar(&l.warmup, "warmup", time.Second, "unmeasured time before each run")
	fs.IntVar(&l.repeat, "repeat", 1, "runs of each (path, connections); the table shows medians")
	fs.IntVar(&l.users, "users", 20000, "WeChat users the grants cycle through (WeChat allows 100 logins per user per minute)")
	fs.DurationVar(&l.timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.StringVar(&l.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.IntVar(&l.codes, "codes", 0, "code-exchange: authorization codes issued before each run, over all connections (default "+strconv.Itoa(defaultCodesPerSecond)+" per second of warm-up and duration; codes live 60 s)")
}

// codeBudget is --codes, or enough for defaultCodesPerSecond exchanges.
func (l *loadFlags) codeBudget() int {
	if l.codes > 0 {
		return l.codes
	}
	return int(float64(defaultCodesPerSecond) * (l.warmup + l.duration).Seconds())
}

func (l *loadFlags) check() ([]int, error) {
	conns, err := intList(l.conns)
	if err != nil {
		return nil, usageErr{fmt.Errorf("--conns %w", err)}
	}
	switch {
	case l.duration <= 0 || l.warmup < 0:
		return nil, usageErr{errors.New("--duration must be positive and --warmup not negative")}
	case l.repeat < 1:
		return nil, usageErr{errors.New("--repeat must be at least 1")}
	case l.users < 1:
		return nil, usageErr{errors.New("--users must be at least 1")}
	case l.codes < 0:
		return nil, usageErr{errors.New("--codes must not be negative")}
	}
	return conns, nil
}

// runRun loads servers that are already running.
func runRun(ctx context.Context, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var lf loadFlags
	lf.register(fs, 10*time.Second, "64")
	var urls, serverPIDs multiFlag
	fs.Var(&urls, "url", "issuer URL of a server (repeat for several instances; connections are spread round robin)")
	fs.Var(&serverPIDs, "server-pid", "server process ID (repeatable; default: the process listening on each --url's port)")
	list := fs.String("scenarios", "all", "comma-separated scenarios, or all")
	emuURL := fs.String("emulator", "", "WeChat emulator base URL (default: the first --url + "+emulatorPrefix+", as in dev mode)")
	emuPID := fs.Int("emulator-pid", 0, "separate emulator's process ID, to report its CPU (default: found by port when the emulator is not in a server)")
	dbPID := fs.Int("db-pid", 0, "database server's main process ID (PostgreSQL's postmaster), to report its CPU and its children's")
	appID := fs.String("appid", "wx1234567890abcdef", "mini-program appid (dev mode's by default)")
	mini := fs.String("mini-client", "demo-miniprogram", "public mini-program client_id")
	cc := fs.String("cc-client", "demo-backend", "confidential client for client_credentials and introspection")
	ccSecret := fs.String("cc-secret", "demo-backend-secret", "its secret (visible in ps; prefer --cc-secret-file)")
	ccSecretFile := fs.String("cc-secret-file", "", "file holding the confidential client's secret")
	webClient := fs.String("web-client", "", "browser scenarios: a confidential, first-party (skip_consent) client with a website app")
	webSecret := fs.String("web-secret", "", "its secret (visible in ps; prefer --web-secret-file)")
	webSecretFile := fs.String("web-secret-file", "", "file holding the web client's secret")
	webRedirect := fs.String("web-redirect-uri", "", "a redirect URI registered for the web client")
	if err := fs.Parse(args); err != nil {
		return usageErr{err}
	}
	conns, err := lf.check()
	if err != nil {
		return err
	}
	if len(urls) == 0 {
		return usageErr{errors.New("--url is required")}
	}
	scs, err := parseScenarios(*list)
	if err != nil {
		return usageErr{err}
	}
	lc := &loadConfig{appID: *appID, miniClient: *mini, ccClient: *cc, ccSecret: *ccSecret, users: lf.users, timeout: lf.timeout, userSeq: new(atomic.Uint64),
		webClient: *webClient, webRedirect: *webRedirect, codes: lf.codeBudget()}
	if *ccSecretFile != "" {
		if lc.ccSecret, err = readSecretFile(*ccSecretFile); err != nil {
			return err
		}
	}
	if lc.webSecret, err = readWebSecret(*webSecret, *webSecretFile); err != nil {
		return err
	}
	obs := observed{database: *dbPID}
	for i, u := range urls {
		t, err := parseTarget(u)
		if err != nil {
			return usageErr{err}
		}
		lc.servers = append(lc.servers, t)
		if i < len(serverPIDs) {
			pid, err := strconv.Atoi(serverPIDs[i])
			if err != nil {
				return usageErr{fmt.Errorf("--server-pid %q: %w", serverPIDs[i], err)}
			}
			obs.servers = append(obs.servers, pid)
			continue
		}
		pid, err := pidOf(t)
		if err != nil {
			return err
		}
		obs.servers = append(obs.servers, pid)
	}
	if *emuURL == "" {
		*emuURL = strings.TrimSuffix(urls[0], "/") + emulatorPrefix
	}
	if lc.emulator, err = parseTarget(*emuURL); err != nil {
		return usageErr{err}
	}
	for _, s := range lc.servers {
		if s.addr == lc.emulator.addr {
			lc.emulatorInProcess = true
		}
	}
	if !lc.emulatorInProcess {
		obs.emulator = *emuPID
		if obs.emulator == 0 {
			// Best effort: the emulator may be on another machine.
			obs.emulator, _ = pidOf(lc.emulator)
		}
	}
	var specs []runSpec
	for _, sc := range scs {
		for _, c := range conns {
			for r := 1; r <= lf.repeat; r++ {
				specs = append(specs, runSpec{sc: sc, conns: c, warmup: lf.warmup, duration: lf.duration, repeat: r, phase: "external"})
			}
		}
	}
	rep := newReport("run " + strings.Join(args, " "))
	rep.Settings["emulator_in_process"] = strconv.FormatBool(lc.emulatorInProcess)
	rep.Runs, err = runSpecs(ctx, stdout, lc, specs, obs)
	return finishReport(stdout, lf.jsonPath, rep, err)
}

func pidOf(t target) (int, error) {
	_, port, err := splitPort(t.addr)
	if err != nil {
		return 0, err
	}
	return pidListening(port)
}

func splitPort(addr string) (string, int, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("address %q has no port", addr)
	}
	p, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	return addr[:i], p, nil
}

func newReport(command string) report {
	return report{Started: time.Now().UTC(), Command: command, Machine: describeMachine(), Settings: map[string]string{}}
}

// runSpecs runs each spec in turn, printing a line per run.
func runSpecs(ctx context.Context, stdout io.Writer, lc *loadConfig, specs []runSpec, obs observed) ([]result, error) {
	var out []result
	for _, s := range specs {
		label := s.label
		if label == "" {
			label = s.sc.name
		}
		r, err := runLoad(ctx, lc, s, obs)
		if err != nil {
			return out, fmt.Errorf("%s @%d: %w", label, s.conns, err)
		}
		fmt.Fprintf(stdout, "%-34s %4d conns  %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  %6.3f CPU-ms/req  %5.1f MiB  errors %d  other cores %.2f\n",
			label, s.conns, r.RPS, r.P50ms, r.P99ms, r.ServerCPUms, r.PeakRSSMiB, r.Errors+r.PrepErrors, r.OtherCores)
		out = append(out, r)
	}
	return out, nil
}

func finishReport(stdout io.Writer, jsonPath string, rep report, runErr error) error {
	rep.Medians = medians(rep.Runs)
	if len(rep.Medians) > 0 {
		fmt.Fprintln(stdout)
		printTable(stdout, rep.Medians)
	}
	if jsonPath != "" {
		if err := writeJSON(jsonPath, rep); err != nil {
			return errors.Join(runErr, err)
		}
		fmt.Fprintf(stdout, "\nJSON written to %s\n", jsonPath)
	}
	return runErr
}
