package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/storage"
)

func init() { addWords(auditWords) }

var auditWords = map[string]phrase{
	"audit.title":          {"Audit log", "审计日志"},
	"audit.lead":           {"Every change made through the console, the admin API or the CLI, and every change of the signing keys, newest first. Times are UTC.", "通过控制台、管理 API 或命令行所做的每项更改，以及签名密钥的每次变化，按时间倒序排列。时间均为 UTC。"},
	"audit.actor":          {"Actor", "操作者"},
	"audit.actor.hint":     {"Exact, or end with * for every actor it begins: admin-console:*", "精确匹配；以 * 结尾则匹配所有以此开头的操作者，例如 admin-console:*"},
	"audit.action":         {"Action", "操作"},
	"audit.action.hint":    {"Exact, or end with * for every action it begins: keys.*", "精确匹配；以 * 结尾则匹配所有以此开头的操作，例如 keys.*"},
	"audit.since":          {"From (UTC)", "起始时间（UTC）"},
	"audit.until":          {"Until (UTC, this minute included)", "截止时间（UTC，含该分钟）"},
	"audit.filter":         {"Filter", "筛选"},
	"audit.clear":          {"Clear filters", "清除筛选"},
	"audit.col.at":         {"Time (UTC)", "时间（UTC）"},
	"audit.col.actor":      {"Actor", "操作者"},
	"audit.col.action":     {"Action", "操作"},
	"audit.col.target":     {"Target", "对象"},
	"audit.col.details":    {"Details", "详情"},
	"audit.empty":          {"No audit events match.", "没有符合条件的审计记录。"},
	"audit.err.since":      {"“From” is not a date and time (use the picker, or write 2026-01-31T09:30).", "“起始时间”不是有效的日期时间（请使用选择器，或写作 2026-01-31T09:30）。"},
	"audit.err.until":      {"“Until” is not a date and time (use the picker, or write 2026-01-31T18:00).", "“截止时间”不是有效的日期时间（请使用选择器，或写作 2026-01-31T18:00）。"},
	"audit.err.range":      {"“Until” is before “From”: nothing can match.", "“截止时间”早于“起始时间”，不会有任何匹配。"},
	"audit.err.before":     {"The page link is broken (before must be an event number). Showing the newest events.", "分页链接无效（before 必须是记录编号），已显示最新记录。"},
	"audit.err.too_long":   {"A filter is too long (at most %d characters).", "筛选条件过长（最多 %d 个字符）。"},
	"audit.showing_before": {"Showing events older than #%d.", "显示编号 #%d 之前的记录。"},
}

func (c *Console) auditRoutes(r chi.Router) {
	r.Get("/audit", c.auditPage)
}

// auditPageSize is the number of events on one page.
const auditPageSize = 50

// maxFilterLen bounds an actor or action filter (both are short names).
const maxFilterLen = 200

// auditForm is the filter form as typed, shown back as it was.
type auditForm struct {
	Actor, Action, Since, Until string
}

type auditRow struct {
	admin.AuditEntry
	When    string // UTC, to the second: several events share a minute
	Details string // compact key=value
}

type auditData struct {
	Form     auditForm
	Errors   []string
	Rows     []auditRow
	Before   int64
	Next     string // the next page's URL, "" on the last page
	First    string // the first page's URL with the same filters
	Filtered bool
}

// datetimeLayouts are what a datetime-local input sends (with or without
// seconds), and the same with a space, as people type it.
var datetimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"}

// parseUTC reads a datetime-local value as UTC. It returns how much the
// value covers (a minute, or a second), so that "until" includes it.
func parseUTC(s string) (time.Time, time.Duration, bool) {
	for _, l := range datetimeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			if strings.Count(l, ":") == 2 {
				return t, time.Second, true
			}
			return t, time.Minute, true
		}
	}
	return time.Time{}, 0, false
}

// matchFilter turns a typed filter into a value and whether it is a
// prefix: a trailing * asks for every name it begins.
func matchFilter(s string) (string, bool) {
	if p, ok := strings.CutSuffix(s, "*"); ok {
		return p, true
	}
	return s, false
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	v := c.newView(r, sessionOf(r), "audit", "audit.title")
	q := r.URL.Query()
	d := auditData{Form: auditForm{
		Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")),
		Since: strings.TrimSpace(q.Get("since")), Until: strings.TrimSpace(q.Get("until")),
	}}
	f := storage.AuditFilter{Limit: auditPageSize}
	status := http.StatusOK
	bad := func(msg string) {
		d.Errors = append(d.Errors, msg)
		status = http.StatusBadRequest
	}
	if len(d.Form.Actor) > maxFilterLen || len(d.Form.Action) > maxFilterLen {
		bad(v.T("audit.err.too_long", maxFilterLen))
	} else {
		f.Actor, f.ActorPrefix = matchFilter(d.Form.Actor)
		f.Action, f.ActionPrefix = matchFilter(d.Form.Action)
	}
	if d.Form.Since != "" {
		if t, _, ok := parseUTC(d.Form.Since); ok {
			f.Since = t
		} else {
			bad(v.T("audit.err.since"))
		}
	}
	if d.Form.Until != "" {
		if t, span, ok := parseUTC(d.Form.Until); ok {
			f.Until = t.Add(span)
		} else {
			bad(v.T("audit.err.until"))
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		bad(v.T("audit.err.range"))
	}
	// A filter in error shows nothing rather than other events than were
	// asked for; a broken page link alone shows the newest page.
	filterOK := len(d.Errors) == 0
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			bad(v.T("audit.err.before"))
		} else {
			f.BeforeID, d.Before = n, n
		}
	}
	d.Filtered = d.Form != auditForm{}
	d.First = c.auditURL(d.Form, 0)
	if filterOK {
		page, err := c.svc.AuditFiltered(r.Context(), f)
		if err != nil {
			c.fail(w, r, "/audit", err)
			return
		}
		for _, e := range page.Events {
			d.Rows = append(d.Rows, auditRow{AuditEntry: e, When: e.At.UTC().Format("2006-01-02 15:04:05"), Details: compactDetails(e.Details)})
		}
		if page.NextBefore != 0 {
			d.Next = c.auditURL(d.Form, page.NextBefore)
		}
	}
	v.Data = d
	c.show(w, r, status, "audit", v)
}

// auditURL is the audit page with the form's filters, older than before
// (0: the newest).
func (c *Console) auditURL(f auditForm, before int64) string {
	q := url.Values{}
	for k, val := range map[string]string{"actor": f.Actor, "action": f.Action, "since": f.Since, "until": f.Until} {
		if val != "" {
			q.Set(k, val)
		}
	}
	if before > 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	if len(q) == 0 {
		return Prefix + "/audit"
	}
	return Prefix + "/audit?" + q.Encode()
}

// compactDetails writes an event's details as "key=value key=value", keys
// sorted. Details never hold secrets (admin.Auditor's rule); a string
// under a key that sounds secret is masked all the same, so a future
// mistake does not end up on a screen.
func compactDetails(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(detailValue(k, m[k]))
	}
	return b.String()
}

func detailValue(key string, v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		lk := strings.ToLower(key)
		if x != "" && (strings.Contains(lk, "secret") || strings.Contains(lk, "password") || strings.Contains(lk, "phone")) {
			return "[hidden]"
		}
		if x == "" {
			return `""`
		}
		if strings.ContainsAny(x, " \t\n") {
			return strconv.Quote(x)
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		raw, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(raw)
	}
}
