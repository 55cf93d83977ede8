package config

import (
	"reflect"
	"strings"
	"testing"
)

// ratesByReflection finds every Rate in c (a struct type Rate anywhere in
// the tree), by its YAML key.
func ratesByReflection(c *Config) map[string]*Rate {
	found := map[string]*Rate{}
	var walk func(v reflect.Value, key string)
	walk = func(v reflect.Value, key string) {
		if v.Kind() != reflect.Struct || v.Type() == durationType || v.Type() == secretType {
			return
		}
		if v.Type() == reflect.TypeOf(Rate{}) {
			found[key] = v.Addr().Interface().(*Rate)
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if name := yamlName(f); name != "" {
				k := name
				if key != "" {
					k = key + "." + name
				}
				walk(v.Field(i), k)
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return found
}

// eachRate must list every Rate of the configuration under its key, or a
// new limit would be neither validated nor switched off by DisableRates.
func TestEachRateListsEveryRate(t *testing.T) {
	c := Default()
	want := ratesByReflection(c)
	if len(want) == 0 {
		t.Fatal("no Rate found by reflection")
	}
	got := map[string]*Rate{}
	c.Limits.eachRate(func(key string, r *Rate) { got[key] = r })
	for key, r := range want {
		if got[key] != r {
			t.Errorf("eachRate does not list %s", key)
		}
	}
	for key := range got {
		if want[key] == nil {
			t.Errorf("eachRate lists %s, which is not a Rate of the configuration", key)
		}
	}
}

func TestDisableRates(t *testing.T) {
	c := Default()
	for key, r := range ratesByReflection(c) {
		if !r.Enabled() {
			t.Fatalf("%s is off by default; the test needs every limit on", key)
		}
	}
	before := *c
	c.Limits.DisableRates()
	for key, r := range ratesByReflection(c) {
		if r.Enabled() || r.Limit != 0 {
			t.Errorf("%s still limits after DisableRates: %+v", key, *r)
		}
	}
	// Only the limits change: the rest of Limits stays as it was.
	if c.Limits.MaxTrackedKeys != before.Limits.MaxTrackedKeys || c.Limits.Breaker != before.Limits.Breaker ||
		c.Limits.TokenPerIP.Burst != before.Limits.TokenPerIP.Burst {
		t.Errorf("DisableRates changed more than the limits: %+v", c.Limits)
	}
	// Default() lacks an issuer and secrets; no problem may be a limit's.
	if err := c.Validate(); err != nil && strings.Contains(err.Error(), "limits.") {
		t.Errorf("every limit off does not validate: %v", err)
	}
}

// Validation reaches every rate through eachRate.
func TestValidateChecksEveryRate(t *testing.T) {
	for key := range ratesByReflection(Default()) {
		c := Default()
		ratesByReflection(c)[key].Limit = -1
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), key+".limit") {
			t.Errorf("a negative %s.limit: %v, want an error naming it", key, err)
		}
	}
}
