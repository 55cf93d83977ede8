package metrics

import (
	"testing"
)

func TestBreakerStateGauge(t *testing.T) {
	m := New(nil, nil)
	state := "closed"
	m.ObserveBreaker(func() string { return state })
	read := func() map[string]float64 {
		t.Helper()
		families, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != "wxoidc_wechat_breaker_state" {
				continue
			}
			got := map[string]float64{}
			for _, mt := range f.GetMetric() {
				for _, l := range mt.GetLabel() {
					if l.GetName() == "state" {
						got[l.GetValue()] = mt.GetGauge().GetValue()
					}
				}
			}
			return got
		}
		t.Fatal("wxoidc_wechat_breaker_state not registered")
		return nil
	}
	for _, tc := range []struct {
		state string
		want  map[string]float64
	}{
		{"closed", map[string]float64{"closed": 1, "open": 0, "half-open": 0}},
		{"open", map[string]float64{"closed": 0, "open": 1, "half-open": 0}},
		{"half-open", map[string]float64{"closed": 0, "open": 0, "half-open": 1}},
		// A state this package does not know (a future breaker state) is no
		// panic: every known state reads 0.
		{"tripped", map[string]float64{"closed": 0, "open": 0, "half-open": 0}},
	} {
		state = tc.state
		got := read()
		if len(got) != len(tc.want) {
			t.Errorf("%s: series %v, want %v", tc.state, got, tc.want)
			continue
		}
		for s, v := range tc.want {
			if got[s] != v {
				t.Errorf("%s: state=%q is %v, want %v", tc.state, s, got[s], v)
			}
		}
	}
}
