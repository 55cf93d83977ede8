package metrics

import "github.com/prometheus/client_golang/prometheus"

func newBackchannelCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wxoidc_backchannel_logouts_total",
		Help: "Back-channel logout deliveries by outcome: delivered, failed (every attempt failed) or dropped (queue full, or shutting down).",
	}, []string{"outcome"})
}

// ObserveBackchannelLogout implements provider.BackchannelObserver. The
// outcomes are a fixed set (provider.Backchannel*), so no client label:
// the logs name the client.
func (m *Metrics) ObserveBackchannelLogout(outcome string) {
	m.backchannel.WithLabelValues(outcome).Inc()
}
