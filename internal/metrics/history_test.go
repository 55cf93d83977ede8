package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeClock is the injected clock: samples are stamped with its time and
// tests move it by hand.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// sampleAfter moves the clock by d and takes a sample.
func sampleAfter(t *testing.T, h *History, c *fakeClock, d time.Duration) {
	t.Helper()
	c.advance(d)
	if err := h.Sample(); err != nil {
		t.Fatalf("Sample: %v", err)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func checkPoints(t *testing.T, what string, s Series, want ...float64) {
	t.Helper()
	if len(s.Points) != len(want) {
		t.Fatalf("%s: %d points %v, want %v", what, len(s.Points), s.Values(), want)
	}
	for i, w := range want {
		got := s.Points[i].V
		if !(near(got, w) || math.IsNaN(got) && math.IsNaN(w)) {
			t.Errorf("%s point %d = %v, want %v (all %v)", what, i, got, w, s.Values())
		}
	}
}

func findSeries(t *testing.T, list []Series, label string) Series {
	t.Helper()
	for _, s := range list {
		if s.Label == label {
			return s
		}
	}
	t.Fatalf("no series %q in %v", label, labels(list))
	return Series{}
}

func labels(list []Series) []string {
	var out []string
	for _, s := range list {
		out = append(out, s.Label)
	}
	return out
}

func TestHistorySignInRates(t *testing.T) {
	m := New(nil, nil)
	clk := newFakeClock()
	h := NewHistory(m.Registry(), HistoryOptions{Now: clk.now})

	// Tokens issued before the first sample predate the window.
	for range 5 {
		m.ObserveTokenIssued("authorization_code", "app-a")
	}
	sampleAfter(t, h, clk, 0)
	t0 := clk.t
	for range 3 {
		m.ObserveTokenIssued("authorization_code", "app-a")
	}
	m.ObserveTokenIssued("refresh_token", "app-a")
	m.ObserveTokenIssued("authorization_code", "app-b") // series appears now
	m.ObserveTokenIssued("authorization_code", "app-b")
	sampleAfter(t, h, clk, 10*time.Second)
	m.ObserveTokenIssued("refresh_token", "app-a")
	sampleAfter(t, h, clk, 10*time.Second)

	got := h.Health()
	if !got.Start.Equal(t0) || !got.End.Equal(t0.Add(20*time.Second)) || got.Samples != 3 || got.Interval != 10*time.Second {
		t.Errorf("window %s..%s, %d samples every %s", got.Start, got.End, got.Samples, got.Interval)
	}
	s := got.SignIns
	// 7 tokens in 20 s = 21 a minute; one token in a 10 s interval is 6/min.
	if s.Total != 7 || !near(s.PerMinute, 21) {
		t.Errorf("total %v, per minute %v; want 7, 21", s.Total, s.PerMinute)
	}
	if l := labels(s.ByGrantType); strings.Join(l, ",") != "authorization_code,refresh_token" {
		t.Errorf("grant types %v, want by total descending", l)
	}
	code := findSeries(t, s.ByGrantType, "authorization_code")
	if code.Total != 5 {
		t.Errorf("authorization_code total %v, want 5", code.Total)
	}
	checkPoints(t, "authorization_code", code, 30, 0)
	checkPoints(t, "refresh_token", findSeries(t, s.ByGrantType, "refresh_token"), 6, 6)
	if l := labels(s.ByClient); strings.Join(l, ",") != "app-a,app-b" {
		t.Errorf("clients %v, want app-a,app-b (no other: nothing left)", l)
	}
	checkPoints(t, "app-a", findSeries(t, s.ByClient, "app-a"), 24, 6)
	checkPoints(t, "app-b", findSeries(t, s.ByClient, "app-b"), 12, 0)
	if p := code.Points[1].T; !p.Equal(t0.Add(20 * time.Second)) {
		t.Errorf("second point at %s, want the end of its interval", p)
	}
}

// A counter that goes down was recreated: its increase is its new value,
// never a negative rate.
func TestHistoryCounterReset(t *testing.T) {
	reg := prometheus.NewRegistry()
	tokens := prometheus.NewCounterVec(prometheus.CounterOpts{Name: tokensFamily, Help: "h"}, []string{"grant_type", "client_id"})
	reg.MustRegister(tokens)
	clk := newFakeClock()
	h := NewHistory(reg, HistoryOptions{Now: clk.now})

	tokens.WithLabelValues("authorization_code", "a").Add(10)
	sampleAfter(t, h, clk, 0)
	tokens.WithLabelValues("authorization_code", "a").Add(2)
	sampleAfter(t, h, clk, time.Minute)
	tokens.DeleteLabelValues("authorization_code", "a")
	sampleAfter(t, h, clk, time.Minute) // absent: no increase
	tokens.WithLabelValues("authorization_code", "a").Add(3)
	sampleAfter(t, h, clk, time.Minute)
	tokens.DeleteLabelValues("authorization_code", "a")
	tokens.WithLabelValues("authorization_code", "a").Add(1) // 1 < 3: a reset
	sampleAfter(t, h, clk, time.Minute)

	s := h.Health().SignIns
	checkPoints(t, "reset", findSeries(t, s.ByGrantType, "authorization_code"), 2, 0, 3, 1)
	if s.Total != 6 {
		t.Errorf("total %v, want 6", s.Total)
	}
}

// The token endpoint's quantiles match histogram_quantile computed by hand
// on the bucket increase over the window; other listeners and routes, and
// requests before the window, do not count.
func TestHistoryTokenLatency(t *testing.T) {
	m := New(nil, nil)
	public, admin := m.Listener("public"), m.Listener("admin")
	clk := newFakeClock()
	h := NewHistory(m.Registry(), HistoryOptions{Now: clk.now})

	for range 100 {
		public.ObserveRequest(DefaultTokenRoute, 200, 8*time.Second) // before the window
	}
	sampleAfter(t, h, clk, 0)
	for range 10 {
		public.ObserveRequest(DefaultTokenRoute, 200, 3*time.Millisecond) // bucket (.0025, .005]
	}
	for range 30 {
		public.ObserveRequest(DefaultTokenRoute, 400, 20*time.Millisecond) // bucket (.01, .025]
	}
	for range 50 {
		admin.ObserveRequest(DefaultTokenRoute, 200, 9*time.Second)
		public.ObserveRequest("/oauth2/introspect", 200, 9*time.Second)
	}
	sampleAfter(t, h, clk, 10*time.Second)

	// Cumulative increase: le .005 → 10, .01 → 10, .025 → 40, ... +Inf → 40.
	// p50: rank 20 falls in (.01, .025] holding 30, 10 below → .01 + .015·10/30.
	// p90: rank 36 → .01 + .015·26/30; p99: rank 39.6 → .01 + .015·29.6/30.
	lat := h.Health().TokenLatency
	checkLatency(t, lat, 40, 0.015, 0.023, 0.0248)
	checkPoints(t, "p99 series", lat.P99Series, 0.0248)

	sampleAfter(t, h, clk, 10*time.Second)                              // no request: a gap
	public.ObserveRequest(DefaultTokenRoute, 200, 7*time.Second)        // bucket (5, 10]
	sampleAfter(t, h, clk, 10*time.Second)                              // p99 of that interval: 5 + 5·.99
	public.ObserveRequest(DefaultTokenRoute, 200, 30*time.Second)       // +Inf bucket
	public.ObserveRequest(DefaultTokenRoute, 200, 500*time.Microsecond) // first bucket [0, .001]
	sampleAfter(t, h, clk, 10*time.Second)

	// Window: le .001 → 1, .005 → 11, .025 → 41, 10 → 42, +Inf → 43.
	// p50: rank 21.5 in (.01, .025]: .01 + .015·10.5/30.
	// p90: rank 38.7 → .01 + .015·27.7/30.
	// p99: rank 42.57 is past the last finite bucket → its bound, 10.
	lat = h.Health().TokenLatency
	checkLatency(t, lat, 43, 0.01+0.015*10.5/30, 0.01+0.015*27.7/30, 10)
	// Last interval: 2 requests, rank 1.98 in +Inf → 10.
	checkPoints(t, "p99 series", lat.P99Series, 0.0248, math.NaN(), 9.95, 10)
	if lat.P99Series.Total != 43 {
		t.Errorf("p99 series counts %v requests, want 43", lat.P99Series.Total)
	}
}

func checkLatency(t *testing.T, lat Latency, count float64, p50, p90, p99 float64) {
	t.Helper()
	if !lat.Known || lat.Count != count {
		t.Fatalf("known %v, count %v; want %v", lat.Known, lat.Count, count)
	}
	for _, q := range []struct {
		name string
		got  time.Duration
		want float64
	}{{"p50", lat.P50, p50}, {"p90", lat.P90, p90}, {"p99", lat.P99, p99}} {
		if d := q.got.Seconds() - q.want; math.Abs(d) > 1e-9 {
			t.Errorf("%s = %s, want %vs", q.name, q.got, q.want)
		}
	}
}

func TestSeriesValuesAndMax(t *testing.T) {
	s := Series{Points: []Point{{V: 1}, {V: math.NaN()}, {V: 3}, {V: math.Inf(1)}}}
	if v := s.Values(); len(v) != 4 || v[2] != 3 || !math.IsNaN(v[1]) {
		t.Errorf("Values %v", v)
	}
	if got := s.Max(); got != 3 {
		t.Errorf("Max %v, want 3 (NaN and Inf skipped)", got)
	}
	if got := (Series{}).Max(); got != 0 {
		t.Errorf("Max of nothing %v", got)
	}
}

func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(+1)
	le := []float64{0.1, 0.5, 1, inf}
	for _, tc := range []struct {
		name   string
		q      float64
		le     []float64
		counts []float64
		want   float64
	}{
		{"first bucket starts at 0", 0.5, le, []float64{10, 10, 10, 10}, 0.05},
		{"interpolated", 0.75, le, []float64{0, 4, 8, 8}, 0.75},
		{"upper edge of a bucket", 0.5, le, []float64{0, 4, 8, 8}, 0.5},
		{"in +Inf: highest finite bound", 0.99, le, []float64{1, 1, 1, 10}, 1},
		{"empty buckets skipped", 0.5, le, []float64{0, 0, 2, 2}, 0.75},
		{"no observations", 0.5, le, []float64{0, 0, 0, 0}, math.NaN()},
		{"only +Inf", 0.5, []float64{inf}, []float64{3}, math.NaN()},
		{"q 0", 0, le, []float64{1, 1, 1, 1}, math.Inf(-1)},
		{"q 1", 1, le, []float64{1, 1, 1, 1}, inf},
		{"q NaN", math.NaN(), le, []float64{1, 1, 1, 1}, math.NaN()},
		{"non-positive first bound", 0.1, []float64{-1, 0, inf}, []float64{5, 10, 10}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := histogramQuantile(tc.q, tc.le, tc.counts)
			if !(near(got, tc.want) || math.IsNaN(got) && math.IsNaN(tc.want) || got == tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHistoryWeChatErrors(t *testing.T) {
	m := New(nil, nil)
	clk := newFakeClock()
	h := NewHistory(m.Registry(), HistoryOptions{Now: clk.now})
	m.ObserveCall("jscode2session", "40029", time.Millisecond) // before the window
	sampleAfter(t, h, clk, 0)
	for range 8 {
		m.ObserveCall("jscode2session", WeChatSuccess, time.Millisecond)
	}
	m.ObserveCall("jscode2session", "40029", time.Millisecond)
	m.ObserveCall("jscode2session", "transport", time.Second)
	m.ObserveCall("getuserphonenumber", WeChatSuccess, time.Millisecond)
	m.ObserveCall("getuserphonenumber", "-1", time.Millisecond)
	sampleAfter(t, h, clk, 10*time.Second)
	m.ObserveCall("getuserphonenumber", WeChatSuccess, time.Millisecond)
	m.ObserveCall("getuserphonenumber", "-1", time.Millisecond)
	sampleAfter(t, h, clk, 10*time.Second)

	w := h.Health().WeChat
	if w.Calls != 14 || w.Errors != 4 {
		t.Errorf("calls %v errors %v, want 14 and 4", w.Calls, w.Errors)
	}
	if len(w.ByAPI) != 2 || w.ByAPI[0].API != "jscode2session" || w.ByAPI[1].API != "getuserphonenumber" {
		t.Fatalf("APIs %+v, want jscode2session then getuserphonenumber", w.ByAPI)
	}
	js, phone := w.ByAPI[0], w.ByAPI[1]
	checkPoints(t, "jscode2session calls", js.Calls, 60, 0)
	checkPoints(t, "jscode2session errors", js.Errors, 12, 0)
	checkPoints(t, "getuserphonenumber errors", phone.Errors, 6, 6)
	if !near(js.ErrorRatio, 0.2) || !near(phone.ErrorRatio, 0.5) {
		t.Errorf("error ratios %v, %v; want 0.2, 0.5", js.ErrorRatio, phone.ErrorRatio)
	}
	want := []OutcomeCount{{"40029", 1}, {"transport", 1}}
	if fmt.Sprint(js.ErrorsByOutcome) != fmt.Sprint(want) {
		t.Errorf("jscode2session errors %v, want %v", js.ErrorsByOutcome, want)
	}
	if want := []OutcomeCount{{"-1", 2}}; fmt.Sprint(phone.ErrorsByOutcome) != fmt.Sprint(want) {
		t.Errorf("getuserphonenumber errors %v, want %v", phone.ErrorsByOutcome, want)
	}
}

// Clients past MaxClients are summed into OtherLabel, for good: the series
// kept stay bounded and no token goes uncounted.
func TestHistorySeriesCap(t *testing.T) {
	m := New(nil, nil)
	clk := newFakeClock()
	h := NewHistory(m.Registry(), HistoryOptions{Now: clk.now, MaxClients: 3, TopClients: 2, MaxLabelValues: 2})
	sampleAfter(t, h, clk, 0)
	// Gather sorts by label value, so c1..c3 are admitted first.
	for i, n := range []int{5, 4, 3, 2, 1} {
		for range n {
			m.ObserveTokenIssued("authorization_code", fmt.Sprintf("c%d", i+1))
		}
	}
	sampleAfter(t, h, clk, time.Minute)
	for i := 6; i <= 40; i++ {
		m.ObserveTokenIssued("authorization_code", fmt.Sprintf("c%d", i))
	}
	m.ObserveTokenIssued("authorization_code", "c3")
	m.ObserveTokenIssued("client_credentials", "c1")
	m.ObserveTokenIssued("urn:ietf:params:oauth:grant-type:token-exchange", "c1") // third grant type: other
	sampleAfter(t, h, clk, time.Minute)

	s := h.Health().SignIns
	if s.Total != 15+35+3 {
		t.Errorf("total %v, want 53", s.Total)
	}
	if l := strings.Join(labels(s.ByClient), ","); l != "c1,c2,"+OtherLabel {
		t.Errorf("clients %s, want the top 2 then other", l)
	}
	checkPoints(t, "c1", findSeries(t, s.ByClient, "c1"), 5, 2)
	checkPoints(t, "other", findSeries(t, s.ByClient, OtherLabel), 6, 36)
	if l := strings.Join(labels(s.ByGrantType), ","); l != "authorization_code,"+OtherLabel+",client_credentials" {
		t.Errorf("grant types %s", l)
	}
	tokenSeries := 0
	for _, k := range h.series {
		if k.fam == famTokens {
			tokenSeries++
		}
	}
	// (authorization_code, client_credentials, other) × (c1, c2, c3, other)
	// at most; 6 of them seen.
	if tokenSeries != 6 {
		t.Errorf("%d token series kept, want 6: %v", tokenSeries, h.series)
	}
}

// Past MaxSeries a new label combination goes to its family's
// (other, other) series.
func TestHistoryMaxSeries(t *testing.T) {
	m := New(nil, nil)
	clk := newFakeClock()
	h := NewHistory(m.Registry(), HistoryOptions{Now: clk.now, MaxSeries: 3})
	sampleAfter(t, h, clk, 0)
	for i := range 10 {
		m.ObserveTokenIssued("authorization_code", fmt.Sprintf("c%d", i))
		m.ObserveCall("jscode2session", fmt.Sprint(40000+i), time.Millisecond)
	}
	sampleAfter(t, h, clk, time.Minute)
	if len(h.series) > 5 {
		t.Errorf("%d series kept, want at most 5: %v", len(h.series), h.series)
	}
	got := h.Health()
	if got.SignIns.Total != 10 || got.WeChat.Calls != 10 || got.WeChat.Errors != 10 {
		t.Errorf("tokens %v, calls %v, errors %v; want 10 each", got.SignIns.Total, got.WeChat.Calls, got.WeChat.Errors)
	}
}

func TestHistoryRingBound(t *testing.T) {
	m := New(nil, nil)
	clk := newFakeClock()
	h := NewHistory(m.Registry(), HistoryOptions{Now: clk.now, Interval: 10 * time.Second, Keep: time.Minute})
	for range 20 {
		m.ObserveTokenIssued("authorization_code", "a")
		sampleAfter(t, h, clk, 10*time.Second)
	}
	got := h.Health()
	if got.Samples != 7 || cap(h.ring) != 7 {
		t.Errorf("%d samples held (ring capacity %d), want 7", got.Samples, cap(h.ring))
	}
	if want := clk.t.Add(-time.Minute); !got.Start.Equal(want) || !got.End.Equal(clk.t) {
		t.Errorf("window %s..%s, want %s..%s", got.Start, got.End, want, clk.t)
	}
	checkPoints(t, "rate", findSeries(t, got.SignIns.ByGrantType, "authorization_code"), 6, 6, 6, 6, 6, 6)
	if got.SignIns.Total != 6 || !near(got.SignIns.PerMinute, 6) {
		t.Errorf("total %v, per minute %v; want 6, 6", got.SignIns.Total, got.SignIns.PerMinute)
	}
}

func TestHistoryBreaker(t *testing.T) {
	clk := newFakeClock()
	h := NewHistory(prometheus.NewRegistry(), HistoryOptions{Now: clk.now})
	if got := h.Health().Breaker; got != BreakerUnknown {
		t.Errorf("before any sample: %q", got)
	}
	sampleAfter(t, h, clk, 0)
	if got := h.Health().Breaker; got != BreakerUnknown {
		t.Errorf("without the gauge: %q, want %q", got, BreakerUnknown)
	}

	// The gauge on its own registry, so this test does not collide with a
	// breaker gauge that New may register.
	m := New(nil, nil)
	extra := prometheus.NewRegistry()
	state := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: breakerStateFamily, Help: "h"}, []string{"state"})
	extra.MustRegister(state)
	h = NewHistory(prometheus.Gatherers{m.Registry(), extra}, HistoryOptions{Now: clk.now})
	for _, want := range []string{"closed", "open", "half-open"} {
		for _, s := range []string{"closed", "open", "half-open"} {
			v := 0.0
			if s == want {
				v = 1
			}
			state.WithLabelValues(s).Set(v)
		}
		sampleAfter(t, h, clk, 10*time.Second)
		if got := h.Health().Breaker; got != want {
			t.Errorf("breaker %q, want %q", got, want)
		}
	}
	state.WithLabelValues("half-open").Set(0)
	sampleAfter(t, h, clk, 10*time.Second)
	if got := h.Health().Breaker; got != BreakerUnknown {
		t.Errorf("no state set: %q, want %q", got, BreakerUnknown)
	}
}

func TestHistoryEmptyAndSingleSample(t *testing.T) {
	clk := newFakeClock()
	m := New(nil, nil)
	h := NewHistory(m.Registry(), HistoryOptions{Now: clk.now})
	got := h.Health()
	if got.Samples != 0 || !got.Start.IsZero() || got.SignIns.Total != 0 || got.TokenLatency.Known {
		t.Errorf("empty history: %+v", got)
	}
	m.ObserveTokenIssued("authorization_code", "a")
	m.Listener("public").ObserveRequest(DefaultTokenRoute, 200, time.Millisecond)
	sampleAfter(t, h, clk, 0)
	got = h.Health()
	if got.Samples != 1 || !got.Start.Equal(clk.t) || !got.End.Equal(clk.t) {
		t.Errorf("one sample: %d samples, %s..%s", got.Samples, got.Start, got.End)
	}
	// One sample has no interval: nothing counted, no rate, no NaN.
	if got.SignIns.Total != 0 || got.SignIns.PerMinute != 0 || got.TokenLatency.Known || len(got.TokenLatency.P99Series.Points) != 0 {
		t.Errorf("one sample: %+v", got)
	}
	for _, s := range got.SignIns.ByGrantType {
		if len(s.Points) != 0 {
			t.Errorf("one sample: points %v", s.Points)
		}
	}
}

// A partial Gather is still recorded, and its error shown.
func TestHistoryGatherError(t *testing.T) {
	m := New(nil, nil)
	clk := newFakeClock()
	fail := true
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		fams, err := m.Registry().Gather()
		if fail {
			err = errors.Join(err, errors.New("collector exploded"))
		}
		return fams, err
	})
	h := NewHistory(g, HistoryOptions{Now: clk.now})
	clk.advance(time.Second)
	if err := h.Sample(); err == nil || !strings.Contains(err.Error(), "collector exploded") {
		t.Fatalf("Sample error %v", err)
	}
	m.ObserveTokenIssued("authorization_code", "a")
	clk.advance(10 * time.Second)
	if err := h.Sample(); err == nil {
		t.Fatal("no error")
	}
	got := h.Health()
	if !strings.Contains(got.GatherError, "collector exploded") || got.SignIns.Total != 1 {
		t.Errorf("error %q, total %v", got.GatherError, got.SignIns.Total)
	}
	fail = false
	sampleAfter(t, h, clk, 10*time.Second)
	if got := h.Health().GatherError; got != "" {
		t.Errorf("error after a clean sample: %q", got)
	}
}

// A clock that steps back gives no interval, not a negative rate.
func TestHistoryClockStepsBack(t *testing.T) {
	m := New(nil, nil)
	clk := newFakeClock()
	h := NewHistory(m.Registry(), HistoryOptions{Now: clk.now})
	sampleAfter(t, h, clk, 0)
	m.ObserveTokenIssued("authorization_code", "a")
	sampleAfter(t, h, clk, -time.Minute)
	m.ObserveTokenIssued("authorization_code", "a")
	sampleAfter(t, h, clk, 2*time.Minute)
	code := findSeries(t, h.Health().SignIns.ByGrantType, "authorization_code")
	checkPoints(t, "after the step", code, 0.5) // 1 token in 2 minutes
}

func TestHistoryRunStopsWithContext(t *testing.T) {
	m := New(nil, nil)
	h := NewHistory(m.Registry(), HistoryOptions{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.Run(ctx) // returns: the context is done
	if got := h.Health().Samples; got != 1 {
		t.Errorf("%d samples, want the one taken on start", got)
	}
}

// Sample and Health run concurrently in the server (the ticker and page
// views); -race checks the locking.
func TestHistoryConcurrentUse(t *testing.T) {
	m := New(nil, nil)
	h := NewHistory(m.Registry(), HistoryOptions{})
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				m.ObserveTokenIssued("authorization_code", fmt.Sprintf("c%d", i%7))
				if g == 0 {
					_ = h.Sample()
				} else {
					_ = h.Health()
				}
			}
		}()
	}
	wg.Wait()
	if got := h.Health().Samples; got != 50 {
		t.Errorf("%d samples, want 50", got)
	}
}

// benchRegistry fills a registry with realistic label counts: 50 clients ×
// 4 grant types, 10 WeChat APIs × 5 outcomes and 30 routes per listener.
// drive adds one round of observations (without allocating label strings,
// so that the benchmarks measure History rather than fmt).
func benchRegistry() (*Metrics, func(i int)) {
	m := New(nil, nil)
	grants := []string{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"}
	outcomes := []string{WeChatSuccess, "40029", "45011", "-1", "transport"}
	var clients, apis, routes, adminRoutes []string
	for i := range 50 {
		clients = append(clients, fmt.Sprintf("client-%02d", i))
	}
	for i := range 10 {
		apis = append(apis, fmt.Sprintf("api-%d", i))
	}
	for i := range 30 {
		routes = append(routes, fmt.Sprintf("/route/%d", i))
		adminRoutes = append(adminRoutes, fmt.Sprintf("/admin/%d", i))
	}
	public, admin := m.Listener("public"), m.Listener("admin")
	drive := func(i int) {
		for c, client := range clients {
			m.ObserveTokenIssued(grants[(c+i)%4], client)
		}
		for a, api := range apis {
			m.ObserveCall(api, outcomes[(a+i)%5], time.Duration(a+1)*time.Millisecond)
		}
		for r := range routes {
			public.ObserveRequest(routes[r], 200, time.Duration(r+1)*time.Millisecond)
			admin.ObserveRequest(adminRoutes[r], 200, time.Millisecond)
		}
		public.ObserveRequest(DefaultTokenRoute, 200, time.Duration(i%200+1)*time.Millisecond)
	}
	for i := range 4 {
		drive(i) // every label combination exists
	}
	return m, drive
}

// BenchmarkHistorySample is one tick: a Gather of the whole registry (Go
// runtime and process collectors included, as in production) and the
// bookkeeping; "gather only" is the Gather alone, for comparison.
func BenchmarkHistorySample(b *testing.B) {
	m, drive := benchRegistry()
	b.Run("sample", func(b *testing.B) {
		clk := newFakeClock()
		h := NewHistory(m.Registry(), HistoryOptions{Now: clk.now})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			drive(i)
			clk.advance(10 * time.Second)
			if err := h.Sample(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gather only", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			drive(i)
			if _, err := m.Registry().Gather(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHealth computes the snapshot of a full ring (181 samples): the
// first page view after each sample; later views until the next sample
// get the cached snapshot ("cached").
func BenchmarkHealth(b *testing.B) {
	m, drive := benchRegistry()
	clk := newFakeClock()
	h := NewHistory(m.Registry(), HistoryOptions{Now: clk.now})
	for i := range 200 {
		drive(i)
		clk.advance(10 * time.Second)
		if err := h.Sample(); err != nil {
			b.Fatal(err)
		}
	}
	if n := len(h.Health().SignIns.ByGrantType[0].Points); n != 180 {
		b.Fatalf("%d points, want 180", n)
	}
	b.Run("computed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.mu.Lock()
			h.cached = nil
			h.mu.Unlock()
			_ = h.Health()
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = h.Health()
		}
	})
}
