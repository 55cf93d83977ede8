package pages

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// words holds every sentence the pages show, per locale. "{client}" is
// replaced by the client's display name (or a "this app" fallback). The
// Chinese is written as a Chinese product would write it, not translated
// word for word.
var words = map[Locale]map[string]string{
	ZhCN: {
		"this_app":          "该应用",
		"sentence_gap":      "",
		"login.title":       "登录{client}",
		"login.subtitle":    "使用微信账号登录",
		"login.none":        "该应用暂未开放登录，请稍后再试。",
		"login.gets":        "登录后，{client}将获得：",
		"login.no_password": "{client}不会获得你的微信密码。",
		"privacy":           "隐私政策",

		"method.website_qr":            "微信登录",
		"method.website_qr.hint":       "在微信官方页面扫码登录",
		"method.official_account":      "微信快捷登录",
		"method.official_account.hint": "在微信中确认身份",
		"method.miniprogram_scan":      "微信扫码登录",
		"method.miniprogram_scan.hint": "用手机微信扫小程序码",
		"method.other":                 "使用微信登录",

		"scope.openid":         "你的微信身份（用于识别你）",
		"scope.phone":          "你的手机号",
		"scope.wechat":         "你的微信用户标识（用于关联你的账号）",
		"scope.offline_access": "长期访问权限，让你保持登录",

		"consent.title":    "授权{client}",
		"consent.gets":     "{client}将获得：",
		"consent.allow":    "允许",
		"consent.deny":     "拒绝",
		"consent.remember": "你的选择会被记住，下次登录不再询问。",

		"back":    "返回{client}",
		"retry":   "重新登录",
		"code":    "错误代码：",
		"not_you": "这不是你的问题。",
		"close":   "你现在可以关闭此页面。",

		"loggedout.title": "已退出登录",
		"loggedout.body":  "你已在此浏览器上退出登录。",

		"logout.title":  "退出登录？",
		"logout.body":   "{client}请求让你退出登录。",
		"logout.body0":  "你将在此浏览器上退出登录。",
		"logout.submit": "退出登录",
		"logout.cancel": "取消",
		"logout.stay":   "如果不想退出，直接关闭此页面即可。",

		"others": "其他登录方式",

		"scan.alt":      "用微信扫描此小程序码，登录{client}",
		"scan.pending":  "请使用微信扫一扫",
		"scan.scanned":  "已扫描，请在手机上确认",
		"scan.approved": "登录成功，正在跳转",
		"scan.denied":   "已取消",
		"scan.expired":  "二维码已过期，点击刷新",
		"scan.error":    "暂时连不上服务器，正在重试…",
		"scan.refresh":  "刷新二维码",
		"scan.retry":    "再试一次",
		"scan.click":    "点击刷新",
		"scan.noscript": "自动等待确认需要开启 JavaScript。",
	},
	En: {
		"this_app":          "this app",
		"sentence_gap":      " ",
		"login.title":       "Sign in to {client}",
		"login.subtitle":    "with your WeChat account",
		"login.none":        "Signing in to this app isn't available yet. Please try again later.",
		"login.gets":        "After you sign in, {client} will get:",
		"login.no_password": "{client} never sees your WeChat password.",
		"privacy":           "Privacy policy",

		"method.website_qr":            "Sign in with WeChat",
		"method.website_qr.hint":       "Scan a code on WeChat's own page",
		"method.official_account":      "Continue with WeChat",
		"method.official_account.hint": "Confirm who you are in WeChat",
		"method.miniprogram_scan":      "Scan with WeChat",
		"method.miniprogram_scan.hint": "Scan a Mini Program code with your phone",
		"method.other":                 "Sign in with WeChat",

		"scope.openid":         "Your WeChat identity (to recognise you)",
		"scope.phone":          "Your phone number",
		"scope.wechat":         "Your WeChat user IDs (to link your accounts)",
		"scope.offline_access": "Ongoing access, so you stay signed in",

		"consent.title":    "Allow {client}?",
		"consent.gets":     "{client} will get:",
		"consent.allow":    "Allow",
		"consent.deny":     "Deny",
		"consent.remember": "We'll remember your choice, so you won't be asked again.",

		"back":    "Back to {client}",
		"retry":   "Sign in again",
		"code":    "Error code: ",
		"not_you": "This isn't your fault.",
		"close":   "You can close this page now.",

		"loggedout.title": "You're signed out",
		"loggedout.body":  "You've been signed out in this browser.",

		"logout.title":  "Sign out?",
		"logout.body":   "{client} is asking to sign you out.",
		"logout.body0":  "You'll be signed out in this browser.",
		"logout.submit": "Sign out",
		"logout.cancel": "Cancel",
		"logout.stay":   "To stay signed in, just close this page.",

		"others": "Other ways to sign in",

		"scan.alt":      "Code to scan with WeChat to sign in to {client}",
		"scan.pending":  "Scan with WeChat",
		"scan.scanned":  "Scanned. Confirm on your phone",
		"scan.approved": "Signed in, redirecting",
		"scan.denied":   "Cancelled",
		"scan.expired":  "Code expired. Click to refresh",
		"scan.error":    "Can't reach the server right now. Still trying…",
		"scan.refresh":  "Refresh code",
		"scan.retry":    "Try again",
		"scan.click":    "Click to refresh",
		"scan.noscript": "Waiting for your confirmation needs JavaScript.",
	},
}

// errorWords is what each ErrorKind says: a title, what happened (Body),
// whether it was the person's fault (NotYours adds "this isn't your fault"),
// and what to do next (Next).
type errorWords struct {
	Title, Body, Next string
	NotYours          bool
	Icon              string // "warn" for failures, "info" for things the person chose
}

var errorTexts = map[Locale]map[ErrorKind]errorWords{
	ZhCN: {
		ErrBadRequest:        {"登录链接有误", "{client}发来的登录请求不完整或有误。", "请返回{client}重新登录。如果仍然出错，请联系{client}的客服。", true, "warn"},
		ErrUnknownClient:     {"无法识别该应用", "发起登录的应用没有在本服务登记。", "请返回原网站，或联系它的客服。", true, "warn"},
		ErrBadRedirectURI:    {"登录已停止", "{client}要求把你带到一个没有登记的地址。为保护你的账号，登录已停止。", "请联系{client}的客服。", true, "warn"},
		ErrClientDisabled:    {"该应用已停用", "{client}暂时无法使用微信登录。", "请稍后再试，或联系{client}的客服。", true, "warn"},
		ErrAccountDisabled:   {"账号已停用", "你的账号已被停用，暂时无法登录。", "如有疑问，请联系客服。", false, "warn"},
		ErrSnapshotUser:      {"请在微信中完成授权", "你正在微信的预览页面中，我们无法确认你的身份。", "请点击页面底部的「使用完整服务」，或在微信中重新打开链接并同意授权。", false, "info"},
		ErrWeChatDenied:      {"你已取消登录", "你在微信中取消了授权，{client}没有获得你的任何信息。", "如需登录，请重新开始。", false, "info"},
		ErrFlowExpired:       {"登录已过期", "登录用时太久，或这个链接已经用过了。", "请重新登录。", false, "info"},
		ErrBrowserMismatch:   {"请在同一浏览器中登录", "这次登录是在另一个浏览器中发起的。为保护你的账号，登录已停止。", "请回到发起登录的浏览器，或在这里重新登录。", false, "warn"},
		ErrWeChatUnavailable: {"微信暂时繁忙", "暂时无法连接微信。", "请稍后再试。", true, "warn"},
		ErrWeChatError:       {"微信登录失败", "微信没有完成这次登录。", "请重新登录。如果仍然失败，请稍后再试。", true, "warn"},
		ErrServerError:       {"出了点问题", "我们这边出了故障，登录没有完成。", "请稍后重新登录。", true, "warn"},
		ErrNotFound:          {"页面不存在", "这个地址没有对应的页面。", "请检查链接是否完整。", false, "info"},
		ErrScanUnavailable:   {"暂时无法生成小程序码", "微信暂时没能生成登录用的小程序码。", "请稍后再试，或使用其他方式登录。", true, "warn"},
		"":                   {"无法完成登录", "登录过程中出现了问题。", "请返回重新登录。", false, "warn"},
	},
	En: {
		ErrBadRequest:        {"This sign-in link is broken", "The sign-in request from {client} is incomplete or invalid.", "Go back to {client} and try again. If it keeps happening, contact {client}'s support.", true, "warn"},
		ErrUnknownClient:     {"Unknown app", "The app that sent you here isn't registered with this sign-in service.", "Go back to the site you came from, or contact its support.", true, "warn"},
		ErrBadRedirectURI:    {"Sign-in stopped", "{client} asked to send you to an address it hasn't registered. To protect your account, sign-in was stopped.", "Please contact {client}'s support.", true, "warn"},
		ErrClientDisabled:    {"This app is disabled", "Signing in to {client} with WeChat is switched off for now.", "Try again later, or contact {client}'s support.", true, "warn"},
		ErrAccountDisabled:   {"Your account is disabled", "Your account has been disabled, so you can't sign in right now.", "If you think this is a mistake, contact support.", false, "warn"},
		ErrSnapshotUser:      {"Please authorize in WeChat", "You're on WeChat's preview page, so we can't tell who you are.", "Tap “Use full service” at the bottom of the page, or reopen the link in WeChat and allow access.", false, "info"},
		ErrWeChatDenied:      {"You cancelled", "You cancelled in WeChat. {client} received nothing about you.", "To sign in, start again.", false, "info"},
		ErrFlowExpired:       {"This sign-in has expired", "It took too long, or this link was already used.", "Please sign in again.", false, "info"},
		ErrBrowserMismatch:   {"Use the same browser", "This sign-in was started in another browser. To protect your account, it was stopped.", "Go back to the browser where you started, or sign in again here.", false, "warn"},
		ErrWeChatUnavailable: {"WeChat is busy", "We couldn't reach WeChat just now.", "Please try again in a moment.", true, "warn"},
		ErrWeChatError:       {"WeChat sign-in failed", "WeChat didn't complete this sign-in.", "Please sign in again. If it still fails, try again later.", true, "warn"},
		ErrServerError:       {"Something went wrong", "Something broke on our side, so sign-in didn't finish.", "Please sign in again in a little while.", true, "warn"},
		ErrNotFound:          {"Page not found", "There's no page at this address.", "Check that the link is complete.", false, "info"},
		ErrScanUnavailable:   {"Couldn't make a sign-in code", "WeChat couldn't make a code for you to scan just now.", "Try again in a moment, or use another way to sign in.", true, "warn"},
		"":                   {"Sign-in couldn't be completed", "Something went wrong during sign-in.", "Please go back and sign in again.", false, "warn"},
	},
}

// wordsFor returns loc's words, falling back to zh-CN for a Locale that is
// not one of ours (a caller's zero value).
func wordsFor(loc Locale) (Locale, map[string]string) {
	if w, ok := words[loc]; ok {
		return loc, w
	}
	return ZhCN, words[ZhCN]
}

// fill replaces {client} in text by client. Between a Latin name and Chinese
// text it puts a space ("联系 Grafana 的客服"), as Chinese typesetting does,
// but not before full-width punctuation.
func fill(text, client string) string {
	var b strings.Builder
	for {
		before, after, found := strings.Cut(text, "{client}")
		b.WriteString(before)
		if !found {
			return b.String()
		}
		prev, _ := utf8.DecodeLastRuneInString(before)
		next, _ := utf8.DecodeRuneInString(after)
		first, _ := utf8.DecodeRuneInString(client)
		last, _ := utf8.DecodeLastRuneInString(client)
		if isHan(prev) && isLatin(first) {
			b.WriteByte(' ')
		}
		b.WriteString(client)
		if isLatin(last) && isHan(next) {
			b.WriteByte(' ')
		}
		text = after
	}
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func isLatin(r rune) bool { return r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) }

// scopeWords turns scope names into phrases, in order, without duplicates;
// a scope we have no words for is shown by its name.
func scopeWords(w map[string]string, scopes []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range scopes {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		if phrase, ok := w["scope."+s]; ok {
			out = append(out, phrase)
		} else {
			out = append(out, s)
		}
	}
	return out
}
