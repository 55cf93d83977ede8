package config

import (
	"testing"
	"time"
)

func TestValidateLimits(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		key    string
		msg    string
	}{
		{"negative limit", func(c *Config) { c.Limits.TokenPerIP.Limit = -1 }, "limits.token_per_ip.limit", "must not be negative"},
		{"zero period", func(c *Config) { c.Limits.TokenPerClient.Per = D(0) }, "limits.token_per_client.per", "must be positive"},
		{"zero burst", func(c *Config) { c.Limits.WeChatPerApp.Burst = 0 }, "limits.wechat_per_app.burst", "at least 1"},
		{"phone cap burst", func(c *Config) { c.Limits.PhoneLookupsPerAccount.Burst = -3 }, "limits.phone_lookups_per_account.burst", "at least 1"},
		{"per user above WeChat's quota", func(c *Config) {
			c.Limits.WeChatPerUser = Rate{Limit: 90, Per: D(time.Minute), Burst: 10}
		}, "limits.wechat_per_user", "up to 100 calls per user per minute"},
		{"per user fast period", func(c *Config) {
			c.Limits.WeChatPerUser = Rate{Limit: 2, Per: D(time.Second), Burst: 1}
		}, "limits.wechat_per_user", "up to 121 calls"},
		{"max tracked keys", func(c *Config) { c.Limits.MaxTrackedKeys = 0 }, "limits.max_tracked_keys", "at least 1"},
		{"concurrency", func(c *Config) { c.Limits.WeChatMaxConcurrency = 0 }, "limits.wechat_max_concurrency", "at least 1"},
		{"queue timeout", func(c *Config) { c.Limits.WeChatQueueTimeout = D(0) }, "limits.wechat_queue_timeout", "must be positive"},
		{"breaker window", func(c *Config) { c.Limits.Breaker.Window = D(-time.Second) }, "limits.breaker.window", "must be positive"},
		{"breaker min requests", func(c *Config) { c.Limits.Breaker.MinRequests = 0 }, "limits.breaker.min_requests", "at least 1"},
		{"breaker percent zero", func(c *Config) { c.Limits.Breaker.FailurePercent = 0 }, "limits.breaker.failure_percent", "between 1 and 100"},
		{"breaker percent above 100", func(c *Config) { c.Limits.Breaker.FailurePercent = 101 }, "limits.breaker.failure_percent", "between 1 and 100"},
		{"breaker open for", func(c *Config) { c.Limits.Breaker.OpenFor = D(0) }, "limits.breaker.open_for", "must be positive"},
		{"breaker probes", func(c *Config) { c.Limits.Breaker.Probes = 0 }, "limits.breaker.probes", "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(c)
			problems := problemsOf(t, c.Validate())
			if !hasProblem(problems, tt.key, tt.msg) {
				t.Fatalf("no problem %s: …%s…; got %v", tt.key, tt.msg, problems)
			}
		})
	}
}

func TestValidateLimitsAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"defaults", func(*Config) {}},
		// A disabled limit needs neither period nor burst.
		{"disabled limits", func(c *Config) {
			c.Limits.TokenPerIP = Rate{}
			c.Limits.TokenPerClient = Rate{}
			c.Limits.WeChatPerUser = Rate{}
			c.Limits.WeChatPerApp = Rate{}
			c.Limits.PhoneLookupsPerAccount = Rate{}
		}},
		{"per user just below WeChat's quota", func(c *Config) {
			c.Limits.WeChatPerUser = Rate{Limit: 89, Per: D(time.Minute), Burst: 10}
		}},
		{"breaker at 100 percent", func(c *Config) { c.Limits.Breaker.FailurePercent = 100 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(c)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLimitsFromEnvironment(t *testing.T) {
	env := append(minimalEnviron(),
		"WXOIDC_LIMITS_TOKEN_PER_IP_LIMIT=0",
		"WXOIDC_LIMITS_WECHAT_PER_USER_PER=2m",
		"WXOIDC_LIMITS_BREAKER_FAILURE_PERCENT=75",
	)
	c, err := Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.TokenPerIP.Enabled() || c.Limits.WeChatPerUser.Per != D(2*time.Minute) || c.Limits.Breaker.FailurePercent != 75 {
		t.Fatalf("limits = %+v", c.Limits)
	}
	if !c.Limits.TokenPerClient.Enabled() {
		t.Error("an untouched limit lost its default")
	}
}
