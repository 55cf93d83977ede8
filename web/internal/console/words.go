package console

import (
	"fmt"
	"time"

	"github.com/wxoidc/wxoidc/web/internal/pages"
)

// phrase is one text in both languages. Texts may hold fmt verbs: the
// template function t fills them in.
type phrase struct{ en, zh string }

// words maps a key to its phrase. Each page's file adds its own with
// addWords, so pages can be written side by side.
var words = map[string]phrase{}

func addWords(m map[string]phrase) {
	for k, v := range m {
		if _, dup := words[k]; dup {
			panic("console: word " + k + " defined twice")
		}
		words[k] = v
	}
}

func init() { addWords(commonWords) }

var commonWords = map[string]phrase{
	"product":           {"wxoidc admin console", "wxoidc 管理控制台"},
	"nav.keys":          {"Signing keys", "签名密钥"},
	"nav.clients":       {"Clients", "客户端"},
	"nav.accounts":      {"Accounts", "账号"},
	"nav.audit":         {"Audit log", "审计日志"},
	"nav.health":        {"Health", "运行状况"},
	"signed_in_as":      {"Signed in with token “%s”", "已使用令牌“%s”登录"},
	"sign_out":          {"Sign out", "退出登录"},
	"lang.other":        {"中文", "English"},
	"login.title":       {"Sign in to the admin console", "登录管理控制台"},
	"login.lead":        {"Paste an admin bearer token from the server's configuration (admin.tokens). It is checked once and never stored in your browser.", "粘贴服务器配置（admin.tokens）中的管理员令牌。令牌只校验一次，不会保存在浏览器中。"},
	"login.token":       {"Admin token", "管理员令牌"},
	"login.submit":      {"Sign in", "登录"},
	"login.bad_token":   {"That token is not an admin token of this server.", "该令牌不是本服务器的管理员令牌。"},
	"login.no_token":    {"Paste a token first.", "请先粘贴令牌。"},
	"login.expired":     {"Your session ended. Sign in again.", "会话已结束，请重新登录。"},
	"login.signed_out":  {"You are signed out.", "您已退出登录。"},
	"login.stale_form":  {"The sign-in form was stale (or cookies are blocked). Try again.", "登录表单已失效（或浏览器禁用了 Cookie），请重试。"},
	"error.title":       {"Something went wrong", "出错了"},
	"error.forbidden":   {"This request was refused: it did not come from a console page of this server (missing or wrong CSRF token). Go back, reload the page and try again.", "请求被拒绝：它并非来自本服务器的控制台页面（CSRF 令牌缺失或错误）。请返回、刷新页面后重试。"},
	"error.not_found":   {"No such page.", "页面不存在。"},
	"error.unavailable": {"Storage is not answering right now. Nothing was changed; try again in a moment.", "存储暂时无响应，未做任何更改，请稍后重试。"},
	"error.internal":    {"The server could not complete this request. Nothing secret was shown; the server log has the details.", "服务器无法完成此请求。详情见服务器日志。"},
	"error.back":        {"Back to the console", "返回控制台"},
	"time.ago":          {"%s ago", "%s前"},
	"time.in":           {"in %s", "%s后"},
	"time.now":          {"now", "现在"},
	"time.never":        {"never", "从不"},
	"yes":               {"yes", "是"},
	"no":                {"no", "否"},
	"confirm.type":      {"Type %s to confirm", "输入 %s 以确认"},
	"confirm.mismatch":  {"What you typed does not match; nothing was changed.", "输入内容不匹配，未做任何更改。"},
	"pager.next":        {"Next page →", "下一页 →"},
	"pager.first":       {"← First page", "← 第一页"},
	"none":              {"None.", "无。"},
}

// text returns key's phrase in loc, filled with args. A missing key is a
// programming error; it shows as the key so a test sees it.
func text(loc pages.Locale, key string, args ...any) string {
	p, ok := words[key]
	if !ok {
		return "!" + key
	}
	s := p.zh
	if loc == pages.En {
		s = p.en
	}
	if len(args) > 0 {
		s = fmt.Sprintf(s, args...)
	}
	return s
}

// duration says d in words ("3 min", "2 h 5 min", "4 d 3 h"), coarse enough
// to read at a glance.
func duration(loc pages.Locale, d time.Duration) string {
	if d < 0 {
		d = -d
	}
	unit := func(en, zh string) string {
		if loc == pages.En {
			return en
		}
		return zh
	}
	sec, min, h, day := unit(" s", "秒"), unit(" min", "分钟"), unit(" h", "小时"), unit(" d", "天")
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d%s", int(d/time.Second), sec)
	case d < time.Hour:
		return fmt.Sprintf("%d%s", int(d/time.Minute), min)
	case d < 24*time.Hour:
		if m := int(d%time.Hour) / int(time.Minute); m != 0 {
			return fmt.Sprintf("%d%s %d%s", int(d/time.Hour), h, m, min)
		}
		return fmt.Sprintf("%d%s", int(d/time.Hour), h)
	default:
		if hh := int(d%(24*time.Hour)) / int(time.Hour); hh != 0 {
			return fmt.Sprintf("%d%s %d%s", int(d/(24*time.Hour)), day, hh, h)
		}
		return fmt.Sprintf("%d%s", int(d/(24*time.Hour)), day)
	}
}

// relative says when t is from now: "3 min ago", "in 2 h".
func relative(loc pages.Locale, now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case t.IsZero():
		return text(loc, "time.never")
	case d > -time.Second && d < time.Second:
		return text(loc, "time.now")
	case d < 0:
		return text(loc, "time.ago", duration(loc, d))
	default:
		return text(loc, "time.in", duration(loc, d))
	}
}

// stamp formats t for tables: UTC, to the minute.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
