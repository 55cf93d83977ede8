package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/internal/logredact"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// emulatorBanner starts the line `emulator` prints once it listens.
const emulatorBanner = "emulator listening on "

// emulatorPrefix is where the in-process emulator is mounted, as in dev mode.
const emulatorPrefix = "/wechat-emulator"

// Identities the emulator gives the bench app.
const benchOpenPlatform = "bench-open-platform"

func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// newBenchEmulator registers the mini-program appID and the website app
// benchWebAppID (browser scenarios), both with secret.
func newBenchEmulator(appID, secret string) *wechattest.Emulator {
	emu := wechattest.New(wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: appID, Secret: secret, OpenPlatformID: benchOpenPlatform, PhoneAPI: true})
	emu.RegisterApp(wechattest.App{AppID: benchWebAppID, Secret: secret, Kind: wechattest.KindWebsite, OpenPlatformID: benchOpenPlatform})
	return emu
}

// runEmulator serves the WeChat emulator on its own port, so that the
// server's WeChat calls, and the minting of codes, are not server work.
func runEmulator(ctx context.Context, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback only: the helper endpoints are unauthenticated)")
	appID := fs.String("appid", benchAppID, "mini-program appid to register")
	secretFile := fs.String("secret-file", "", "file holding the app secret (required)")
	if err := fs.Parse(args); err != nil {
		return usageErr{err}
	}
	if *secretFile == "" {
		return usageErr{errors.New("--secret-file is required")}
	}
	if err := requireLoopback(*addr); err != nil {
		return usageErr{err}
	}
	secret, err := readSecretFile(*secretFile)
	if err != nil {
		return err
	}
	emu := newBenchEmulator(*appID, secret)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%shttp://%s\n", emulatorBanner, ln.Addr())
	return serveUntilDone(ctx, ln, emu.Handler())
}

func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// runInprocServer runs a wxoidc instance with the emulator mounted in the
// same process at /wechat-emulator, assembled by app.New exactly as
// `wxoidc dev` does, but from a config file (dev mode's built-in config has
// the production rate limits, which would throttle a single load generator).
// Minting codes is then server work, and counted as such.
func runInprocServer(ctx context.Context, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("inproc-server", flag.ContinueOnError)
	path := fs.String("config", "", "wxoidc YAML config (wechat.base_url must be the issuer + /wechat-emulator)")
	appID := fs.String("appid", benchAppID, "mini-program appid to register in the emulator")
	secretFile := fs.String("secret-file", "", "file holding the app secret (required)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfile := fs.String("memprofile", "", "write allocation and heap profiles to this file at exit")
	if err := fs.Parse(args); err != nil {
		return usageErr{err}
	}
	if *path == "" || *secretFile == "" {
		return usageErr{errors.New("--config and --secret-file are required")}
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	if err := requireLoopback(cfg.HTTP.Addr); err != nil {
		return usageErr{err}
	}
	secret, err := readSecretFile(*secretFile)
	if err != nil {
		return err
	}
	emu := newBenchEmulator(*appID, secret)
	emuHandler := http.StripPrefix(emulatorPrefix, emu.Handler())
	log := slog.New(logredact.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	a, err := app.New(ctx, app.Options{Config: cfg, Logger: log, Mount: func(r chi.Router) {
		r.Handle(emulatorPrefix+"/*", emuHandler)
	}})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		defer writeHeapProfile(stderr, *memProfile)
	}
	return a.Run(ctx, ln, nil)
}

// writeHeapProfile writes the heap profile (allocations since start and
// live objects; `go tool pprof -sample_index=alloc_space` shows the former).
func writeHeapProfile(stderr io.Writer, path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "memprofile: %v\n", err)
	}
}

// requireLoopback refuses anything but a loopback listen address.
func requireLoopback(addr string) error {
	if err := config.CheckLoopbackAddr(addr); err != nil {
		return fmt.Errorf("the bench serves on loopback addresses only: %w", err)
	}
	return nil
}
