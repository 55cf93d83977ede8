package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as Go duration text ("30s", "1h", "720h")
// in YAML and in WXOIDC_* variables. Bare numbers are rejected: "30" could mean
// seconds or nanoseconds, and guessing wrong silently is worse than an error.
type Duration struct {
	time.Duration
}

// D is shorthand for building a Duration in code (tests, dev mode).
func D(d time.Duration) Duration { return Duration{d} }

// parseDuration parses Go duration text.
func parseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return Duration{}, fmt.Errorf("%w (write a number with a unit, e.g. 30s, 5m, 720h)", err)
	}
	return Duration{d}, nil
}

// String formats without trailing zero units: 10m rather than 10m0s.
func (d Duration) String() string { return formatDuration(d.Duration) }

// UnmarshalYAML accepts a scalar such as 30s or 720h.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: duration must be a scalar such as 30s", n.Line)
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes the short text form, so a marshalled config reloads unchanged.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func formatDuration(d time.Duration) string {
	s := d.String()
	// time.Duration.String gives 1h0m0s; drop zero trailing units, keeping "0s".
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
