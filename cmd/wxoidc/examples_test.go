package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/web"
)

// exampleBlock is one group of CLI examples that run in order against one
// fixture: a fenced block of a doc, or a command's Example text.
type exampleBlock struct {
	name  string
	lines []exampleLine
}

type exampleLine struct {
	where string // README.md:72
	text  string
}

// reExampleStart is how a CLI example line starts (at column 0): optional
// VAR=value assignments, then the binary or `go run` of it.
var reExampleStart = regexp.MustCompile(`^([A-Z][A-Z0-9_]*=\S* )*(wxoidc |go run \./cmd/wxoidc )`)

// docExamples returns the CLI examples of README.md and docs/*.md, one block
// per fenced sh (or unlabelled) block.
func docExamples(t *testing.T) []exampleBlock {
	t.Helper()
	root := filepath.Join("..", "..")
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	var blocks []exampleBlock
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		var (
			cur     *exampleBlock
			inFence bool
			pending string // a line continued with a backslash
		)
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if fence, ok := strings.CutPrefix(strings.TrimSpace(line), "```"); ok {
				if inFence {
					if cur != nil && len(cur.lines) > 0 {
						blocks = append(blocks, *cur)
					}
					inFence, cur = false, nil
					continue
				}
				inFence = true
				if lang := strings.TrimSpace(fence); lang == "" || lang == "sh" || lang == "bash" || lang == "shell" {
					cur = &exampleBlock{name: fmt.Sprintf("%s:%d", rel, n)}
				}
				continue
			}
			if cur == nil {
				continue
			}
			if pending != "" {
				line = pending + " " + strings.TrimSpace(line)
				pending = ""
			}
			if cont, ok := strings.CutSuffix(line, `\`); ok {
				pending = cont
				continue
			}
			if reExampleStart.MatchString(line) {
				cur.lines = append(cur.lines, exampleLine{where: fmt.Sprintf("%s:%d", rel, n), text: line})
			}
		}
	}
	return blocks
}

// commandExamples returns the Example text of every command, one block each.
func commandExamples() []exampleBlock {
	var blocks []exampleBlock
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Example != "" {
			b := exampleBlock{name: "Example of '" + c.CommandPath() + "'"}
			for i, l := range strings.Split(c.Example, "\n") {
				b.lines = append(b.lines, exampleLine{where: fmt.Sprintf("%s, line %d", b.name, i+1), text: strings.TrimSpace(l)})
			}
			blocks = append(blocks, b)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(quietEnv()))
	return blocks
}

// shellWords splits one plain shell command line into its environment
// assignments and words: quotes, $VAR from vars and # comments are handled;
// pipes, redirections, lists and substitutions are refused (an example is
// one command).
func shellWords(line string, vars map[string]string) (assign, words []string, err error) {
	var (
		word    strings.Builder
		inWord  bool
		quote   rune
		runes   = []rune(line)
		varName = regexp.MustCompile(`^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)`)
	)
	flush := func() {
		if inWord {
			words = append(words, word.String())
		}
		word.Reset()
		inWord = false
	}
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case r == '$' && quote != '\'':
			m := varName.FindString(string(runes[i:]))
			if m == "" {
				return nil, nil, fmt.Errorf("unsupported $ at %d (only $VAR)", i)
			}
			name := strings.Trim(m[1:], "{}")
			v, ok := vars[name]
			if !ok {
				return nil, nil, fmt.Errorf("unknown variable $%s", name)
			}
			word.WriteString(v)
			inWord = true
			i += len([]rune(m)) - 1
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(runes) && strings.ContainsRune(`"\$`+"`", runes[i+1]):
				i++
				word.WriteRune(runes[i])
			default:
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			flush()
		case r == '#' && !inWord:
			i = len(runes) // a comment runs to the end of the line
		case strings.ContainsRune("|;&<>`()", r):
			return nil, nil, fmt.Errorf("%q is not one plain command (found %q)", line, r)
		case r == '\\' && i+1 < len(runes):
			i++
			word.WriteRune(runes[i])
			inWord = true
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, nil, fmt.Errorf("unterminated %c quote", quote)
	}
	flush()
	for len(words) > 0 && regexp.MustCompile(`^[A-Z][A-Z0-9_]*=`).MatchString(words[0]) {
		assign, words = append(assign, words[0]), words[1:]
	}
	return assign, words, nil
}

// exampleFixture is what the placeholders of the examples stand for: a dev
// data directory (DIR) with the demo clients, keys made two days ago (so a
// rotation is not too soon) and an account with a verified phone, and a
// production-style config file (FILE) naming the same storage.
type exampleFixture struct {
	dir, file   string
	sub, openid string
	adminURL    string // the admin API over this fixture's storage, once started
	// exampleVars are the shell variables examples may use ("$IDT").
	exampleVars map[string]string
}

const (
	examplePhone  = "+8613800138000"
	exampleOpenID = "openid-of-the-example"
	exampleSub    = "sub-of-the-example"
)

func newExampleFixture(t *testing.T) *exampleFixture {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errOut := runCLI(t, "migrate", "--data", dir); code != 0 {
		t.Fatalf("migrate --data: %d %s", code, errOut)
	}
	cfg, err := devConfig(dir, "127.0.0.1:8080", "127.0.0.1:8081", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := seedDev(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	s, err := app.OpenStorage(ctx, cfg.Storage, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cipher, err := app.Cipher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	twoDaysAgo := func() time.Time { return time.Now().Add(-48 * time.Hour) }
	km, err := keys.NewManager(app.KeysConfig(cfg, s, cipher, slog.New(slog.DiscardHandler), twoDaysAgo))
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Init(ctx); err != nil {
		t.Fatal(err)
	}
	_, acc, err := s.ResolveWeChatLogin(ctx, storage.WeChatLogin{AppID: devAppID, OpenID: exampleOpenID, NewAccountID: exampleSub, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	phoneHash := provider.PhoneHashFunc(app.PhoneIndexKey(cipher))
	if _, err := s.UpdateAccount(ctx, acc.ID, func(a storage.Account) (storage.Account, error) {
		a.PhoneEncrypted, a.PhoneHash, a.PhoneSource, a.PhoneVerifiedAt = []byte("sealed"), phoneHash(examplePhone), provider.PhoneSourceCode, time.Now()
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}

	// The account signed in through the browser once: a login session
	// linked to the demo mini-program client (CLIENT_ID), which it
	// consented to.
	if err := s.CreateLoginSession(ctx, storage.LoginSession{
		ID: "example-login-session", AccountID: acc.ID, AuthTime: time.Now(), AMR: []string{"wechat"}, AppID: devAppID,
		CreatedAt: time.Now(), LastSeenAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddLoginSessionClient(ctx, "example-login-session", devMiniProgram); err != nil {
		t.Fatal(err)
	}
	if err := s.PutConsent(ctx, storage.Consent{AccountID: acc.ID, ClientID: devMiniProgram, Scopes: []string{provider.ScopeOpenID}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	// FILE: the same instance, configured the production way.
	for name, v := range map[string]string{"admin-token": "example-admin-token-0123456789abcdef", "app-secret": devAppSecret} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	abs, _ := filepath.Abs(dir)
	yaml := fmt.Sprintf(`issuer: http://127.0.0.1:8080
http:
  addr: 127.0.0.1:8080
admin:
  addr: 127.0.0.1:8081
  tokens:
    - name: ops
      token: {file: %[1]s/admin-token}
storage:
  dsn: sqlite://%[1]s/wxoidc.db
secrets:
  kek: {file: %[1]s/kek}
wechat:
  base_url: http://127.0.0.1:8080/wechat-emulator
  fallback_base_urls: []
  apps:
    - appid: %[2]s
      secret: {file: %[1]s/app-secret}
keys:
  reload_interval: 2s
  jwks_max_age: 2s
`, abs, devAppID)
	file := filepath.Join(abs, "wxoidc.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return &exampleFixture{
		dir: dir, file: file, sub: acc.ID, openid: exampleOpenID,
		exampleVars: map[string]string{"IDT": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "HOME": t.TempDir()},
	}
}

// kid names a key the next revocation example can revoke: a retired key, or
// else a next one, not revoked yet. Not one whose kid starts with '-': that
// one would need '--' before it, as the revoke help says (TestDashKID).
func (f *exampleFixture) kid(t *testing.T) string {
	t.Helper()
	code, out, errOut := runCLI(t, "keys", "list", "--data", f.dir, "--json")
	if code != 0 {
		t.Fatalf("keys list: %d %s", code, errOut)
	}
	var ks []cliKey
	if err := json.Unmarshal([]byte(out), &ks); err != nil {
		t.Fatal(err)
	}
	for _, state := range []string{"retired", "next"} {
		for _, k := range ks {
			if k.State == state && !strings.HasPrefix(k.KID, "-") {
				return k.KID
			}
		}
	}
	t.Fatalf("no key left to revoke: %+v", ks)
	return ""
}

// substitute replaces the placeholders of the docs with the fixture's values,
// as whole words or as the value of --flag=PLACEHOLDER.
func (f *exampleFixture) substitute(t *testing.T, words []string) []string {
	t.Helper()
	values := map[string]func() string{
		"DIR":                     func() string { return f.dir },
		"FILE":                    func() string { return f.file },
		"/etc/wxoidc/config.yaml": func() string { return f.file },
		"SUB":                     func() string { return f.sub },
		"OPENID":                  func() string { return f.openid },
		"APPID":                   func() string { return devAppID },
		"ID":                      func() string { return devBackend },
		"CLIENT_ID":               func() string { return devMiniProgram },
		"KID":                     func() string { return f.kid(t) },
		exampleAdminURL:           func() string { return f.adminAPI(t) },
		"TOKEN_FILE":              func() string { return filepath.Join(f.dir, "admin-token") },
	}
	out := slices.Clone(words)
	for i, w := range out {
		name, val, isFlag := strings.Cut(w, "=")
		if isFlag && strings.HasPrefix(name, "--") {
			if v, ok := values[val]; ok {
				out[i] = name + "=" + v()
			}
			continue
		}
		if v, ok := values[w]; ok {
			out[i] = v()
		}
	}
	return out
}

// exampleAdminURL is the dev-mode admin listener the docs' API-client
// examples name; the harness serves the real admin API there instead.
const exampleAdminURL = "http://127.0.0.1:8081"

// adminAPI serves the admin API over the fixture's storage, accepting the
// dev token and the FILE config's token, and returns its URL.
func (f *exampleFixture) adminAPI(t *testing.T) string {
	t.Helper()
	if f.adminURL != "" {
		return f.adminURL
	}
	ctx := context.Background()
	cfg, err := devConfig(f.dir, "127.0.0.1:8080", "127.0.0.1:8081", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := app.OpenStorage(ctx, cfg.Storage, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cipher, err := app.Cipher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	svc, err := app.NewAdminService(app.AdminServiceConfig{Config: cfg, Store: s, Cipher: cipher, Auditor: admin.NewAuditor(s, log, nil), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	h, err := web.NewAdminHandler(web.AdminConfig{
		Tokens: []web.AdminToken{
			{Name: "dev", Token: devAdminToken},
			{Name: "ops", Token: "example-admin-token-0123456789abcdef"},
		},
		Service: svc, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.adminURL = srv.URL
	return f.adminURL
}

// parseOnly are the commands whose examples are checked without running
// them: dev and serve start servers; verify needs a live issuer (the dev
// walkthrough test runs it for real).
var parseOnly = []string{"dev", "serve", "verify"}

// runExample runs one example line, and fails the test unless it works.
func runExample(t *testing.T, f *exampleFixture, ex exampleLine) {
	t.Helper()
	assign, words, err := shellWords(ex.text, f.exampleVars)
	if err != nil {
		t.Errorf("%s: %v", ex.where, err)
		return
	}
	args, ok := cutBinary(words)
	if !ok {
		t.Errorf("%s: not a wxoidc command: %q", ex.where, ex.text)
		return
	}
	args = f.substitute(t, args)
	if len(args) > 0 && slices.Contains(parseOnly, args[0]) && !slices.Contains(args, "--help") && !slices.Contains(args, "-h") {
		if err := checkParses(t, f, args, assign); err != nil {
			t.Errorf("%s: %s\n  %v", ex.where, ex.text, err)
		}
		return
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), &cliEnv{stdout: &out, stderr: &errb, environ: assign}, args)
	if code != 0 {
		t.Errorf("%s: %s\n  ran as %q: exit %d\n%s%s", ex.where, ex.text, args, code, out.String(), errb.String())
	}
}

// cutBinary drops "wxoidc" or "go run ./cmd/wxoidc" from words.
func cutBinary(words []string) ([]string, bool) {
	switch {
	case len(words) >= 1 && words[0] == "wxoidc":
		return words[1:], true
	case len(words) >= 3 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/wxoidc":
		return words[3:], true
	}
	return nil, false
}

// checkParses parses a server command's line as run would, then builds the
// configuration it would serve with (file, WXOIDC_* variables, dev-mode
// rules), without listening.
func checkParses(t *testing.T, f *exampleFixture, args, environ []string) error {
	t.Helper()
	root := newRootCmd(quietEnv())
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return err
	}
	if cmd.PreRunE != nil {
		if err := cmd.PreRunE(cmd, cmd.Flags().Args()); err != nil {
			return err
		}
	}
	str := func(name string) string { v, _ := cmd.Flags().GetString(name); return v }
	switch cmd.Name() {
	case "serve":
		_, err = config.Load(str("config"), environ)
	case "dev":
		if path := str("config"); path != "" {
			_, err = devFileConfig(path, environ, cmd.Flags().Changed("addr"), str("addr"), cmd.Flags().Changed("admin-addr"), str("admin-addr"))
		} else {
			dir := str("data")
			if dir == "" {
				dir = t.TempDir()
			}
			_, err = devConfig(dir, str("addr"), str("admin-addr"), environ)
		}
	}
	return err
}

// TestDocExamples runs every CLI example of README.md and docs/*.md as
// written, placeholders filled in, each fenced block in order against a fresh
// fixture.
func TestDocExamples(t *testing.T) {
	blocks := docExamples(t)
	n := 0
	for _, b := range blocks {
		n += len(b.lines)
	}
	if n < 30 {
		t.Fatalf("found only %d CLI examples in the docs: %+v", n, blocks)
	}
	for _, b := range blocks {
		t.Run(b.name, func(t *testing.T) {
			f := newExampleFixture(t)
			for _, ex := range b.lines {
				runExample(t, f, ex)
			}
		})
	}
}

// TestCommandExamples runs every command's own examples (its --help and
// docs/cli/ show them), and wants one for every command users run.
func TestCommandExamples(t *testing.T) {
	blocks := commandExamples()
	has := map[string]bool{}
	for _, b := range blocks {
		has[b.name] = true
		t.Run(b.name, func(t *testing.T) {
			f := newExampleFixture(t)
			for _, ex := range b.lines {
				runExample(t, f, ex)
			}
		})
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.IsAvailableCommand() && !c.HasSubCommands() && c.Name() != "version" && c.Parent().Name() != "completion" {
			if !has["Example of '"+c.CommandPath()+"'"] {
				t.Errorf("%s has no Example", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(quietEnv()))
}

// The harness itself: what it refuses and what it fills in.
func TestShellWords(t *testing.T) {
	vars := map[string]string{"IDT": "tok"}
	for line, want := range map[string][]string{
		`wxoidc clients create --name "My mini-program" --id x   # comment`: {"wxoidc", "clients", "create", "--name", "My mini-program", "--id", "x"},
		`wxoidc verify --audience 'a b' "$IDT"`:                             {"wxoidc", "verify", "--audience", "a b", "tok"},
		`X_Y=0 wxoidc dev`:                                                  {"wxoidc", "dev"},
	} {
		_, got, err := shellWords(line, vars)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %q %v, want %q", line, got, err, want)
		}
	}
	for _, bad := range []string{
		`wxoidc clients list|show --config FILE`, `wxoidc keys list > out`, `wxoidc verify "$NOPE"`, `wxoidc x "open`,
	} {
		if _, _, err := shellWords(bad, vars); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if a, _, _ := shellWords(`A=1 B=x wxoidc dev`, nil); !slices.Equal(a, []string{"A=1", "B=x"}) {
		t.Errorf("assignments: %q", a)
	}
}

// A kid may start with '-' (base64url): after '--' it is an argument.
func TestDashKID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if code, _, errOut := runCLI(t, "migrate", "--data", dir); code != 0 {
		t.Fatalf("migrate: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "keys", "revoke", "--data", dir, "--", "-AbC"); code != 1 || !strings.Contains(errOut, `-AbC`) || !strings.Contains(errOut, "not found") {
		t.Errorf("revoke -- -AbC: exit %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "keys", "revoke", "--data", dir, "-AbC"); code != 2 {
		t.Errorf("revoke -AbC without --: exit %d, want 2 (a flag)", code)
	}
}
