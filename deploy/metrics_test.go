package deploy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/keys"
)

const (
	dashboardFile = "grafana/wxoidc-dashboard.json"
	alertsFile    = "prometheus/wxoidc-alerts.yaml"
)

// exportedMetrics builds an instance exactly as `wxoidc serve` does
// (app.New: every collector it wires, the optional ones included) and
// returns the type of each metric family it exports, by name. Counters and
// histograms with labels appear only once observed, so every one is
// touched once first, through the methods the product calls.
func exportedMetrics(t *testing.T) map[string]string {
	t.Helper()
	c := config.Default()
	c.AllowInlineSecrets = true
	c.Issuer = "http://127.0.0.1:1"
	c.Admin.Addr = ""
	c.Storage.DSN = "sqlite://" + filepath.Join(t.TempDir(), "wxoidc.db")
	c.Secrets.KEK = config.InlineSecret(base64.StdEncoding.EncodeToString(keys.GenerateKEK()))
	c.WeChat.Apps = []config.WeChatApp{{AppID: "wx00000000000000a1", Secret: config.InlineSecret("app-secret")}}
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	a, err := app.New(context.Background(), app.Options{Config: c})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })

	m := a.Metrics
	m.Listener("public").ObserveRequest("/oauth2/token", 200, time.Millisecond)
	m.ObserveTokenIssued("authorization_code", "client")
	m.ObserveCall("jscode2session", "0", time.Millisecond)
	m.ObserveKeyChange("rotate", keys.KeyInfo{Algorithm: "RS256"})
	m.AuditFailed()
	m.ObserveBackchannelLogout("delivered")

	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]string{}
	for _, f := range families {
		out[f.GetName()] = f.GetType().String()
	}
	return out
}

// knownMetric reports whether name is an exported family or a series of
// one: name_bucket of a histogram, name_sum and name_count of a histogram
// or summary.
func knownMetric(name string, exported map[string]string) bool {
	if _, ok := exported[name]; ok {
		return true
	}
	for suffix, types := range map[string][]string{
		"_bucket": {"HISTOGRAM"},
		"_sum":    {"HISTOGRAM", "SUMMARY"},
		"_count":  {"HISTOGRAM", "SUMMARY"},
	} {
		if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(types, exported[base]) {
			return true
		}
	}
	return false
}

// familyOf maps a series name back to its family (histogram suffixes off).
func familyOf(name string, exported map[string]string) string {
	if _, ok := exported[name]; ok {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if _, ok := exported[base]; ok {
				return base
			}
		}
	}
	return name
}

// query is one PromQL expression and where it comes from.
type query struct{ where, expr string }

// unknownMetrics returns, for each query, the metric names it uses that the
// product does not export, as "where: name" lines.
func unknownMetrics(queries []query, exported map[string]string) ([]string, error) {
	var bad []string
	for _, q := range queries {
		names, err := metricNames(q.expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.where, err)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: no metric in %q", q.where, q.expr)
		}
		for _, n := range names {
			if !knownMetric(n, exported) {
				bad = append(bad, q.where+": "+n)
			}
		}
	}
	return bad, nil
}

type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

// labelValues is Grafana's variable query label_values(SELECTOR, LABEL).
var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*$`)

func loadDashboard(t *testing.T) (dashboard, []query) {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var queries []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q does not use the datasource variable", p.Title)
			}
			for i, tg := range p.Targets {
				queries = append(queries, query{fmt.Sprintf("panel %q target %d", p.Title, i), tg.Expr})
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query: %v", v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("variable %s: %q is not label_values(SELECTOR, LABEL)", v.Name, q.Query)
		}
		queries = append(queries, query{"variable " + v.Name, m[1]})
	}
	return d, queries
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no rules", alertsFile)
	}
	return rules
}

// The dashboard and the alert rules query only metrics wxoidc exports, and
// the dashboard has a panel for every wxoidc metric plus the process and
// runtime metrics operators look at.
func TestQueriesUseExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	// The scrape-time collectors app.New wires must be there without any
	// observation: a missing one means the wiring was dropped.
	for _, name := range []string{
		"wxoidc_wechat_breaker_state", "wxoidc_scan_waiting_browsers", "wxoidc_signing_keys",
		"wxoidc_signing_key_age_seconds", "wxoidc_signing_key_next_rotation_seconds",
	} {
		if _, ok := exported[name]; !ok {
			t.Errorf("the product does not export %s", name)
		}
	}

	d, dashQueries := loadDashboard(t)
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want a current Grafana schema (36 or later)", d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["instance"] != "query" {
		t.Errorf("variables %v: want datasource (datasource) and instance (query)", vars)
	}

	var ruleQueries []query
	for _, r := range loadRules(t) {
		ruleQueries = append(ruleQueries, query{"alert " + r.Alert, r.Expr})
	}
	bad, err := unknownMetrics(append(dashQueries, ruleQueries...), exported)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Errorf("%s: not exported by wxoidc", b)
	}

	onDashboard := map[string]bool{}
	for _, q := range dashQueries {
		names, _ := metricNames(q.expr)
		for _, n := range names {
			onDashboard[familyOf(n, exported)] = true
		}
	}
	for name := range exported {
		if strings.HasPrefix(name, "wxoidc_") && !onDashboard[name] {
			t.Errorf("%s has no panel in %s", name, dashboardFile)
		}
	}
	for _, name := range []string{"process_resident_memory_bytes", "process_cpu_seconds_total", "go_goroutines"} {
		if !onDashboard[name] {
			t.Errorf("%s has no panel in %s", name, dashboardFile)
		}
	}
}

// The check above can fail: names the product does not export, suffixes a
// family's type does not have and misspelt functions are caught.
func TestUnknownMetricsAreCaught(t *testing.T) {
	exported := map[string]string{
		"wxoidc_tokens_issued_total":           "COUNTER",
		"wxoidc_http_request_duration_seconds": "HISTOGRAM",
		"go_gc_duration_seconds":               "SUMMARY",
	}
	for _, tc := range []struct {
		expr    string
		unknown []string
		err     string
	}{
		{expr: `sum by (client_id) (rate(wxoidc_tokens_issued_total{job=~"$job"}[$__rate_interval]))`},
		{expr: `histogram_quantile(0.99, sum by (le) (rate(wxoidc_http_request_duration_seconds_bucket[5m])))`},
		{expr: `rate(go_gc_duration_seconds_sum[5m]) / rate(go_gc_duration_seconds_count[5m])`},
		{expr: `rate(wxoidc_tokens_issued_totl[5m])`, unknown: []string{"wxoidc_tokens_issued_totl"}},
		{expr: `rate(wxoidc_tokens_issued_total_count[5m])`, unknown: []string{"wxoidc_tokens_issued_total_count"}},
		{expr: `go_gc_duration_seconds_bucket`, unknown: []string{"go_gc_duration_seconds_bucket"}},
		{expr: `wxoidc_tokens_issued_total unless on (job) wxoidc_wechat_breaker_state{state="open"} == 1`,
			unknown: []string{"wxoidc_wechat_breaker_state"}},
		{expr: `ratee(wxoidc_tokens_issued_total[5m])`, err: `unknown PromQL function "ratee"`},
		{expr: `sum(rate(wxoidc_tokens_issued_total[5m])`, err: "never closed"},
		{expr: `sum(a))`, err: "unbalanced"},
		{expr: `vector(1)`, err: "no metric"},
	} {
		bad, err := unknownMetrics([]query{{"q", tc.expr}}, exported)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.expr, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		var want []string
		for _, n := range tc.unknown {
			want = append(want, "q: "+n)
		}
		if !slices.Equal(bad, want) {
			t.Errorf("%s: unknown %q, want %q", tc.expr, bad, want)
		}
	}
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum without (instance) (a{b="c}{[", d!~'x\'y'}) > bool 0.5e3`, []string{"a"}},
		{"a offset 5m + b @ start() # c\n * on (x) group_left (y) d", []string{"a", "b", "d"}},
		{`max_over_time(a:recorded[1h:5m]) and ignoring(le) SUM BY (x) (b)`, []string{"a:recorded", "b"}},
		{`label_replace(a, "dst", "$1", "src", "(.*)") * ${scale} + $x`, []string{"a"}},
	} {
		got, err := metricNames(tc.expr)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
}

// Every alert can be routed and acted on: a for: clause, a severity, a
// summary and description, and a runbook that names an existing section
// of our documentation.
func TestAlertsAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			t.Errorf("rule %q is not an alert", r.Expr)
			continue
		}
		if seen[r.Alert] {
			t.Errorf("%s: defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if _, err := time.ParseDuration(r.For); err != nil {
			t.Errorf("%s: for: %q: %v", r.Alert, r.For, err)
		}
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[k]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, k)
			}
		}
		if err := checkDocLink(r.Annotations["runbook_url"]); err != nil {
			t.Errorf("%s: runbook_url: %v", r.Alert, err)
		}
	}
}

// checkDocLink checks that link, "docs/FILE.md#anchor", names a heading
// of that file (GitHub's anchors: lower case, punctuation dropped, spaces
// to hyphens).
func checkDocLink(link string) error {
	file, anchor, ok := strings.Cut(link, "#")
	if !ok || !strings.HasPrefix(file, "docs/") || anchor == "" {
		return fmt.Errorf("%q is not docs/FILE.md#section", link)
	}
	raw, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(file)))
	if err != nil {
		return err
	}
	var anchors []string
	for line := range strings.SplitSeq(string(raw), "\n") {
		if heading, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			anchors = append(anchors, githubAnchor(heading))
		}
	}
	if !slices.Contains(anchors, anchor) {
		return fmt.Errorf("%s has no section #%s (it has %s)", file, anchor, strings.Join(anchors, ", "))
	}
	return nil
}

func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r > 0x7f:
			b.WriteRune(r)
		}
	}
	return b.String()
}
