package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const unitFile = "systemd/wxoidc.service"

// The unit passes `systemd-analyze verify`. The check needs ExecStart's
// binary to exist, so it runs on a copy whose ExecStart names this test's
// own executable, with the same arguments.
func TestSystemdUnitVerifies(t *testing.T) {
	raw, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	const binary = "ExecStart=/usr/local/bin/wxoidc serve --config /etc/wxoidc/config.yaml"
	if !bytes.Contains(raw, []byte(binary+"\n")) {
		t.Fatalf("%s: no %q line", unitFile, binary)
	}
	analyze := systemdAnalyze(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(t.TempDir(), "wxoidc.service")
	unit := strings.Replace(string(raw), "ExecStart=/usr/local/bin/wxoidc ", "ExecStart="+self+" ", 1)
	if err := os.WriteFile(copied, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := verifyUnit(analyze, copied)
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Unknown keys and bad values are warnings, not failures, to systemd:
	// anything it says about our unit is a failure here.
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, "wxoidc.service") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}

// A unit with a misspelt key fails the same check, so the test above can
// fail.
func TestSystemdVerifyCatchesMistakes(t *testing.T) {
	analyze := systemdAnalyze(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "wxoidc.service")
	unit := "[Service]\nExecStart=" + self + "\nProtectSystm=strict\n"
	if err := os.WriteFile(bad, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := verifyUnit(analyze, bad)
	if !strings.Contains(out, "wxoidc.service") || !strings.Contains(out, "ProtectSystm") {
		t.Errorf("systemd-analyze verify says nothing of the misspelt key:\n%s", out)
	}
}

// verifyUnit runs `systemd-analyze verify` on path, off the machine's
// manager (--man=no: the Documentation= pages are not looked up).
func verifyUnit(analyze, path string) (string, error) {
	cmd := exec.Command(analyze, "verify", "--man=no", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// systemdAnalyze finds systemd-analyze. Without it the test is skipped,
// except under CI=true, where it fails: .ci/run installs it.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no systemd-analyze in PATH (apt-get install systemd): %v", err)
		}
		t.Skipf("systemd-analyze is not installed (Debian: apt-get install systemd); the unit is not verified: %v", err)
	}
	return analyze
}
