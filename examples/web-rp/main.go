// Command web-rp is a small relying party that signs people in with WeChat
// through wxoidc: the OpenID Connect authorization code flow with PKCE
// (golang.org/x/oauth2), ID token verification (github.com/coreos/go-oidc),
// and RP-initiated logout. See README.md.
//
//	go run ./cmd/wxoidc dev      # in one shell
//	go run ./examples/web-rp     # in another; open http://127.0.0.1:8090
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"
)

func main() {
	cfg, err := configFromArgs(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "web-rp:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	h, err := newServer(ctx, cfg)
	if err != nil {
		log.Fatalf("web-rp: %v (is `go run ./cmd/wxoidc dev` running?)", err)
	}
	srv := &http.Server{Addr: cfg.Addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("web-rp: open %s (issuer %s, client %s)", cfg.BaseURL, cfg.Issuer, cfg.ClientID)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("web-rp: %v", err)
	}
}

// configFromArgs reads the flags, whose defaults come from the WEBRP_*
// environment variables and then from the dev-mode demo client.
func configFromArgs(args []string, getenv func(string) string) (config, error) {
	or := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var cfg config
	fs := flag.NewFlagSet("web-rp", flag.ContinueOnError)
	fs.StringVar(&cfg.Issuer, "issuer", or("WEBRP_ISSUER", "http://127.0.0.1:8080"), "OpenID provider (wxoidc) issuer URL [WEBRP_ISSUER]")
	fs.StringVar(&cfg.ClientID, "client-id", or("WEBRP_CLIENT_ID", "demo-web"), "client ID [WEBRP_CLIENT_ID]")
	fs.StringVar(&cfg.ClientSecret, "client-secret", or("WEBRP_CLIENT_SECRET", "demo-web-secret"), "client secret [WEBRP_CLIENT_SECRET]")
	fs.StringVar(&cfg.Addr, "addr", or("WEBRP_ADDR", "127.0.0.1:8090"), "listen address; the redirect URI is http://ADDR/callback [WEBRP_ADDR]")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.BaseURL = "http://" + cfg.Addr
	return cfg, nil
}
