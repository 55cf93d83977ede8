package pages

import (
	"strconv"
	"strings"
)

// Locale is a page language we have words for.
type Locale string

// The page languages. zh-CN is the default: most users are Chinese.
const (
	ZhCN Locale = "zh-CN"
	En   Locale = "en"
)

// Negotiate picks the page language: the first supported tag of ui_locales
// (space-separated, OIDC Core §3.1.2.1), else the best of Accept-Language
// (RFC 9110 §12.5.4; q-values honoured; zh, zh-CN, zh-Hans, zh-TW… → zh-CN;
// en-* → en), else zh-CN. Malformed input never fails: it is ignored.
func Negotiate(uiLocales, acceptLanguage string) Locale {
	for _, tag := range strings.Fields(uiLocales) {
		if l, ok := supported(tag); ok {
			return l
		}
	}
	if l, ok := fromAcceptLanguage(acceptLanguage); ok {
		return l
	}
	return ZhCN
}

// supported maps a language tag (RFC 5646, any case) to the Locale that
// serves it. Every Chinese variant gets zh-CN: it is the only Chinese we
// write, and a zh-TW reader understands it better than English.
func supported(tag string) (Locale, bool) {
	if !wellFormed(tag) {
		return "", false
	}
	primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
	switch primary {
	case "zh":
		return ZhCN, true
	case "en":
		return En, true
	}
	return "", false
}

// wellFormed is a loose RFC 5646 check: subtags of 1–8 ASCII letters or
// digits joined by '-', the first one letters only.
func wellFormed(tag string) bool {
	if tag == "" || len(tag) > 64 {
		return false
	}
	for i, sub := range strings.Split(tag, "-") {
		if sub == "" || len(sub) > 8 {
			return false
		}
		for _, c := range sub {
			letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			digit := c >= '0' && c <= '9'
			if !letter && !(digit && i > 0) {
				return false
			}
		}
	}
	return true
}

// fromAcceptLanguage returns the supported locale with the highest q-value;
// among equal q-values the earlier entry wins. "*" stands for the default.
// Entries with a malformed tag or q-value are skipped, and q=0 means "not
// this one".
func fromAcceptLanguage(header string) (Locale, bool) {
	var best Locale
	bestQ := 0.0
	for _, entry := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(entry, ";")
		tag = strings.TrimSpace(tag)
		q, ok := qValue(params)
		if !ok || q <= bestQ {
			continue
		}
		l, ok := supported(tag)
		if tag == "*" {
			l, ok = ZhCN, true
		}
		if ok {
			best, bestQ = l, q
		}
	}
	return best, best != ""
}

// qValue parses the parameters after a language tag: absent q means 1.
func qValue(params string) (float64, bool) {
	params = strings.TrimSpace(params)
	if params == "" {
		return 1, true
	}
	name, value, ok := strings.Cut(params, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
		return 0, false
	}
	value = strings.TrimSpace(value)
	// RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
	// Checking the shape first keeps out "NaN", "1e0", "-0" and friends.
	if len(value) == 0 || len(value) > 5 || value[0] != '0' && value[0] != '1' ||
		len(value) > 1 && (value[1] != '.' || strings.Trim(value[2:], "0123456789") != "") {
		return 0, false
	}
	q, err := strconv.ParseFloat(value, 64)
	if err != nil || q > 1 {
		return 0, false
	}
	return q, true
}
