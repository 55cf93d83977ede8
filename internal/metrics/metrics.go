// Package metrics holds an instance's Prometheus metrics: HTTP requests per
// listener, tokens issued, WeChat calls, signing-key changes and gauges, and
// audit events that could not be stored.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

// Metrics holds the instance's Prometheus metrics on a private registry
// (never the global one: two instances in one process, as in tests, must
// not share counters). It implements web.RequestObserver (per listener, see
// Listener), provider.TokenObserver and wechat.CallObserver.
type Metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	requestLatency *prometheus.HistogramVec
	tokens         *prometheus.CounterVec
	wechatCalls    *prometheus.CounterVec
	wechatLatency  *prometheus.HistogramVec
	keyChanges     *prometheus.CounterVec
	auditFailures  prometheus.Counter
	backchannel    *prometheus.CounterVec
}

// New registers every metric, the Go runtime and process collectors,
// and, when km is set, the signing-key gauges computed at scrape time.
func New(km *keys.Manager, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxoidc_http_requests_total",
			Help: "HTTP requests by listener (public, admin), route pattern and status code.",
		}, []string{"listener", "route", "status"}),
		requestLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wxoidc_http_request_duration_seconds",
			Help:    "HTTP request latency by listener and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"listener", "route"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxoidc_tokens_issued_total",
			Help: "Successful token responses by grant type and client.",
		}, []string{"grant_type", "client_id"}),
		wechatCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxoidc_wechat_calls_total",
			Help: `WeChat API attempts by API and outcome: the errcode ("0" is success) or "transport".`,
		}, []string{"api", "outcome"}),
		wechatLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wxoidc_wechat_call_duration_seconds",
			Help:    "WeChat API attempt latency by API.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"api"}),
		keyChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxoidc_signing_key_changes_total",
			Help: "Signing-key state changes committed by this instance, by event and algorithm.",
		}, []string{"event", "alg"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wxoidc_audit_write_failures_total",
			Help: "Audit events that could not be written to storage (they are still logged).",
		}),
		backchannel: newBackchannelCounter(),
	}
	m.reg.MustRegister(m.requests, m.requestLatency, m.tokens, m.wechatCalls, m.wechatLatency, m.keyChanges, m.auditFailures, m.backchannel,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if km != nil {
		m.reg.MustRegister(&keyCollector{km: km, now: now})
	}
	return m
}

// ObserveScanWaiting registers the gauge of browsers waiting on a scan
// ticket on this instance, read from waiting at scrape time
// (provider.Provider.ScanWaiting). Call it once.
func (m *Metrics) ObserveScanWaiting(waiting func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wxoidc_scan_waiting_browsers",
		Help: "Browsers waiting on this instance for a mini-program code to be scanned and confirmed (long polls held).",
	}, func() float64 { return float64(waiting()) }))
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry exposes the registry (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Listener returns the web.RequestObserver of one listener.
func (m *Metrics) Listener(name string) *ListenerMetrics {
	return &ListenerMetrics{m: m, name: name}
}

// ListenerMetrics observes the requests of one listener.
type ListenerMetrics struct {
	m    *Metrics
	name string
}

// ObserveRequest implements web.RequestObserver. route is the route
// pattern (never the raw path, which would be unbounded and may carry ids).
func (l *ListenerMetrics) ObserveRequest(route string, status int, d time.Duration) {
	l.m.requests.WithLabelValues(l.name, route, strconv.Itoa(status)).Inc()
	l.m.requestLatency.WithLabelValues(l.name, route).Observe(d.Seconds())
}

// ObserveTokenIssued implements provider.TokenObserver. Client IDs are
// registered by operators, so the label set stays bounded.
func (m *Metrics) ObserveTokenIssued(grantType, clientID string) {
	m.tokens.WithLabelValues(grantType, clientID).Inc()
}

// ObserveCall implements wechat.CallObserver.
func (m *Metrics) ObserveCall(api, outcome string, d time.Duration) {
	m.wechatCalls.WithLabelValues(api, outcome).Inc()
	m.wechatLatency.WithLabelValues(api).Observe(d.Seconds())
}

// ObserveKeyChange counts a key-state change (a keys.Config.OnChange).
func (m *Metrics) ObserveKeyChange(event string, k keys.KeyInfo) {
	m.keyChanges.WithLabelValues(event, k.Algorithm).Inc()
}

// AuditFailed counts an audit event that was not stored
// (admin.Auditor.OnStoreFailure).
func (m *Metrics) AuditFailed() { m.auditFailures.Inc() }

var (
	keyAgeDesc = prometheus.NewDesc("wxoidc_signing_key_age_seconds",
		"Age of the current signing key of each algorithm, since it started signing.", []string{"alg"}, nil)
	keyNextRotationDesc = prometheus.NewDesc("wxoidc_signing_key_next_rotation_seconds",
		"Time until automatic rotation may promote the next key of each algorithm (0: due at the next maintenance tick); absent when keys.rotation_period is 0.",
		[]string{"alg"}, nil)
	keyCountDesc = prometheus.NewDesc("wxoidc_signing_keys",
		"Signing keys loaded by this instance, by algorithm and state.", []string{"alg", "state"}, nil)
)

// keyCollector computes the key gauges from the loaded set at scrape time,
// so they are never stale and cost nothing between scrapes.
type keyCollector struct {
	km  *keys.Manager
	now func() time.Time
}

func (c *keyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keyAgeDesc
	ch <- keyNextRotationDesc
	ch <- keyCountDesc
}

func (c *keyCollector) Collect(ch chan<- prometheus.Metric) {
	cfg := c.km.Config()
	now := c.now()
	for alg, v := range keyGauges(c.km.Keys(), cfg, now) {
		ch <- prometheus.MustNewConstMetric(keyAgeDesc, prometheus.GaugeValue, v.age.Seconds(), alg)
		if cfg.RotationPeriod > 0 {
			ch <- prometheus.MustNewConstMetric(keyNextRotationDesc, prometheus.GaugeValue, v.nextRotation.Seconds(), alg)
		}
		for state, n := range v.count {
			ch <- prometheus.MustNewConstMetric(keyCountDesc, prometheus.GaugeValue, float64(n), alg, string(state))
		}
	}
}

type algGauges struct {
	age, nextRotation time.Duration
	count             map[storage.KeyState]int
}

// keyGauges derives the per-algorithm gauges. Automatic rotation needs both
// a current key older than RotationPeriod and a next key published for
// SafePublishDelay, so the time to the next rotation is the later of the two.
func keyGauges(infos []keys.KeyInfo, cfg keys.Config, now time.Time) map[string]*algGauges {
	out := map[string]*algGauges{}
	current := map[string]keys.KeyInfo{}
	next := map[string]keys.KeyInfo{}
	for _, k := range infos {
		g := out[k.Algorithm]
		if g == nil {
			g = &algGauges{count: map[storage.KeyState]int{}}
			out[k.Algorithm] = g
		}
		g.count[k.State]++
		switch k.State {
		case storage.KeyCurrent:
			if prev, ok := current[k.Algorithm]; !ok || k.ActivatedAt.After(prev.ActivatedAt) {
				current[k.Algorithm] = k
			}
		case storage.KeyNext:
			// The longest-published next key is the one rotation promotes.
			if prev, ok := next[k.Algorithm]; !ok || k.CreatedAt.Before(prev.CreatedAt) {
				next[k.Algorithm] = k
			}
		}
	}
	for alg, g := range out {
		cur, ok := current[alg]
		if !ok {
			continue
		}
		since := cur.ActivatedAt
		if since.IsZero() {
			since = cur.CreatedAt
		}
		g.age = max(now.Sub(since), 0)
		wait := cfg.RotationPeriod - g.age
		if n, ok := next[alg]; ok {
			wait = max(wait, cfg.SafePublishDelay()-now.Sub(n.CreatedAt))
		} else {
			wait = max(wait, cfg.SafePublishDelay())
		}
		g.nextRotation = max(wait, 0)
	}
	return out
}
