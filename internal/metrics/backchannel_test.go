package metrics

import (
	"testing"

	"github.com/wxoidc/wxoidc/provider"
)

var _ provider.BackchannelObserver = (*Metrics)(nil)

func TestObserveBackchannelLogout(t *testing.T) {
	m := New(nil, nil)
	m.ObserveBackchannelLogout(provider.BackchannelDelivered)
	m.ObserveBackchannelLogout(provider.BackchannelDropped)
	m.ObserveBackchannelLogout(provider.BackchannelDropped)
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "wxoidc_backchannel_logouts_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			got[mt.GetLabel()[0].GetValue()] = mt.GetCounter().GetValue()
		}
	}
	if len(got) != 2 || got[provider.BackchannelDelivered] != 1 || got[provider.BackchannelDropped] != 2 {
		t.Errorf("wxoidc_backchannel_logouts_total = %v, want delivered 1, dropped 2", got)
	}
}
