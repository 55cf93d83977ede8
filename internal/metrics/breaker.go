package metrics

import "github.com/prometheus/client_golang/prometheus"

// breakerStates are the states a breaker reports (internal/breaker's
// State): every one is exported, 1 for the current state and 0 for the
// others, so that a query or alert never has to tell "absent" from "not in
// this state".
var breakerStates = []string{"closed", "open", "half-open"}

var breakerStateDesc = prometheus.NewDesc("wxoidc_wechat_breaker_state",
	`State of the WeChat circuit breaker: 1 for the current state (closed, open or half-open), 0 for the others.`,
	[]string{"state"}, nil)

// ObserveBreaker registers the WeChat breaker's state gauge, read from state
// at scrape time (provider.Upstream.BreakerState). Call it once.
func (m *Metrics) ObserveBreaker(state func() string) {
	m.reg.MustRegister(breakerCollector(state))
}

// breakerCollector reads the state once per scrape, so the three series
// always agree.
type breakerCollector func() string

func (c breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- breakerStateDesc }

func (c breakerCollector) Collect(ch chan<- prometheus.Metric) {
	current := c()
	for _, s := range breakerStates {
		v := 0.0
		if s == current {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(breakerStateDesc, prometheus.GaugeValue, v, s)
	}
}
