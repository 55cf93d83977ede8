package importrules

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/wxoidc/wxoidc/"

// packages lists every package of the module with its non-test imports
// (what ships; tests may import more, e.g. a handler test its service).
func packages(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkgs[strings.TrimPrefix(f[0], module)] = f[1:]
	}
	if len(pkgs) < 15 {
		t.Fatalf("go list found only %d packages: %v", len(pkgs), pkgs)
	}
	return pkgs
}

// under reports whether pkg is dir or inside it.
func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// local is an import of this module, without the module prefix.
func local(imp string) (string, bool) { return strings.CutPrefix(imp, module) }

type rule struct {
	why string
	// applies selects the importing packages the rule is about.
	applies func(pkg string) bool
	// forbidden reports whether importing imp breaks the rule.
	forbidden func(imp string) bool
}

func localUnder(dirs ...string) func(string) bool {
	return func(imp string) bool {
		p, ok := local(imp)
		if !ok {
			return false
		}
		for _, d := range dirs {
			if under(p, d) {
				return true
			}
		}
		return false
	}
}

func prefixed(prefixes ...string) func(string) bool {
	return func(imp string) bool {
		for _, p := range prefixes {
			if imp == p || strings.HasPrefix(imp, p+"/") {
				return true
			}
		}
		return false
	}
}

func in(dirs ...string) func(string) bool {
	return func(pkg string) bool {
		for _, d := range dirs {
			if under(pkg, d) {
				return true
			}
		}
		return false
	}
}

func not(f func(string) bool) func(string) bool { return func(s string) bool { return !f(s) } }

var rules = []rule{
	{"nothing imports cmd but the binaries", not(in("cmd")), localUnder("cmd")},
	// web's own subpackages (web/internal/pages) are parts of web.
	{"nothing imports web but the binaries", not(in("cmd", "web")), localUnder("web")},
	{"web depends on what provider and admin expose, not on fosite", in("web"), prefixed("github.com/ory/fosite")},
	{"web never touches storage backends", in("web"), localUnder("storage/sqlite", "storage/postgres")},
	{"wechat knows nothing of OAuth or of storage", in("wechat"),
		func(imp string) bool {
			return localUnder("storage", "provider", "admin", "keys", "web", "config")(imp) || prefixed("github.com/ory/fosite")(imp)
		}},
	{"keys and storage know nothing of HTTP", in("keys", "storage"), prefixed("net/http")},
	{"storage knows nothing above it", in("storage"), localUnder("keys", "wechat", "provider", "admin", "web", "config", "internal")},
	{"provider knows nothing of SQL", in("provider"),
		func(imp string) bool {
			return prefixed("database/sql", "github.com/jackc/pgx/v5", "modernc.org/sqlite")(imp) || localUnder("storage/sqlite", "storage/postgres")(imp)
		}},
	{"provider does not depend on admin (admin uses provider's rules)", in("provider"), localUnder("admin")},
	{"admin knows nothing of HTTP or of the layers above it", in("admin"),
		func(imp string) bool { return prefixed("net/http")(imp) || localUnder("web", "cmd")(imp) }},
	{"only the wiring picks a storage backend", not(in("cmd", "storage", "admin/admintest")), localUnder("storage/sqlite", "storage/postgres")},
	// Dev mode runs the WeChat emulator inside the server: what it imports
	// ships, so the browser driver must stay in the tests' harness.
	{"only tests use the test harness and its browser driver", not(in("internal/testharness")),
		func(imp string) bool {
			return localUnder("internal/testharness")(imp) || prefixed("github.com/chromedp")(imp)
		}},
}

func TestImportArrows(t *testing.T) {
	pkgs := packages(t)
	for _, r := range rules {
		for pkg, imps := range pkgs {
			if !r.applies(pkg) {
				continue
			}
			for _, imp := range imps {
				if r.forbidden(imp) {
					t.Errorf("%s imports %s, but %s", pkg, imp, r.why)
				}
			}
		}
	}
}

// TestRulesCanFail checks each rule against a violation it exists to catch,
// so a typo in a rule cannot make the test pass vacuously.
func TestRulesCanFail(t *testing.T) {
	violations := map[string][2]string{
		"nothing imports cmd but the binaries":                            {"web", module + "cmd/wxoidc"},
		"nothing imports web but the binaries":                            {"provider", module + "web/internal/pages"},
		"web depends on what provider and admin expose, not on fosite":    {"web", "github.com/ory/fosite/handler/oauth2"},
		"web never touches storage backends":                              {"web", module + "storage/sqlite"},
		"wechat knows nothing of OAuth or of storage":                     {"wechat", module + "storage"},
		"keys and storage know nothing of HTTP":                           {"storage/sqlite", "net/http"},
		"storage knows nothing above it":                                  {"storage", module + "keys"},
		"provider knows nothing of SQL":                                   {"provider", "database/sql"},
		"provider does not depend on admin (admin uses provider's rules)": {"provider", module + "admin"},
		"admin knows nothing of HTTP or of the layers above it":           {"admin", "net/http"},
		"only the wiring picks a storage backend":                         {"provider", module + "storage/postgres"},
		"only tests use the test harness and its browser driver":          {"wechat/wechattest", module + "internal/testharness"},
	}
	// And what a rule must not catch: web using its own page renderer.
	for _, r := range rules {
		if r.applies("web") && r.forbidden(module+"web/internal/pages") {
			t.Errorf("rule %q forbids web to import web/internal/pages", r.why)
		}
	}
	for _, r := range rules {
		v, ok := violations[r.why]
		if !ok {
			t.Errorf("rule %q has no violation example", r.why)
			continue
		}
		if !r.applies(v[0]) || !r.forbidden(v[1]) {
			t.Errorf("rule %q does not catch %s importing %s", r.why, v[0], v[1])
		}
	}
}
