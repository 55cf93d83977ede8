package config

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// envPrefix starts every configuration variable.
const envPrefix = "WXOIDC_"

// nonConfigEnv lists WXOIDC_* variables that are read elsewhere and are not
// configuration keys, so the typo check must not reject them.
var nonConfigEnv = []string{
	"WXOIDC_TEST_POSTGRES_DSN", // PostgreSQL tests (docs/contract.md §6)
	"WXOIDC_ADMIN_URL",         // the CLI's admin API client (docs/operations.md)
	"WXOIDC_ADMIN_TOKEN",       // its bearer token
}

// nonConfigEnvPrefix covers variables that tests of any package may read.
const nonConfigEnvPrefix = "WXOIDC_TEST_"

// binding ties one environment variable to one configuration leaf.
type binding struct {
	env   string // WXOIDC_TOKENS_REFRESH_TOKEN_GRACE
	key   string // tokens.refresh_token_grace
	index []int  // field index path from Config
	// part is "file", "env" or "value" for a leaf inside a Secret, else "".
	part string
}

var (
	secretType   = reflect.TypeFor[Secret]()
	durationType = reflect.TypeFor[Duration]()
)

// bindings lists every leaf of Config. A leaf is a scalar, a Duration, a
// []string (comma-separated in the environment), a slice of structs (a YAML
// flow value in the environment) or one source field of a Secret. It panics
// on a field type it cannot bind; TestEveryLeafHasAnEnvVariable catches that
// the moment such a field is added.
var bindings = sync.OnceValue(func() []binding {
	var out []binding
	var walk func(t reflect.Type, path []string, index []int)
	walk = func(t reflect.Type, path []string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			p := append(slices.Clone(path), name)
			idx := append(slices.Clone(index), i)
			switch {
			case f.Type == secretType:
				for _, part := range secretParts {
					pp := append(slices.Clone(p), part)
					out = append(out, binding{env: envName(pp), key: strings.Join(pp, "."), index: idx, part: part})
				}
			case f.Type == durationType || isScalar(f.Type.Kind()) ||
				f.Type.Kind() == reflect.Slice && (f.Type.Elem().Kind() == reflect.String || f.Type.Elem().Kind() == reflect.Struct):
				out = append(out, binding{env: envName(p), key: strings.Join(p, "."), index: idx})
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, p, idx)
			default:
				panic(fmt.Sprintf("config: cannot bind %s of type %s to an environment variable", strings.Join(p, "."), f.Type))
			}
		}
	}
	walk(reflect.TypeFor[Config](), nil, nil)
	return out
})

// bindingsByEnv indexes bindings by variable name.
var bindingsByEnv = sync.OnceValue(func() map[string]binding {
	m := make(map[string]binding)
	for _, b := range bindings() {
		if _, dup := m[b.env]; dup {
			panic("config: two keys map to environment variable " + b.env)
		}
		m[b.env] = b
	}
	return m
})

func isScalar(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64:
		return true
	}
	return false
}

// yamlName returns the YAML key of a field, or "" when it has none.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		panic("config: field " + f.Name + " has no yaml tag")
	}
	return name
}

func envName(path []string) string {
	return envPrefix + strings.ToUpper(strings.Join(path, "_"))
}

// applyEnv applies every WXOIDC_* variable that names a key and returns one
// problem per value that does not parse. Setting any source of a Secret
// (…_FILE, …_ENV, …_VALUE) replaces the Secret from the file as a whole, so
// WXOIDC_SECRETS_KEK_ENV overrides a kek: {file: …} instead of conflicting.
// …_VALUE=s means "this variable holds the secret" ({env: WXOIDC_…_VALUE}).
func applyEnv(c *Config, env *environment) []Problem {
	root := reflect.ValueOf(c).Elem()
	var (
		problems []Problem
		setBy    = map[string][]string{} // secret key → variables that set it
	)
	// Sorted so that problems come out in a stable order.
	names := make([]string, 0, len(env.vars))
	for name := range env.vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b, ok := bindingsByEnv()[name]
		if !ok {
			continue
		}
		v := env.vars[name]
		field := root.FieldByIndex(b.index)
		if b.part != "" {
			s := field.Addr().Interface().(*Secret)
			secretKey := strings.TrimSuffix(b.key, "."+b.part)
			if len(setBy[secretKey]) == 0 {
				*s = Secret{}
			}
			setBy[secretKey] = append(setBy[secretKey], name)
			if b.part == "value" {
				// The variable itself holds the secret: record it as an env
				// source naming that variable, so the value is still read from
				// the environment (and Validate's no-inline rule still holds
				// for YAML).
				s.env = name
			} else {
				s.setPart(b.part, v)
			}
			continue
		}
		if err := setFromString(field, v); err != nil {
			problems = append(problems, Problem{Key: name, Message: fmt.Sprintf("%v (overrides %s)", err, b.key)})
		}
	}
	for key, vars := range setBy {
		if len(vars) > 1 {
			problems = append(problems, Problem{Key: key, Message: "set by " + strings.Join(vars, " and ") + ": set only one"})
		}
	}
	sortProblems(problems)
	return problems
}

func sortProblems(p []Problem) {
	sort.SliceStable(p, func(i, j int) bool { return p[i].Key < p[j].Key })
}

// setFromString parses v into field according to the field's type.
func setFromString(field reflect.Value, v string) error {
	if field.Type() == durationType {
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		field.Set(reflect.ValueOf(d))
		return nil
	}
	switch field.Kind() {
	case reflect.String:
		field.SetString(v)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("invalid boolean %q (use true or false)", v)
		}
		field.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, field.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q", v)
		}
		field.SetInt(n)
	case reflect.Slice:
		if field.Type().Elem().Kind() == reflect.String {
			field.Set(reflect.ValueOf(splitList(v)))
			return nil
		}
		// A list of structs, written as YAML or JSON:
		// [{appid: wx123, secret: {env: WX123_SECRET}}]
		ptr := reflect.New(field.Type())
		if err := decodeFlow(v, ptr.Interface()); err != nil {
			return err
		}
		if ptr.Elem().IsNil() {
			ptr.Elem().Set(reflect.MakeSlice(field.Type(), 0, 0))
		}
		field.Set(ptr.Elem())
	default:
		// bindings() admits no other kind.
		return fmt.Errorf("unsupported type %s", field.Type())
	}
	return nil
}

func decodeFlow(v string, out any) error {
	dec := yaml.NewDecoder(strings.NewReader(v))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("invalid YAML/JSON list: %w", err)
	}
	return nil
}

// splitList splits a comma-separated value, dropping blanks, so "" is the
// empty list and "RS256, ES256" is two items.
func splitList(v string) []string {
	out := []string{}
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// bindSecrets points every Secret in c at env, so env sources resolve against
// the environment Load was given rather than the process environment.
func bindSecrets(c *Config, env *environment) {
	eachSecret(c, func(_ string, s *Secret) { s.environ = env })
}

// eachSecret calls fn for every Secret in c, including those inside lists,
// with its key (e.g. wechat.apps[1].secret).
func eachSecret(c *Config, fn func(key string, s *Secret)) {
	var walk func(v reflect.Value, key string)
	walk = func(v reflect.Value, key string) {
		switch {
		case v.Type() == secretType:
			fn(key, v.Addr().Interface().(*Secret))
		case v.Type() == durationType:
		case v.Kind() == reflect.Struct:
			for i := range v.NumField() {
				f := v.Type().Field(i)
				name := yamlName(f)
				if name == "" {
					continue
				}
				k := name
				if key != "" {
					k = key + "." + name
				}
				walk(v.Field(i), k)
			}
		case v.Kind() == reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", key, i))
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
}

// unknownEnv reports WXOIDC_* variables that name no key, so that a typo such
// as WXOIDC_STORAGE_DNS fails loudly instead of leaving the default in place.
// Variables that a secret reads ({env: WXOIDC_APP_SECRET}) and the
// nonConfigEnv list are exempt.
func unknownEnv(c *Config, env *environment) []Problem {
	referenced := map[string]bool{}
	eachSecret(c, func(_ string, s *Secret) {
		if s.env != "" {
			referenced[s.env] = true
		}
	})
	var problems []Problem
	for name := range env.vars {
		if !strings.HasPrefix(name, envPrefix) || referenced[name] || slices.Contains(nonConfigEnv, name) ||
			strings.HasPrefix(name, nonConfigEnvPrefix) {
			continue
		}
		if _, ok := bindingsByEnv()[name]; ok {
			continue
		}
		msg := "unknown variable: no configuration key has this name"
		if s := closestEnvName(name); s != "" {
			msg += "; did you mean " + s + "?"
		}
		problems = append(problems, Problem{Key: name, Message: msg})
	}
	sortProblems(problems)
	return problems
}

// closestEnvName suggests the known variable nearest to name, if one is close.
func closestEnvName(name string) string {
	best, bestDist := "", 4 // suggest only within 3 edits
	for _, b := range bindings() {
		if d := editDistance(name, b.env); d < bestDist || (d == bestDist && b.env < best) {
			best, bestDist = b.env, d
		}
	}
	// A missing _FILE/_ENV suffix is the commonest mistake with secrets.
	if best == "" {
		if _, ok := bindingsByEnv()[name+"_FILE"]; ok {
			best = name + "_FILE or " + name + "_ENV"
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
