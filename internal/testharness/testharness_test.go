package testharness_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

func TestEpoch(t *testing.T) {
	// Fixed and in UTC, so that a failing test replays with the same times.
	want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if !testharness.Epoch.Equal(want) || testharness.Epoch.Location() != time.UTC {
		t.Fatalf("Epoch = %v, want %v", testharness.Epoch, want)
	}
	if got := testharness.NewClock(testharness.Epoch).Now(); !got.Equal(want) {
		t.Errorf("NewClock(Epoch).Now() = %v", got)
	}
}

func TestBuffer(t *testing.T) {
	var b testharness.Buffer
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, _ = b.Write([]byte("x"))
			_ = b.String()
		})
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 10) {
		t.Errorf("String = %q", got)
	}
}

// fakeT records what Secrets.Check reports instead of failing the test.
type fakeT struct {
	testing.TB
	errors []string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func TestSecrets(t *testing.T) {
	var s testharness.Secrets
	var wg sync.WaitGroup
	for _, v := range []string{"app-secret-123", "", "code-456"} {
		wg.Go(func() { s.Add(v) })
	}
	wg.Wait()

	clean := &fakeT{}
	s.Check(clean, "logs", "level=INFO msg=ok appid=wx1")
	if len(clean.errors) != 0 {
		t.Errorf("clean output reported: %q (the empty value must not count)", clean.errors)
	}
	leaky := &fakeT{}
	s.Check(leaky, "error", "bad code code-456 for app-secret-123")
	if len(leaky.errors) != 2 {
		t.Fatalf("two leaked values, %d reports: %q", len(leaky.errors), leaky.errors)
	}
	for _, e := range leaky.errors {
		if !strings.HasPrefix(e, "error leak a secret value (") {
			t.Errorf("report %q does not name the output", e)
		}
	}
}

func TestJSONStringsEqual(t *testing.T) {
	var v map[string]any
	if err := json.Unmarshal([]byte(`{"aud":["a","b"],"one":"a","nums":[1],"empty":[]}`), &v); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		v    any
		want []string
		ok   bool
	}{
		{"same", v["aud"], []string{"a", "b"}, true},
		{"other order", v["aud"], []string{"b", "a"}, false},
		{"shorter", v["aud"], []string{"a"}, false},
		{"a string, not an array", v["one"], []string{"a"}, false},
		{"not strings", v["nums"], []string{"1"}, false},
		{"absent", v["missing"], nil, false},
		{"empty", v["empty"], nil, true},
	} {
		if got := testharness.JSONStringsEqual(tc.v, tc.want...); got != tc.ok {
			t.Errorf("%s: JSONStringsEqual(%v, %q) = %v", tc.name, tc.v, tc.want, got)
		}
	}
}

func TestFreeAddr(t *testing.T) {
	addr := testharness.FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("FreeAddr = %q", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the free address is not free: %v", err)
	}
	_ = l.Close()
}

func TestBuildWxoidc(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := testharness.BuildWxoidc(t)
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("built binary %s: %v", bin, err)
	}
}
