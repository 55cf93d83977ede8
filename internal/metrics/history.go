package metrics

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Names of the series History keeps. The breaker gauge is optional: an
// instance without it reports the state BreakerUnknown.
const (
	tokensFamily       = "wxoidc_tokens_issued_total"
	wechatCallsFamily  = "wxoidc_wechat_calls_total"
	requestLatencyFam  = "wxoidc_http_request_duration_seconds"
	breakerStateFamily = "wxoidc_wechat_breaker_state"
)

const (
	// OtherLabel stands for the label values History folds together once a
	// label has more distinct values than it keeps apart (and, in
	// Health.SignIns.ByClient, for the clients outside the top N). The
	// parentheses keep it apart from any real client ID, grant type or API.
	OtherLabel = "(other)"
	// BreakerUnknown is the breaker state when the registry has no
	// wxoidc_wechat_breaker_state gauge, or none of its states is set.
	BreakerUnknown = "unknown"
	// WeChatSuccess is the outcome label of a successful WeChat call
	// (errcode 0); every other outcome is an error.
	WeChatSuccess = "0"
	// DefaultTokenRoute is the chi route pattern of the token endpoint
	// (web.PathToken) on the "public" listener.
	DefaultTokenRoute = "/oauth2/token"
)

// HistoryOptions tunes a History. Zero values take the defaults.
type HistoryOptions struct {
	// Interval between samples in Run (default 10s).
	Interval time.Duration
	// Keep is how far back samples are kept (default 30 min): the ring
	// holds Keep/Interval+1 samples, so Keep/Interval intervals.
	Keep time.Duration
	// Now stamps samples (default time.Now); tests inject a clock.
	Now func() time.Time
	// MaxClients bounds the client_id values kept apart (default 200); the
	// clients first seen after that are summed into OtherLabel.
	MaxClients int
	// MaxLabelValues bounds the distinct values of each other label
	// (grant_type, api, outcome; default 32).
	MaxLabelValues int
	// MaxSeries bounds the series kept in all (default 2000): past it, a
	// new label combination is summed into its family's
	// (OtherLabel, OtherLabel) series.
	MaxSeries int
	// TopClients is how many clients Health lists by name (default 10).
	TopClients int
	// TokenListener and TokenRoute select the token endpoint's latency
	// histogram (defaults "public" and DefaultTokenRoute).
	TokenListener, TokenRoute string
}

func (o HistoryOptions) withDefaults() HistoryOptions {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Keep <= 0 {
		o.Keep = 30 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 200
	}
	if o.MaxLabelValues <= 0 {
		o.MaxLabelValues = 32
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = 2000
	}
	if o.TopClients <= 0 {
		o.TopClients = 10
	}
	if o.TokenListener == "" {
		o.TokenListener = "public"
	}
	if o.TokenRoute == "" {
		o.TokenRoute = DefaultTokenRoute
	}
	return o
}

// History samples a registry at a fixed interval into a bounded ring, so
// the admin console can chart recent rates without a Prometheus server.
// Only the series the Health page needs are kept, and their number is
// capped, so memory stays bounded whatever the label values. Gathering
// happens once per sample, never per page view; Health only reads the ring.
type History struct {
	g    prometheus.Gatherer
	opts HistoryOptions

	mu       sync.Mutex
	index    map[seriesKey]int
	series   []seriesKey
	admitted [labelKinds]map[string]struct{}
	ring     []sample // len(ring) == capacity once full
	head     int      // index of the oldest sample once the ring is full
	breaker  string
	err      error       // of the last Gather
	scratch  []seriesAdd // reused by Sample
	cached   *Health     // Health of the samples held; Sample clears it
}

type family uint8

const (
	famTokens family = iota + 1 // a: grant_type, b: client_id
	famWeChat                   // a: api, b: outcome
	famBucket                   // le: upper bound; +Inf holds the count
)

type seriesKey struct {
	fam  family
	a, b string
	le   float64
}

type labelKind int

const (
	labelGrant labelKind = iota
	labelClient
	labelAPI
	labelOutcome
	labelKinds
)

// sample is one Gather's values by series index. NaN marks a series absent
// from that Gather; series registered later lie past the end of v.
type sample struct {
	t   time.Time
	v   []float64
	inc []float64 // counter increase since the previous sample, computed once in Sample
}

type seriesAdd struct {
	i int
	v float64
}

// NewHistory returns a History of g; nothing is sampled until Sample or Run.
func NewHistory(g prometheus.Gatherer, opts HistoryOptions) *History {
	opts = opts.withDefaults()
	h := &History{g: g, opts: opts, index: map[seriesKey]int{}, breaker: BreakerUnknown}
	for i := range h.admitted {
		h.admitted[i] = map[string]struct{}{}
	}
	h.ring = make([]sample, 0, h.capacity())
	return h
}

func (h *History) capacity() int {
	return max(int(h.opts.Keep/h.opts.Interval)+1, 2)
}

// Run samples now and then every Interval until ctx is done.
func (h *History) Run(ctx context.Context) {
	t := time.NewTicker(h.opts.Interval)
	defer t.Stop()
	_ = h.Sample() // the error is kept for Health
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = h.Sample()
		}
	}
}

// Sample gathers the registry once and records the kept series. A Gather
// error is returned (and shown by Health) but whatever it did gather is
// still recorded, as promhttp would still serve it.
func (h *History) Sample() error {
	fams, gerr := h.g.Gather()
	t := h.opts.Now()
	if gerr != nil {
		gerr = fmt.Errorf("metrics history: gather: %w", gerr)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	h.cached = nil
	h.err = gerr
	adds := h.scratch[:0]
	breaker := BreakerUnknown
	for _, f := range fams {
		switch f.GetName() {
		case tokensFamily:
			for _, m := range f.GetMetric() {
				k := seriesKey{fam: famTokens,
					a: h.admit(labelGrant, labelValue(m, "grant_type")),
					b: h.admit(labelClient, labelValue(m, "client_id"))}
				adds = append(adds, seriesAdd{h.seriesIndex(k), m.GetCounter().GetValue()})
			}
		case wechatCallsFamily:
			for _, m := range f.GetMetric() {
				k := seriesKey{fam: famWeChat,
					a: h.admit(labelAPI, labelValue(m, "api")),
					b: h.admit(labelOutcome, labelValue(m, "outcome"))}
				adds = append(adds, seriesAdd{h.seriesIndex(k), m.GetCounter().GetValue()})
			}
		case requestLatencyFam:
			for _, m := range f.GetMetric() {
				if labelValue(m, "listener") != h.opts.TokenListener || labelValue(m, "route") != h.opts.TokenRoute {
					continue
				}
				hist := m.GetHistogram()
				for _, b := range hist.GetBucket() {
					if math.IsInf(b.GetUpperBound(), +1) {
						continue // the count below is the +Inf bucket
					}
					adds = append(adds, seriesAdd{h.seriesIndex(seriesKey{fam: famBucket, le: b.GetUpperBound()}), float64(b.GetCumulativeCount())})
				}
				adds = append(adds, seriesAdd{h.seriesIndex(seriesKey{fam: famBucket, le: math.Inf(+1)}), float64(hist.GetSampleCount())})
			}
		case breakerStateFamily:
			for _, m := range f.GetMetric() {
				if m.GetGauge().GetValue() == 1 {
					breaker = labelValue(m, "state")
				}
			}
		}
	}
	h.scratch = adds
	h.breaker = breaker

	var prev *sample
	if len(h.ring) > 0 {
		prev = h.newest()
	}
	s := h.nextSlot() // never prev: the ring holds at least two samples
	s.t = t
	s.v = resize(s.v, len(h.series))
	for i := range s.v {
		s.v[i] = math.NaN()
	}
	for _, a := range adds {
		if math.IsNaN(s.v[a.i]) {
			s.v[a.i] = a.v
		} else {
			s.v[a.i] += a.v // several label values folded into one series
		}
	}
	s.inc = resize(s.inc, len(h.series))
	for i, k := range h.series {
		s.inc[i] = 0
		if prev != nil && k.fam != famBucket {
			s.inc[i] = counterIncrease(prev, s, i)
		}
	}
	return gerr
}

func resize(v []float64, n int) []float64 {
	if cap(v) < n {
		return make([]float64, n)
	}
	return v[:n]
}

// newest returns the latest sample; the ring must not be empty.
func (h *History) newest() *sample {
	if len(h.ring) < cap(h.ring) {
		return &h.ring[len(h.ring)-1]
	}
	return &h.ring[(h.head+len(h.ring)-1)%len(h.ring)]
}

// nextSlot returns the slot the new sample goes into, evicting the oldest
// once the ring is full (its value slice is reused).
func (h *History) nextSlot() *sample {
	if len(h.ring) < cap(h.ring) {
		h.ring = h.ring[:len(h.ring)+1]
		return &h.ring[len(h.ring)-1]
	}
	s := &h.ring[h.head]
	h.head = (h.head + 1) % len(h.ring)
	return s
}

// admit returns v, or OtherLabel once the label has its maximum of
// distinct values and v is not one of them. A value admitted stays
// admitted, so a series never moves between its own line and "other".
func (h *History) admit(kind labelKind, v string) string {
	set := h.admitted[kind]
	if _, ok := set[v]; ok {
		return v
	}
	limit := h.opts.MaxLabelValues
	if kind == labelClient {
		limit = h.opts.MaxClients
	}
	if len(set) >= limit {
		return OtherLabel
	}
	set[v] = struct{}{}
	return v
}

func (h *History) seriesIndex(k seriesKey) int {
	if i, ok := h.index[k]; ok {
		return i
	}
	if len(h.series) >= h.opts.MaxSeries && k.fam != famBucket {
		k.a, k.b = OtherLabel, OtherLabel
		if i, ok := h.index[k]; ok {
			return i
		}
	}
	i := len(h.series)
	h.index[k] = i
	h.series = append(h.series, k)
	return i
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Point is one value of a Series at time T.
type Point struct {
	T time.Time
	V float64
}

// Series is one line of a chart. For rates, each Point is the per-minute
// rate over the interval ending at T and Total the count over the window.
type Series struct {
	Label  string
	Points []Point
	Total  float64
}

// Values returns the values of the points, for SparklinePath.
func (s Series) Values() []float64 {
	v := make([]float64, len(s.Points))
	for i, p := range s.Points {
		v[i] = p.V
	}
	return v
}

// Max returns the largest finite value of the points (0 if none), for
// an axis label next to a sparkline.
func (s Series) Max() float64 {
	top := 0.0
	for _, p := range s.Points {
		if isFinite(p.V) {
			top = max(top, p.V)
		}
	}
	return top
}

// Health is a snapshot of the recent history for the admin console.
type Health struct {
	// Start and End are the times of the oldest and newest samples the
	// snapshot is computed from (both zero before the first sample).
	Start, End time.Time
	// Interval is the nominal sampling interval; Samples the samples held.
	Interval time.Duration
	Samples  int
	// GatherError is the error of the last sample's Gather, if any.
	GatherError  string
	SignIns      SignIns
	WeChat       WeChat
	Breaker      string // "closed", "open", "half-open" or BreakerUnknown
	TokenLatency Latency
}

// SignIns are the tokens issued (wxoidc_tokens_issued_total).
type SignIns struct {
	Total     float64 // tokens issued in the window
	PerMinute float64 // average rate over the window
	// ByGrantType has a series per grant type, by Total descending.
	ByGrantType []Series
	// ByClient has the TopClients clients with the most tokens in the
	// window (Total > 0), by Total descending, then an OtherLabel series
	// summing the rest when they issued any.
	ByClient []Series
}

// WeChat are the WeChat API calls (wxoidc_wechat_calls_total).
type WeChat struct {
	Calls  float64 // in the window, every API and outcome
	Errors float64 // outcome other than WeChatSuccess
	// ByAPI has an entry per API, by Calls descending.
	ByAPI []APICalls
}

// APICalls are the calls of one WeChat API over the window.
type APICalls struct {
	API    string
	Calls  Series // per-minute rate of all calls; Calls.Total is the count
	Errors Series // per-minute rate of failed calls
	// ErrorRatio is Errors.Total / Calls.Total (0 without calls).
	ErrorRatio float64
	// ErrorsByOutcome counts the failed calls by outcome (errcode or
	// "transport"), by Count descending.
	ErrorsByOutcome []OutcomeCount
}

// OutcomeCount is the number of calls with one outcome.
type OutcomeCount struct {
	Outcome string
	Count   float64
}

// Latency is the token endpoint's latency over the window, from the
// histogram buckets as PromQL's histogram_quantile computes it.
type Latency struct {
	Count         float64 // requests finished in the window
	P50, P90, P99 time.Duration
	// Known is false when no request finished in the window (the
	// quantiles are then zero and meaningless).
	Known bool
	// P99Series has the p99 of each interval in seconds; V is NaN for an
	// interval without requests (SparklinePath leaves a gap there; mind it
	// before encoding/json, which rejects NaN). Its Total is the requests
	// counted over the intervals.
	P99Series Series
}

// interval is the step between two consecutive samples.
type interval struct {
	prev, cur *sample
	minutes   float64
}

// Health returns the snapshot of the samples held; it never gathers. It is
// computed once per sample and shared by the callers until the next one,
// so its slices must be treated as read-only.
func (h *History) Health() Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cached == nil {
		out := h.health()
		h.cached = &out
	}
	return *h.cached
}

func (h *History) health() Health {
	out := Health{Interval: h.opts.Interval, Samples: len(h.ring), Breaker: h.breaker}
	if h.err != nil {
		out.GatherError = h.err.Error()
	}
	if len(h.ring) == 0 {
		return out
	}
	samples := make([]*sample, len(h.ring))
	for i := range h.ring {
		samples[i] = &h.ring[(h.head+i)%len(h.ring)]
	}
	out.Start, out.End = samples[0].t, samples[len(samples)-1].t
	steps := make([]interval, 0, len(samples)-1)
	for i := 1; i < len(samples); i++ {
		// A clock that stepped back gives no rate; the pair is skipped.
		if d := samples[i].t.Sub(samples[i-1].t); d > 0 {
			steps = append(steps, interval{samples[i-1], samples[i], d.Minutes()})
		}
	}
	window := out.End.Sub(out.Start).Minutes()

	out.SignIns = h.signIns(steps, window)
	out.WeChat = h.weChat(steps)
	out.TokenLatency = h.latency(samples, steps)
	return out
}

func (h *History) signIns(steps []interval, window float64) SignIns {
	var out SignIns
	var grants, clients groups
	for i, k := range h.series {
		if k.fam == famTokens {
			grants.add(i, k.a)
			clients.add(i, k.b)
		}
	}
	out.ByGrantType = grants.series(steps)
	sortSeries(out.ByGrantType)
	for _, s := range out.ByGrantType {
		out.Total += s.Total
	}
	if window > 0 {
		out.PerMinute = out.Total / window
	}

	// Rank clients by their window total first, then draw only the top
	// ones and "other": two cheap passes instead of 200 series of points.
	totals := clients.totals(steps)
	order := make([]int, 0, len(totals))
	for g, t := range totals {
		if t > 0 && clients.labels[g] != OtherLabel {
			order = append(order, g)
		}
	}
	sort.Slice(order, func(x, y int) bool {
		a, b := order[x], order[y]
		if totals[a] != totals[b] {
			return totals[a] > totals[b]
		}
		return clients.labels[a] < clients.labels[b]
	})
	top := order[:min(len(order), h.opts.TopClients)]
	// drawn's lines follow top's order; the rest go into "other", last.
	var drawn groups
	inTop := make([]bool, len(totals))
	for _, g := range top {
		inTop[g] = true
		for _, i := range clients.members[g] {
			drawn.add(i, clients.labels[g])
		}
	}
	rest := 0.0
	for g, t := range totals {
		if !inTop[g] {
			rest += t
			for _, i := range clients.members[g] {
				drawn.add(i, OtherLabel)
			}
		}
	}
	out.ByClient = drawn.series(steps)
	if rest == 0 {
		out.ByClient = out.ByClient[:len(top)]
	}
	return out
}

func (h *History) weChat(steps []interval) WeChat {
	var out WeChat
	var calls, errs, outcomes groups
	for i, k := range h.series {
		if k.fam != famWeChat {
			continue
		}
		calls.add(i, k.a)
		if k.b != WeChatSuccess {
			errs.add(i, k.a)
			outcomes.add(i, k.a+"\x00"+k.b)
		}
	}
	callSeries := calls.series(steps)
	errSeries := errs.series(steps)
	outcomeTotals := outcomes.totals(steps)
	for _, c := range callSeries {
		a := APICalls{API: c.Label, Calls: c, Errors: Series{Label: c.Label, Points: zeroPoints(steps)}}
		for _, e := range errSeries {
			if e.Label == c.Label {
				a.Errors = e
			}
		}
		if c.Total > 0 {
			a.ErrorRatio = a.Errors.Total / c.Total
		}
		prefix := c.Label + "\x00"
		for g, label := range outcomes.labels {
			if len(label) > len(prefix) && label[:len(prefix)] == prefix && outcomeTotals[g] > 0 {
				a.ErrorsByOutcome = append(a.ErrorsByOutcome, OutcomeCount{Outcome: label[len(prefix):], Count: outcomeTotals[g]})
			}
		}
		sort.Slice(a.ErrorsByOutcome, func(x, y int) bool {
			p, q := a.ErrorsByOutcome[x], a.ErrorsByOutcome[y]
			if p.Count != q.Count {
				return p.Count > q.Count
			}
			return p.Outcome < q.Outcome
		})
		out.Calls += c.Total
		out.Errors += a.Errors.Total
		out.ByAPI = append(out.ByAPI, a)
	}
	sort.SliceStable(out.ByAPI, func(x, y int) bool {
		p, q := out.ByAPI[x], out.ByAPI[y]
		if p.Calls.Total != q.Calls.Total {
			return p.Calls.Total > q.Calls.Total
		}
		return p.API < q.API
	})
	return out
}

func zeroPoints(steps []interval) []Point {
	p := make([]Point, len(steps))
	for j, st := range steps {
		p[j] = Point{T: st.cur.t}
	}
	return p
}

// latency computes the window's quantiles from the bucket increase between
// the oldest and newest samples, and each interval's p99.
func (h *History) latency(samples []*sample, steps []interval) Latency {
	out := Latency{P99Series: Series{Label: "p99", Points: make([]Point, 0, len(steps))}}
	var b buckets
	for i, k := range h.series {
		if k.fam == famBucket {
			b.idx = append(b.idx, i)
			b.le = append(b.le, k.le)
		}
	}
	if len(b.idx) == 0 {
		for _, st := range steps {
			out.P99Series.Points = append(out.P99Series.Points, Point{T: st.cur.t, V: math.NaN()})
		}
		return out
	}
	sort.Sort(&b)
	counts := make([]float64, len(b.idx))
	if len(samples) > 1 {
		b.increase(samples[0], samples[len(samples)-1], counts)
		out.Count = counts[len(counts)-1]
		if out.Count > 0 {
			out.Known = true
			out.P50 = seconds(histogramQuantile(0.5, b.le, counts))
			out.P90 = seconds(histogramQuantile(0.9, b.le, counts))
			out.P99 = seconds(histogramQuantile(0.99, b.le, counts))
		}
	}
	for _, st := range steps {
		b.increase(st.prev, st.cur, counts)
		v := math.NaN()
		if counts[len(counts)-1] > 0 {
			v = histogramQuantile(0.99, b.le, counts)
		}
		out.P99Series.Points = append(out.P99Series.Points, Point{T: st.cur.t, V: v})
		out.P99Series.Total += counts[len(counts)-1]
	}
	return out
}

func seconds(s float64) time.Duration {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// buckets are the token route's bucket series sorted by upper bound; the
// last is +Inf (the count).
type buckets struct {
	idx []int
	le  []float64
}

func (b *buckets) Len() int           { return len(b.idx) }
func (b *buckets) Less(i, j int) bool { return b.le[i] < b.le[j] }
func (b *buckets) Swap(i, j int) {
	b.idx[i], b.idx[j] = b.idx[j], b.idx[i]
	b.le[i], b.le[j] = b.le[j], b.le[i]
}

// increase fills counts with the cumulative bucket increase from prev to
// cur. A count that went down means the histogram was recreated: the
// increase is then cur's counts, as PromQL's rate treats a reset.
func (b *buckets) increase(prev, cur *sample, counts []float64) {
	last := b.idx[len(b.idx)-1]
	c, cok := value(cur, last)
	p, pok := value(prev, last)
	reset := !pok || c < p
	for j, i := range b.idx {
		counts[j] = 0
		cv, ok := value(cur, i)
		if !cok || !ok {
			continue
		}
		if reset {
			counts[j] = cv
			continue
		}
		pv, _ := value(prev, i)
		counts[j] = max(cv-pv, 0)
	}
}

// histogramQuantile is PromQL's histogram_quantile over classic buckets:
// upper bounds le ascending with +Inf last, cumulative counts. The rank
// is interpolated linearly inside its bucket; the first bucket starts at
// 0, and a rank in the +Inf bucket yields the highest finite bound.
func histogramQuantile(q float64, le, counts []float64) float64 {
	n := len(le)
	if n < 2 || counts[n-1] <= 0 || math.IsNaN(q) {
		return math.NaN()
	}
	if q <= 0 {
		return math.Inf(-1)
	}
	if q >= 1 {
		return math.Inf(+1)
	}
	rank := q * counts[n-1]
	b := sort.Search(n-1, func(i int) bool { return counts[i] >= rank })
	if b == n-1 {
		return le[n-2]
	}
	if b == 0 && le[0] <= 0 {
		return le[0]
	}
	start, end, count := 0.0, le[b], counts[b]
	if b > 0 {
		start = le[b-1]
		count -= counts[b-1]
		rank -= counts[b-1]
	}
	if count <= 0 {
		return end
	}
	return start + (end-start)*(rank/count)
}

// value returns series i of s, and false when it was absent.
func value(s *sample, i int) (float64, bool) {
	if i >= len(s.v) || math.IsNaN(s.v[i]) {
		return 0, false
	}
	return s.v[i], true
}

// counterIncrease is the increase of counter series i from prev to cur. A
// series absent from prev appeared since (counters start at 0) and one that
// went down was reset: either way the increase is its current value.
func counterIncrease(prev, cur *sample, i int) float64 {
	c, ok := value(cur, i)
	if !ok {
		return 0
	}
	p, ok := value(prev, i)
	if !ok || c < p {
		return c
	}
	return c - p
}

// groups sums counter series into labelled lines.
type groups struct {
	labels  []string
	members [][]int  // series of each group
	pairs   []member // the same, flat and in series order, for the hot loops
	byLabel map[string]int
}

type member struct{ series, group int }

func (g *groups) add(series int, label string) {
	if g.byLabel == nil {
		g.byLabel = map[string]int{}
	}
	j, ok := g.byLabel[label]
	if !ok {
		j = len(g.labels)
		g.byLabel[label] = j
		g.labels = append(g.labels, label)
		g.members = append(g.members, nil)
	}
	g.members[j] = append(g.members[j], series)
	g.pairs = append(g.pairs, member{series, j})
}

// totals returns each group's increase over the steps. The loops run step
// by step so that each sample's increases are read in order.
func (g *groups) totals(steps []interval) []float64 {
	t := make([]float64, len(g.labels))
	for _, st := range steps {
		inc := st.cur.inc
		for _, m := range g.pairs {
			if m.series < len(inc) {
				t[m.group] += inc[m.series]
			}
		}
	}
	return t
}

// series returns each group's per-minute rate at every step, in the
// groups' order.
func (g *groups) series(steps []interval) []Series {
	out := make([]Series, len(g.labels))
	points := make([]Point, len(g.labels)*len(steps)) // one allocation for all lines
	for j := range out {
		out[j] = Series{Label: g.labels[j], Points: points[j*len(steps) : (j+1)*len(steps) : (j+1)*len(steps)]}
	}
	acc := make([]float64, len(g.labels))
	for k, st := range steps {
		clear(acc)
		inc := st.cur.inc
		for _, m := range g.pairs {
			if m.series < len(inc) {
				acc[m.group] += inc[m.series]
			}
		}
		for j, d := range acc {
			out[j].Total += d
			out[j].Points[k] = Point{T: st.cur.t, V: d / st.minutes}
		}
	}
	return out
}

func sortSeries(s []Series) {
	sort.SliceStable(s, func(x, y int) bool {
		if s[x].Total != s[y].Total {
			return s[x].Total > s[y].Total
		}
		return s[x].Label < s[y].Label
	})
}
