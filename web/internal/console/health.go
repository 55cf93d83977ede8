package console

import (
	"fmt"
	"math"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/internal/metrics"
)

// HealthSource gives the health page its figures: rates over the last
// minutes sampled from the process's own Prometheus registry
// (metrics.History), so no Prometheus server is needed.
type HealthSource interface {
	Health() metrics.Health
}

func init() { addWords(healthWords) }

var healthWords = map[string]phrase{
	"health.title":             {"Health", "运行状况"},
	"health.lead":              {"This instance's own figures over the last %s, sampled every %s from its metrics (other instances have their own). For history and alerts, scrape /metrics with Prometheus.", "本实例最近 %s 的数据，每 %s 从自身指标采样一次（其他实例各有各的）。如需历史数据与告警，请用 Prometheus 抓取 /metrics。"},
	"health.off":               {"Health figures are not collected on this server (metrics are disabled).", "本服务器未收集运行数据（指标已关闭）。"},
	"health.warming":           {"Collecting: the first figures appear after two samples (%s).", "正在收集：两次采样后（%s）显示首批数据。"},
	"health.as_of":             {"As of %s.", "数据截至 %s。"},
	"health.refresh":           {"Refresh", "刷新"},
	"health.gather_error":      {"The last sample was incomplete: %s", "上次采样不完整：%s"},
	"health.signins":           {"Sign-ins (tokens issued)", "登录（签发令牌）"},
	"health.signins.total":     {"%.0f in the window, %.1f per minute.", "窗口内共 %.0f 次，每分钟 %.1f 次。"},
	"health.by_grant":          {"By grant", "按授权类型"},
	"health.by_client":         {"Top clients", "主要客户端"},
	"health.col.grant":         {"Grant type", "授权类型"},
	"health.col.client":        {"Client", "客户端"},
	"health.col.count":         {"In window", "窗口内"},
	"health.col.trend":         {"Per minute", "每分钟"},
	"health.wechat":            {"WeChat API calls", "微信接口调用"},
	"health.wechat.total":      {"%.0f calls, %.0f errors in the window.", "窗口内调用 %.0f 次，错误 %.0f 次。"},
	"health.col.api":           {"API", "接口"},
	"health.col.calls":         {"Calls", "调用"},
	"health.col.errors":        {"Errors", "错误"},
	"health.col.ratio":         {"Error ratio", "错误率"},
	"health.col.errcodes":      {"errcodes", "错误码"},
	"health.breaker":           {"WeChat circuit breaker", "微信熔断器"},
	"health.state.closed":      {"closed", "闭合"},
	"health.state.open":        {"open", "断开"},
	"health.state.half-open":   {"half-open", "半开"},
	"health.state.unknown":     {"unknown", "未知"},
	"health.breaker.closed":    {"Calls to WeChat go through.", "微信调用正常放行。"},
	"health.breaker.open":      {"Calls to WeChat are refused for now, after repeated failures: sign-ins fail fast with temporarily_unavailable.", "因连续失败，暂时拒绝微信调用：登录会立即返回 temporarily_unavailable。"},
	"health.breaker.half-open": {"Trying WeChat again with a few calls.", "正在用少量调用重新尝试微信。"},
	"health.breaker.unknown":   {"No breaker state on this instance.", "本实例没有熔断器状态。"},
	"health.latency":           {"Token endpoint latency", "令牌端点延迟"},
	"health.latency.none":      {"No token requests in the window.", "窗口内没有令牌请求。"},
	"health.latency.q":         {"p50 %s · p90 %s · p99 %s over %.0f requests", "p50 %s · p90 %s · p99 %s，共 %.0f 个请求"},
	"health.latency.trend":     {"p99 per interval", "每个采样间隔的 p99"},
}

func (c *Console) healthRoutes(r chi.Router) { r.Get("/health", c.healthPage) }

// percent writes a ratio as a percentage ("—" for no ratio).
func percent(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	return fmt.Sprintf("%.1f %%", 100*f)
}

// spark is the SVG path of a series' sparkline, 160×28 user units (the
// size the health template's viewBox gives it).
func spark(s metrics.Series) string { return metrics.SparklinePath(s.Values(), 160, 28) }

type healthData struct {
	On      bool
	Health  metrics.Health
	Warming bool
}

func (c *Console) healthPage(w http.ResponseWriter, r *http.Request) {
	v := c.newView(r, sessionOf(r), "health", "health.title")
	var d healthData
	if c.health != nil {
		d.On = true
		d.Health = c.health.Health()
		d.Warming = d.Health.Samples < 2
	}
	v.Data = d
	c.show(w, r, http.StatusOK, "health", v)
}
