// Command resource-server is an example API that trusts wxoidc access tokens
// through discovery and the JWKS (see package rs).
//
//	go run ./examples/resource-server --issuer http://127.0.0.1:8080 --audience http://127.0.0.1:8080
//	curl -H "Authorization: Bearer $AT" http://127.0.0.1:9090/api/me
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wxoidc/wxoidc/examples/resource-server/rs"
)

func main() {
	issuer := flag.String("issuer", "http://127.0.0.1:8080", "wxoidc issuer URL")
	aud := flag.String("audience", "", "this API's identifier, required in the token's aud (default: the issuer, wxoidc's default audience)")
	scope := flag.String("scope", "openid", "scope a token must carry (\"\" for any)")
	addr := flag.String("addr", "127.0.0.1:9090", "listen address")
	flag.Parse()
	if *aud == "" {
		*aud = *issuer
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *issuer, *aud, *scope, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "resource-server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, issuer, aud, scope, addr string) error {
	v, err := rs.NewVerifier(ctx, rs.Config{Issuer: issuer, Audience: aud})
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: rs.NewAPI(v, scope), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("resource server listening", "addr", addr, "issuer", issuer, "audience", aud, "scope", scope)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
