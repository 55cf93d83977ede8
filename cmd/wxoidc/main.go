// Command wxoidc is an OpenID Connect provider whose upstream identity is
// WeChat mini-program login.
//
//	wxoidc dev                       one-command demo: SQLite + WeChat emulator
//	wxoidc serve --config FILE       production
//	wxoidc migrate --config FILE     apply database migrations
//	wxoidc backup|restore            SQLite backups (backup works while servers run)
//	wxoidc keys list|rotate|revoke   signing keys (works while servers run)
//	wxoidc clients ...               OAuth clients
//	wxoidc accounts show|disable|enable|revoke-tokens
//	wxoidc audit                     the audit log, newest first
//	wxoidc verify --issuer URL --audience ID TOKEN
//	wxoidc completion bash|zsh|fish|powershell
//	wxoidc version
//
// `wxoidc help COMMAND…` and `--help` work at every level; docs/cli/ is the
// generated reference. Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// usageError marks a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelpShown is a usage error whose help text was already printed.
var errHelpShown = errors.New("help shown")

// cliEnv carries the process environment so tests can run commands in-process.
type cliEnv struct {
	stdout, stderr io.Writer
	environ        []string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &cliEnv{stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ()}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, env *cliEnv, args []string) int {
	root := newRootCmd(env)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	if cmd == nil {
		cmd = root
	}
	if cmd.Name() == "help" && cmd.HasParent() {
		cmd = cmd.Parent() // "Run 'wxoidc --help'", not "wxoidc help --help"
	}
	var ue usageError
	switch {
	case errors.Is(err, errHelpShown):
		return 2
	case errors.As(err, &ue):
		fmt.Fprintf(env.stderr, "%s: %s\nRun '%s --help' for usage.\n", cmd.CommandPath(), ue.msg, cmd.CommandPath())
		return 2
	default:
		fmt.Fprintf(env.stderr, "%s: %v\n", cmd.CommandPath(), err)
		return 1
	}
}

// newRootCmd builds the command tree. It is built anew for every run, so no
// flag value survives from one run to the next (tests run many in-process).
func newRootCmd(env *cliEnv) *cobra.Command {
	root := &cobra.Command{
		Use:   "wxoidc COMMAND",
		Short: "An OpenID Connect provider for WeChat mini-programs",
		Long: `wxoidc is an OpenID Connect provider whose upstream identity is WeChat: a
mini-program trades its wx.login code for standard OAuth 2.0 / OIDC tokens.

Start with 'wxoidc dev': the provider, SQLite and a WeChat emulator on
loopback, with a copy-paste walkthrough. Production runs 'wxoidc serve'.

The admin commands (keys, clients, accounts, audit) run through a running
server's admin API with --admin-url (token in --admin-token-file or
$WXOIDC_ADMIN_TOKEN), or directly on the database with --config or --data.

Exit codes: 0 success, 1 failure, 2 usage error.`,
		Example: `  wxoidc dev
  wxoidc help keys
  wxoidc keys list --data DIR`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				fmt.Fprint(env.stderr, cmd.UsageString())
				return errHelpShown
			}
			return usagef("unknown command %q%s", args[0], suggestions(cmd, args[0]))
		},
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
	}
	root.SetUsageTemplate(usageTemplate)
	root.SuggestionsMinimumDistance = 2
	// "wxoidc kyes list --data DIR" is a mistyped command, not an unknown flag.
	root.FParseErrWhitelist.UnknownFlags = true
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{msg: err.Error()} })
	root.AddCommand(
		newDevCmd(env),
		newServeCmd(env),
		newMigrateCmd(env),
		newBackupCmd(env),
		newRestoreCmd(env),
		newKeysCmd(env),
		newClientsCmd(env),
		newAccountsCmd(env),
		newAuditCmd(env),
		newVerifyCmd(env),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  noArgs,
			RunE: func(*cobra.Command, []string) error {
				fmt.Fprintln(env.stdout, "wxoidc", version)
				return nil
			},
		},
		newGenDocsCmd(),
	)
	root.SetHelpCommand(newHelpCmd(root))
	// Added here rather than at Execute so that the generated reference and
	// `help completion` know it too.
	root.InitDefaultCompletionCmd()
	makeGroups(root)
	return root
}

// newHelpCmd replaces cobra's help command, which exits 0 on an unknown
// topic: here an unknown topic is a usage error.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]...",
		Short: "Help about any command",
		Long:  "Help about any command: 'wxoidc help keys revoke' is 'wxoidc keys revoke --help'.",
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			c, _, err := root.Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, sub := range c.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target := root
			for _, name := range args {
				next := findSub(target, name)
				if next == nil {
					return usagef("no help topic %q for %q%s", name, target.CommandPath(), suggestions(target, name))
				}
				target = next
			}
			target.InitDefaultHelpFlag() // as `COMMAND --help` shows it
			return target.Help()
		},
	}
}

// findSub returns c's subcommand called name (or an alias of it), or nil.
func findSub(c *cobra.Command, name string) *cobra.Command {
	for _, sub := range c.Commands() {
		if sub.Name() == name || sub.HasAlias(name) {
			return sub
		}
	}
	return nil
}

// suggestions is cobra's "Did you mean this?" text, folded onto the error line.
func suggestions(c *cobra.Command, arg string) string {
	s := c.SuggestionsFor(arg)
	if len(s) == 0 {
		return ""
	}
	return " (did you mean " + strings.Join(s, " or ") + "?)"
}

// newGroupCmd returns a command that only holds subcommands.
func newGroupCmd(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use + " COMMAND", Short: short, Long: long}
	c.AddCommand(subs...)
	return c
}

// makeGroups makes every command that only holds subcommands (ours and
// cobra's completion) refuse to run on its own or with an unknown
// subcommand, as a usage error naming the choices. Left alone, cobra prints
// its help and exits 0.
func makeGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		makeGroups(sub)
	}
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	var names []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			names = append(names, s.Name())
		}
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	c.Args = cobra.ArbitraryArgs
	c.SuggestionsMinimumDistance = 2
	// The flags belong to the subcommands: with a wrong subcommand, say that
	// ("keys frobnicate --data DIR"), not that the group lacks --data.
	c.FParseErrWhitelist.UnknownFlags = true
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usagef("missing subcommand: %s", want)
		}
		return usagef("unknown subcommand %q: want %s%s", args[0], want, suggestions(cmd, args[0]))
	}
}

// noArgs refuses positional arguments.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// noArgsHint refuses positional arguments, saying what to do instead.
func noArgsHint(hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := noArgs(cmd, args); err != nil {
			return usagef("%v (%s)", err, hint)
		}
		return nil
	}
}

// exactArgs wants n positional arguments, described by what.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes exactly %s", cmd.Name(), what)
		}
		return nil
	}
}

// fixedCompletions completes a flag with one of vals, never a file name.
func fixedCompletions(vals ...string) cobra.CompletionFunc {
	return cobra.FixedCompletions(vals, cobra.ShellCompDirectiveNoFileComp)
}

// usageTemplate is cobra's, except that a command with subcommands shows one
// usage line (cobra shows two when it is also runnable, as ours are so that
// a missing or unknown subcommand is a usage error).
const usageTemplate = `Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} COMMAND [flags]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} COMMAND --help" or "wxoidc help {{if .HasParent}}{{.Name}} {{end}}COMMAND" for more about a command.{{end}}
`
