package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSecretReveal(t *testing.T) {
	env := newEnvironment([]string{"S=from-env", "EMPTY=", "DUP=first", "DUP=second"})
	withEnv := func(s Secret) Secret { s.environ = env; return s }
	tests := []struct {
		name    string
		secret  Secret
		want    string
		wantErr string
	}{
		{"file, one newline trimmed", FileSecret(writeFile(t, "a", "value\n")), "value", ""},
		{"file, CRLF trimmed", FileSecret(writeFile(t, "b", "value\r\n")), "value", ""},
		{"file, only one newline trimmed", FileSecret(writeFile(t, "c", "value\n\n")), "value\n", ""},
		{"file, inner spaces kept", FileSecret(writeFile(t, "d", " v a l ")), " v a l ", ""},
		{"file missing", FileSecret("/nonexistent/secret"), "", "no such file"},
		{"file empty", FileSecret(writeFile(t, "e", "")), "", "is empty"},
		{"env", withEnv(EnvSecret("S")), "from-env", ""},
		{"env first occurrence wins", withEnv(EnvSecret("DUP")), "first", ""},
		{"env unset", withEnv(EnvSecret("NOPE")), "", "NOPE is not set"},
		{"env empty", withEnv(EnvSecret("EMPTY")), "", "EMPTY is empty"},
		{"inline", InlineSecret("inline-value"), "inline-value", ""},
		{"unset", Secret{}, "", "no source set"},
		{"two sources", Secret{file: "/x", env: "S"}, "", "more than one source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.secret.Reveal()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Reveal() error = %v, want …%s…", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Reveal() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestSecretRevealReadsAtCallTime checks that a rotated secret file is picked
// up without reloading the configuration.
func TestSecretRevealReadsAtCallTime(t *testing.T) {
	p := writeFile(t, "s", "old\n")
	s := FileSecret(p)
	if v, _ := s.Reveal(); v != "old" {
		t.Fatalf("Reveal() = %q", v)
	}
	writeFileAt(t, p, "new\n")
	if v, _ := s.Reveal(); v != "new" {
		t.Fatalf("after rewrite Reveal() = %q, want new", v)
	}
}

func TestSecretNeverPrintsValue(t *testing.T) {
	const value = "hunter2-not-for-logs"
	s := InlineSecret(value)
	holder := struct{ S Secret }{s}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "secret", s, "holder", holder)
	yml, err := yaml.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"String": s.String(), "%v": fmt.Sprintf("%v", s), "%+v": fmt.Sprintf("%+v", holder),
		"%#v": fmt.Sprintf("%#v", holder), "%s": fmt.Sprintf("%s", s), "%q": fmt.Sprintf("%q", s),
		"%x": fmt.Sprintf("%x", s), "slog": logged.String(), "yaml": string(yml),
	}
	for how, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
			t.Errorf("%s leaks the value: %s", how, out)
		}
		if !strings.Contains(out, "inline") && how != "yaml" {
			t.Errorf("%s does not name the source: %s", how, out)
		}
	}
	if want := "s:\n    value: REDACTED\n"; string(yml) != want {
		t.Errorf("yaml = %q, want %q", yml, want)
	}
	if got := FileSecret("/run/secrets/x").String(); got != "secret(file /run/secrets/x)" {
		t.Errorf("String() = %q", got)
	}
}

func TestSecretYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		source  string
		wantErr string
	}{
		{"file", "s: {file: /run/secrets/x}", "file /run/secrets/x", ""},
		{"env", "s:\n  env: APP_SECRET", "env APP_SECRET", ""},
		{"value parses (Validate rejects it)", "s: {value: v}", "inline", ""},
		{"empty mapping", "s: {}", "unset", ""},
		{"bare string rejected without echo", "s: hunter2", "", "must be a mapping"},
		{"list rejected", "s: [a]", "", "must be a mapping"},
		{"unknown field", "s: {path: /x}", "", `unknown secret field "path"`},
		{"non-scalar field", "s: {file: [a]}", "", `secret field "file" must be a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out struct{ S Secret }
			err := yaml.Unmarshal([]byte(tt.yaml), &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want …%s…", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error echoes the value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := out.S.Source(); got != tt.source {
				t.Fatalf("Source() = %q, want %q", got, tt.source)
			}
			// Marshal then unmarshal keeps the source (inline values are redacted).
			b, err := yaml.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			var back struct{ S Secret }
			if err := yaml.Unmarshal(b, &back); err != nil || back.S.Source() != tt.source {
				t.Fatalf("round trip: %q → %v, %v", b, back.S.Source(), err)
			}
		})
	}
}

func TestSecretFileSizeLimit(t *testing.T) {
	s := FileSecret(writeFile(t, "big", strings.Repeat("x", maxSecretFileSize+1)))
	if _, err := s.Reveal(); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Reveal() error = %v, want a size error", err)
	}
	s = FileSecret(writeFile(t, "max", strings.Repeat("x", maxSecretFileSize)))
	if v, err := s.Reveal(); err != nil || len(v) != maxSecretFileSize {
		t.Fatalf("Reveal() = %d bytes, %v", len(v), err)
	}
	if _, err := FileSecret("/dev/zero").Reveal(); err == nil {
		t.Fatal("Reveal(/dev/zero) succeeded")
	}
}
