package testharness

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// WxoidcPackage is the import path of the wxoidc command.
const WxoidcPackage = "github.com/wxoidc/wxoidc/cmd/wxoidc"

// BuildWxoidc builds the wxoidc binary into a directory of the test's and
// returns its path, for tests that run it as separate processes.
func BuildWxoidc(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build wxoidc: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "wxoidc")
	if out, err := exec.Command(goBin, "build", "-o", bin, WxoidcPackage).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", WxoidcPackage, err, out)
	}
	return bin
}
