package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

// `wxoidc serve` refuses an admin listener off loopback unless
// admin.allow_remote says so, and then warns at start.
func TestServeAdminListenerOffLoopback(t *testing.T) {
	e := writeAdminConfig(t, "https://id.example.com", testharness.FreeAddr(t), testharness.FreeAddr(t), time.Second)
	_, port, _ := net.SplitHostPort(testharness.FreeAddr(t))
	remote := "WXOIDC_ADMIN_ADDR=0.0.0.0:" + port

	code, _, stderr := runCLIEnv(t, []string{remote}, "serve", "--config", e.configPath)
	if code == 0 || !strings.Contains(stderr, "admin.addr") || !strings.Contains(stderr, "loopback") || !strings.Contains(stderr, "admin.allow_remote") {
		t.Fatalf("serve with a remote admin listener: exit %d, stderr %q; want a refusal naming admin.addr and admin.allow_remote", code, stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testharness.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &cliEnv{stdout: &out, stderr: &errb, environ: []string{remote, "WXOIDC_ADMIN_ALLOW_REMOTE=true"}}, []string{"serve", "--config", e.configPath})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errb.String(), "wxoidc serving") {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("serve exited with %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited with %d", code)
	}
	var warned bool
	for _, line := range strings.Split(errb.String(), "\n") {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "admin listener is not on loopback") && strings.Contains(line, "0.0.0.0:"+port) {
			warned = true
		}
	}
	if !warned {
		t.Fatalf("no WARN about the admin listener in the serve output:\n%s", errb.String())
	}
}
