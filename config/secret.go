package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Secret is a credential (WeChat app secret, key-encryption key, admin token)
// that the config names but does not hold: its value lives in a file or an
// environment variable and is read by Reveal when needed. The YAML form is
// {file: /run/secrets/x} or {env: SOME_VARIABLE}. An inline {value: ...} parses,
// but Validate rejects it unless Config.AllowInlineSecrets is set (dev mode,
// which builds its config in code), so production secrets never sit in a file
// that is copied around, diffed and backed up with the rest of the config.
//
// String, Format, GoString, MarshalYAML and LogValue name the source only; the
// value cannot leak through logging or printing the config.
type Secret struct {
	file  string
	env   string
	value string
	// environ resolves env sources. Load points it at the environment it was
	// given, so tests never touch the process environment; nil means os.LookupEnv.
	environ *environment
}

// FileSecret returns a Secret read from path.
func FileSecret(path string) Secret { return Secret{file: path} }

// EnvSecret returns a Secret read from the environment variable name.
func EnvSecret(name string) Secret { return Secret{env: name} }

// InlineSecret returns a Secret holding value itself. Validate accepts it only
// when Config.AllowInlineSecrets is set.
func InlineSecret(value string) Secret { return Secret{value: value} }

// IsZero reports whether no source is set.
func (s Secret) IsZero() bool { return s.file == "" && s.env == "" && s.value == "" }

// Inline reports whether the secret is held inline.
func (s Secret) Inline() bool { return s.value != "" }

// Source describes where the value comes from, without the value:
// "file /run/secrets/x", "env NAME", "inline" or "unset".
func (s Secret) Source() string {
	var parts []string
	if s.file != "" {
		parts = append(parts, "file "+s.file)
	}
	if s.env != "" {
		parts = append(parts, "env "+s.env)
	}
	if s.value != "" {
		parts = append(parts, "inline")
	}
	if len(parts) == 0 {
		return "unset"
	}
	return strings.Join(parts, ", ")
}

// Reveal returns the secret's value, reading the file (one trailing newline
// trimmed, as editors and `echo` add one) or the environment at call time. An
// empty value is an error: an empty credential is always a mistake.
func (s Secret) Reveal() (string, error) {
	if err := s.checkOneSource(); err != nil {
		return "", err
	}
	switch {
	case s.file != "":
		b, err := readLimited(s.file, maxSecretFileSize)
		if err != nil {
			return "", err
		}
		v := trimOneNewline(string(b))
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", s.file)
		}
		return v, nil
	case s.env != "":
		v, ok := s.environ.lookup(s.env)
		if !ok {
			return "", fmt.Errorf("secret environment variable %s is not set", s.env)
		}
		if v == "" {
			return "", fmt.Errorf("secret environment variable %s is empty", s.env)
		}
		return v, nil
	default:
		return s.value, nil
	}
}

// maxSecretFileSize bounds what Reveal reads, so a mistaken path such as
// /dev/zero or a large file fails fast instead of exhausting memory.
const maxSecretFileSize = 64 << 10

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		// The path is not secret; the *PathError names it.
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("secret file %s is larger than %d bytes", path, limit)
	}
	return b, nil
}

var errNoSecretSource = errors.New("no source set: use {file: PATH} or {env: VARIABLE}")

func (s Secret) checkOneSource() error {
	n := 0
	for _, v := range []string{s.file, s.env, s.value} {
		if v != "" {
			n++
		}
	}
	switch n {
	case 0:
		return errNoSecretSource
	case 1:
		return nil
	default:
		return fmt.Errorf("more than one source set (%s): set exactly one of file, env", s.Source())
	}
}

func trimOneNewline(v string) string {
	if strings.HasSuffix(v, "\r\n") {
		return v[:len(v)-2]
	}
	return strings.TrimSuffix(v, "\n")
}

// String names the source, never the value.
func (s Secret) String() string { return "secret(" + s.Source() + ")" }

// GoString keeps %#v from printing the unexported value field.
func (s Secret) GoString() string { return s.String() }

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, %x) print String, so the
// value cannot leak through a struct that embeds a Secret being printed.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML writes the source; an inline value is written redacted.
func (s Secret) MarshalYAML() (any, error) {
	m := map[string]string{}
	if s.file != "" {
		m["file"] = s.file
	}
	if s.env != "" {
		m["env"] = s.env
	}
	if s.value != "" {
		m["value"] = "REDACTED"
	}
	return m, nil
}

// UnmarshalYAML accepts a mapping with file, env or value keys. A bare string
// is rejected with a message that says how to write a secret, without echoing
// the string (it is likely the secret itself).
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a secret must be a mapping {file: PATH} or {env: VARIABLE}, not an inline value", n.Line)
	}
	var out Secret
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: secret field %q must be a string", v.Line, k.Value)
		}
		switch k.Value {
		case "file":
			out.file = v.Value
		case "env":
			out.env = v.Value
		case "value":
			out.value = v.Value
		default:
			return fmt.Errorf("line %d: unknown secret field %q (want file or env)", k.Line, k.Value)
		}
	}
	*s = out
	return nil
}

// setPart sets one source field by its YAML key.
func (s *Secret) setPart(part, v string) {
	switch part {
	case "file":
		s.file = v
	case "env":
		s.env = v
	case "value":
		s.value = v
	}
}

// secretParts are the YAML keys of a Secret, in the order they are documented.
var secretParts = []string{"file", "env", "value"}

// environment is the snapshot of variables passed to Load.
type environment struct {
	vars map[string]string
}

func newEnvironment(environ []string) *environment {
	e := &environment{vars: make(map[string]string, len(environ))}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		// The first occurrence wins, as in os.Getenv.
		if _, dup := e.vars[k]; !dup {
			e.vars[k] = v
		}
	}
	return e
}

func (e *environment) lookup(name string) (string, bool) {
	if e == nil {
		return os.LookupEnv(name)
	}
	v, ok := e.vars[name]
	return v, ok
}
