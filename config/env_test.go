package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/keys"
)

// leaf is one configuration key found by walking the Config type in this
// test, independently of the package's own bindings.
type leaf struct {
	path  []string // YAML path, e.g. [tokens refresh_token_grace]
	index []int    // field index path
	part  string   // Secret source field, or ""
}

func walkLeaves(t reflect.Type, path []string, index []int, out *[]leaf) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || tag == "-" {
			continue
		}
		p := append(slices.Clone(path), tag)
		idx := append(slices.Clone(index), i)
		switch {
		case f.Type == reflect.TypeFor[Secret]():
			for _, part := range []string{"file", "env", "value"} {
				*out = append(*out, leaf{path: append(slices.Clone(p), part), index: idx, part: part})
			}
		case f.Type == reflect.TypeFor[Duration]() || f.Type.Kind() != reflect.Struct:
			*out = append(*out, leaf{path: p, index: idx})
		default:
			walkLeaves(f.Type, p, idx, out)
		}
	}
}

// leafValue returns the leaf's value in c as something comparable.
func leafValue(c *Config, l leaf) any {
	v := reflect.ValueOf(c).Elem().FieldByIndex(l.index)
	if l.part != "" {
		return v.Interface().(Secret).Source()
	}
	return v.Interface()
}

// TestEveryLeafHasAnEnvVariable walks Config and checks that each leaf has
// the WXOIDC_ variable the naming rule gives it, and that setting that
// variable changes exactly that leaf.
func TestEveryLeafHasAnEnvVariable(t *testing.T) {
	var leaves []leaf
	walkLeaves(reflect.TypeFor[Config](), nil, nil, &leaves)
	if len(leaves) != len(bindings()) {
		t.Errorf("Config has %d leaves, bindings has %d", len(leaves), len(bindings()))
	}
	for _, l := range leaves {
		name := "WXOIDC_" + strings.ToUpper(strings.Join(l.path, "_"))
		t.Run(name, func(t *testing.T) {
			b, ok := bindingsByEnv()[name]
			if !ok {
				t.Fatalf("no environment variable %s for %s", name, strings.Join(l.path, "."))
			}
			if want := strings.Join(l.path, "."); b.key != want {
				t.Errorf("binding key = %q, want %q", b.key, want)
			}
			def := Default()
			value := changedValue(t, leafValue(def, l))
			c := Default()
			if p := applyEnv(c, newEnvironment([]string{name + "=" + value})); len(p) > 0 {
				t.Fatalf("applyEnv(%s=%s): %v", name, value, p)
			}
			if reflect.DeepEqual(leafValue(c, l), leafValue(def, l)) {
				t.Fatalf("%s=%s did not change %s (still %v)", name, value, b.key, leafValue(c, l))
			}
			// Nothing else may change.
			for _, other := range leaves {
				if other.part == "" && !slices.Equal(other.index, l.index) &&
					!reflect.DeepEqual(leafValue(c, other), leafValue(def, other)) {
					t.Errorf("%s also changed %s", name, strings.Join(other.path, "."))
				}
			}
		})
	}
}

// changedValue returns environment text that differs from the default cur.
func changedValue(t *testing.T, cur any) string {
	switch v := cur.(type) {
	case string:
		return "changed-" + v
	case bool:
		if v {
			return "false"
		}
		return "true"
	case int, int64:
		return "12345"
	case Duration:
		return "1234s"
	case []string:
		return "x,y"
	case []AdminToken:
		return "[{name: a, token: {env: T}}]"
	case []WeChatApp:
		return `[{"appid": "wx1", "secret": {"file": "/s"}}]`
	}
	t.Fatalf("changedValue: add a case for %T", cur)
	return ""
}

func TestEnvNamesFromTheIssue(t *testing.T) {
	for _, name := range []string{
		"WXOIDC_ISSUER", "WXOIDC_STORAGE_DSN", "WXOIDC_HTTP_ADDR", "WXOIDC_KEYS_RELOAD_INTERVAL",
		"WXOIDC_TOKENS_REFRESH_TOKEN_GRACE", "WXOIDC_KEYS_ALGORITHMS", "WXOIDC_WECHAT_APPS",
		"WXOIDC_SECRETS_KEK_FILE", "WXOIDC_SECRETS_KEK_ENV",
	} {
		if _, ok := bindingsByEnv()[name]; !ok {
			t.Errorf("%s is not a configuration variable", name)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	kekFile := writeFile(t, "kek", testKEK+"\n")
	base := []string{
		"WXOIDC_ISSUER=https://env.example.com/",
		"WXOIDC_SECRETS_KEK_FILE=" + kekFile,
		"WXOIDC_ADMIN_ADDR=",
		"APP_SECRET=s3",
	}
	yamlFile := writeFile(t, "c.yaml", `
issuer: https://file.example.com
http:
  addr: ":9000"
secrets:
  kek: {env: SOMETHING_ELSE}
keys:
  algorithms: [RS256]
  access_token_algorithm: RS256
`)
	tests := []struct {
		name  string
		env   []string
		check func(t *testing.T, c *Config)
	}{
		{"env wins over file, normalised", nil, func(t *testing.T, c *Config) {
			want(t, "issuer", c.Issuer, "https://env.example.com")
			want(t, "default audience", c.Accounts.DefaultAudience, "https://env.example.com")
			want(t, "http.addr from file", c.HTTP.Addr, ":9000")
			want(t, "admin disabled by empty variable", c.Admin.Addr, "")
		}},
		{"secret source replaced as a whole", nil, func(t *testing.T, c *Config) {
			want(t, "kek source", c.Secrets.KEK.Source(), "file "+kekFile)
		}},
		{"durations", []string{"WXOIDC_TOKENS_REFRESH_TOKEN_GRACE=90s", "WXOIDC_KEYS_RELOAD_INTERVAL=10s"}, func(t *testing.T, c *Config) {
			want(t, "grace", c.Tokens.RefreshTokenGrace, D(90*time.Second))
			want(t, "jwks max age follows reload interval", c.Keys.JWKSMaxAge, D(10*time.Second))
		}},
		{"comma lists", []string{"WXOIDC_KEYS_ALGORITHMS= RS256, ES256 ,", "WXOIDC_HTTP_TRUSTED_PROXIES=10.0.0.0/8,192.168.0.0/16"}, func(t *testing.T, c *Config) {
			want(t, "algorithms", c.Keys.Algorithms, []string{keys.RS256, keys.ES256})
			want(t, "proxies", c.HTTP.TrustedProxies, []string{"10.0.0.0/8", "192.168.0.0/16"})
		}},
		{"empty list", []string{"WXOIDC_WECHAT_FALLBACK_BASE_URLS="}, func(t *testing.T, c *Config) {
			want(t, "fallbacks", c.WeChat.FallbackBaseURLs, []string{})
		}},
		{"ints and bools", []string{"WXOIDC_STORAGE_POSTGRES_MAX_CONNS=25", "WXOIDC_HTTP_MAX_BODY_BYTES=1048576", "WXOIDC_STORAGE_MIGRATE_ON_START=false"}, func(t *testing.T, c *Config) {
			want(t, "max conns", c.Storage.PostgresMaxConns, 25)
			want(t, "max body", c.HTTP.MaxBodyBytes, int64(1<<20))
			want(t, "migrate", c.Storage.MigrateOnStart, false)
		}},
		{"structured list as YAML flow", []string{"WXOIDC_WECHAT_APPS=[{appid: wx123, secret: {env: APP_SECRET}}, {appid: wx456, secret: {env: APP_SECRET}}]"}, func(t *testing.T, c *Config) {
			if len(c.WeChat.Apps) != 2 || c.WeChat.Apps[0].AppID != "wx123" || c.WeChat.Apps[1].AppID != "wx456" {
				t.Fatalf("apps = %v", c.WeChat.Apps)
			}
			v, err := c.WeChat.Apps[0].Secret.Reveal()
			want(t, "app secret from the given environ", v, "s3")
			want(t, "reveal error", err, error(nil))
		}},
		{"browser base url", []string{"WXOIDC_WECHAT_BROWSER_BASE_URL=http://127.0.0.1:9000/wechat-emulator/"}, func(t *testing.T, c *Config) {
			want(t, "browser base url, normalised", c.WeChat.BrowserBaseURL, "http://127.0.0.1:9000/wechat-emulator")
		}},
		{"app kinds and open platform in the list", []string{"WXOIDC_WECHAT_APPS=[{appid: wx1, secret: {env: APP_SECRET}}, {appid: wx2, secret: {env: APP_SECRET}, kind: Website, open_platform: op1}]"}, func(t *testing.T, c *Config) {
			want(t, "default kind", c.WeChat.Apps[0].Kind, WeChatKindMiniProgram)
			want(t, "kind, normalised", c.WeChat.Apps[1].Kind, WeChatKindWebsite)
			want(t, "open platform", c.WeChat.Apps[1].OpenPlatform, "op1")
		}},
		{"structured list as JSON", []string{`WXOIDC_WECHAT_APPS=[{"appid":"wx9","secret":{"env":"APP_SECRET"}}]`}, func(t *testing.T, c *Config) {
			want(t, "appid", c.WeChat.Apps[0].AppID, "wx9")
		}},
		{"secret variable with the WXOIDC_ prefix is not unknown", []string{
			"WXOIDC_WECHAT_APPS=[{appid: wx1, secret: {env: WXOIDC_APP_SECRET_WX1}}]", "WXOIDC_APP_SECRET_WX1=s",
		}, func(t *testing.T, c *Config) {
			want(t, "secret env", c.WeChat.Apps[0].Secret.Source(), "env WXOIDC_APP_SECRET_WX1")
		}},
		{"non-config variables are allowed", []string{"WXOIDC_TEST_POSTGRES_DSN=postgres://x", "WXOIDC_TEST_OTHER=1", "PATH=/bin"}, func(*testing.T, *Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(yamlFile, append(slices.Clone(base), tt.env...))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

// TestEnvSecretValue checks that …_VALUE holds the secret itself: it becomes
// an env source naming that variable, so it passes the no-inline rule.
func TestEnvSecretValue(t *testing.T) {
	c, err := Load("", []string{
		"WXOIDC_ISSUER=https://id.example.com", "WXOIDC_ADMIN_ADDR=",
		"WXOIDC_SECRETS_KEK_VALUE=" + testKEK,
	})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "kek source", c.Secrets.KEK.Source(), "env WXOIDC_SECRETS_KEK_VALUE")
	v, err := c.Secrets.KEK.Reveal()
	want(t, "kek", v, testKEK)
	want(t, "reveal error", err, error(nil))
}

func want[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestEnvErrors(t *testing.T) {
	environ := []string{
		"WXOIDC_ISSUER=https://id.example.com",
		"WXOIDC_ADMIN_ADDR=",
		"WXOIDC_SECRETS_KEK_ENV=KEK", "KEK=" + testKEK,
		"WXOIDC_HTTP_READ_TIMEOUT=30",                  // no unit
		"WXOIDC_STORAGE_POSTGRES_MAX_CONNS=ten",        // not a number
		"WXOIDC_STORAGE_MIGRATE_ON_START=yes please",   // not a bool
		"WXOIDC_WECHAT_APPS=[{appid: wx1, secrt: {}}]", // unknown field
		"WXOIDC_STORAGE_DNS=sqlite:///x.db",            // typo
		"WXOIDC_SECRETS_KEK=abc",                       // missing _FILE/_ENV
		"WXOIDC_NOTHING_LIKE_ANY_KEY_AT_ALL=1",
		"WXOIDC_LOG_LEVEL=chatty", // a validation problem, reported alongside
	}
	_, err := Load("", environ)
	problems := problemsOf(t, err)
	for _, w := range []struct{ key, msg string }{
		{"WXOIDC_HTTP_READ_TIMEOUT", `missing unit in duration "30"`},
		{"WXOIDC_HTTP_READ_TIMEOUT", "overrides http.read_timeout"},
		{"WXOIDC_STORAGE_POSTGRES_MAX_CONNS", `invalid integer "ten"`},
		{"WXOIDC_STORAGE_MIGRATE_ON_START", "invalid boolean"},
		{"WXOIDC_WECHAT_APPS", "secrt"},
		{"WXOIDC_STORAGE_DNS", "did you mean WXOIDC_STORAGE_DSN?"},
		{"WXOIDC_SECRETS_KEK", "did you mean WXOIDC_SECRETS_KEK_FILE or WXOIDC_SECRETS_KEK_ENV?"},
		{"WXOIDC_NOTHING_LIKE_ANY_KEY_AT_ALL", "unknown variable"},
		{"log.level", `got "chatty"`},
	} {
		if !hasProblem(problems, w.key, w.msg) {
			t.Errorf("missing problem %s: …%s…", w.key, w.msg)
		}
	}
	if len(problems) != 8 {
		t.Errorf("got %d problems, want 8:\n%v", len(problems), err)
	}
	if strings.Contains(err.Error(), "abc") {
		t.Errorf("unknown-variable problem echoes its value: %v", err)
	}
}

func TestSecretSubKeysTogetherConflict(t *testing.T) {
	_, err := Load("", []string{
		"WXOIDC_ISSUER=https://id.example.com", "WXOIDC_ADMIN_ADDR=",
		"WXOIDC_SECRETS_KEK_FILE=/run/secrets/kek", "WXOIDC_SECRETS_KEK_ENV=KEK",
	})
	problems := problemsOf(t, err)
	if len(problems) != 1 || !hasProblem(problems, "secrets.kek", "set by WXOIDC_SECRETS_KEK_ENV and WXOIDC_SECRETS_KEK_FILE: set only one") {
		t.Fatalf("want one two-sources problem, got %v", err)
	}
	_, err = Load("", []string{
		"WXOIDC_ISSUER=https://id.example.com", "WXOIDC_ADMIN_ADDR=",
		"WXOIDC_SECRETS_KEK_VALUE=" + testKEK, "WXOIDC_SECRETS_KEK_ENV=KEK", "KEK=" + testKEK,
	})
	if !hasProblem(problemsOf(t, err), "secrets.kek", "set only one") {
		t.Fatalf("_ENV with _VALUE: want a two-sources problem, got %v", err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"DSN", "DNS", 2}, {"kitten", "sitting", 3}, {"same", "same", 0}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
