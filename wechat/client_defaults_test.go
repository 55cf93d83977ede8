package wechat

import (
	"strings"
	"testing"
	"time"
)

func TestOrDefault(t *testing.T) {
	if got, err := orDefault("X", time.Duration(0), time.Second); err != nil || got != time.Second {
		t.Errorf("zero: %v, %v; want the default", got, err)
	}
	if got, err := orDefault("X", int64(7), 1); err != nil || got != 7 {
		t.Errorf("set: %v, %v; want 7", got, err)
	}
	if _, err := orDefault("RetryBackoff", -time.Nanosecond, time.Second); err == nil || !strings.Contains(err.Error(), "RetryBackoff must not be negative") {
		t.Errorf("negative: %v, want an error naming the field", err)
	}
}

// NewClient applies the documented defaults to zero fields and keeps the
// values it is given.
func TestNewClientDefaults(t *testing.T) {
	c, err := NewClient(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.callTimeout != DefaultCallTimeout || c.maxBytes != DefaultMaxResponseBytes || c.backoff != DefaultRetryBackoff ||
		c.margin != DefaultTokenRefreshMargin {
		t.Errorf("defaults: timeout %v, max bytes %d, backoff %v, margin %v", c.callTimeout, c.maxBytes, c.backoff, c.margin)
	}
	c, err = NewClient(Config{CallTimeout: time.Second, MaxResponseBytes: 10, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if c.callTimeout != time.Second || c.maxBytes != 10 || c.backoff != time.Millisecond {
		t.Errorf("given: timeout %v, max bytes %d, backoff %v", c.callTimeout, c.maxBytes, c.backoff)
	}
}
