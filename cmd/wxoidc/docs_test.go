package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/cli/ from the commands (TestCLIReference)")

// referenceDir is docs/cli/, from this package's directory.
var referenceDir = filepath.Join("..", "..", "docs", "cli")

func quietEnv() *cliEnv { return &cliEnv{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}} }

// TestCLIReference fails when docs/cli/ is not what the commands generate.
func TestCLIReference(t *testing.T) {
	if *update {
		if err := writeReference(newRootCmd(quietEnv()), referenceDir); err != nil {
			t.Fatal(err)
		}
	}
	fresh := t.TempDir()
	// Through the hidden command itself: what a maintainer runs.
	if code, _, errOut := runCLI(t, "gen-docs", fresh); code != 0 {
		t.Fatalf("gen-docs: exit %d: %s", code, errOut)
	}
	want := readPages(t, fresh)
	got := readPages(t, referenceDir)
	if len(want) < 10 {
		t.Fatalf("gen-docs wrote only %d pages", len(want))
	}
	const howto = "regenerate it: go run ./cmd/wxoidc gen-docs docs/cli (or go test ./cmd/wxoidc -run TestCLIReference -update)"
	for name, page := range want {
		switch old, ok := got[name]; {
		case !ok:
			t.Errorf("docs/cli/%s is missing; %s", name, howto)
		case old != page:
			t.Errorf("docs/cli/%s is stale; %s\n--- generated:\n%s", name, howto, page)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("docs/cli/%s documents no command; %s", name, howto)
		}
	}
	// Deterministic: no date footer, and every command has a page.
	for name, page := range want {
		if strings.Contains(page, "Auto generated") {
			t.Errorf("%s has the dated footer", name)
		}
	}
	for _, page := range []string{"wxoidc.md", "wxoidc_keys_revoke.md", "wxoidc_clients_show.md", "wxoidc_completion_bash.md", "wxoidc_dev.md"} {
		if _, ok := want[page]; !ok {
			t.Errorf("no page %s in %v", page, keysOf(want))
		}
	}
	if strings.Contains(want["wxoidc.md"], "gen-docs") {
		t.Error("the hidden gen-docs command is documented")
	}
}

func readPages(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pages[filepath.Base(f)] = string(raw)
	}
	return pages
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
