// Command wxoidc is an OpenID Connect provider whose upstream identity is
// WeChat mini-program login.
//
//	wxoidc dev                       one-command demo: SQLite + WeChat emulator
//	wxoidc serve --config FILE       production
//	wxoidc migrate --config FILE     apply database migrations
//	wxoidc keys list|rotate|revoke   signing keys (works while servers run)
//	wxoidc clients ...               OAuth clients
//	wxoidc accounts show|disable|enable|revoke-tokens
//	wxoidc audit                     the audit log, newest first
//	wxoidc verify --issuer URL --audience ID TOKEN
//	wxoidc version
//
// Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// usageError marks a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...interface{}) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv carries the process environment so tests can run commands in-process.
type cliEnv struct {
	stdout, stderr io.Writer
	environ        []string
}

func commands() []command {
	return []command{
		{"dev", "run the provider with SQLite and the embedded WeChat emulator (demo)", runDev},
		{"serve", "run the provider from a config file", runServe},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"keys", "list, rotate or revoke signing keys", runKeys},
		{"clients", "create, list, show, update or delete OAuth clients", runClients},
		{"accounts", "show, disable or enable an account, or revoke its tokens", runAccounts},
		{"audit", "list the audit log (admin actions and key-state changes)", runAudit},
		{"verify", "verify an ID token through discovery and JWKS (as a relying party)", runVerify},
		{"version", "print the version", func(_ context.Context, env *cliEnv, _ []string) error {
			fmt.Fprintln(env.stdout, "wxoidc", version)
			return nil
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &cliEnv{stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ()}, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(env.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(env.stderr, "wxoidc %s: %s\nRun 'wxoidc %s --help' for usage.\n", c.name, ue.msg, c.name)
			return 2
		default:
			fmt.Fprintf(env.stderr, "wxoidc %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(env.stderr, "wxoidc: unknown command %q\n\n", args[0])
	printUsage(env.stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "wxoidc — an OpenID Connect provider for WeChat mini-programs")
	fmt.Fprintln(w, "\nUsage: wxoidc <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'wxoidc <command> --help' for a command's flags.")
}

// newFlagSet returns a flag set whose errors come back as usage errors.
func newFlagSet(env *cliEnv, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: wxoidc %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{msg: err.Error()}
	}
	return nil
}
