package pages

import "testing"

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		uiLocales, acceptLanguage string
		want                      Locale
	}{
		// Nothing to go on: Chinese, the users' language.
		{"", "", ZhCN},
		{"   ", "  ", ZhCN},
		// ui_locales wins over Accept-Language; its first supported tag counts.
		{"en", "zh-CN", En},
		{"zh-CN", "en-US", ZhCN},
		{"fr-CA en zh-CN", "zh", En},
		{"fr de", "en-GB", En},
		{"EN-us", "", En},
		{"ZH-hans-CN", "en", ZhCN},
		{"zh-TW", "en", ZhCN},
		{"zh-Hant", "", ZhCN},
		{"en-GB", "", En},
		{"fr", "", ZhCN},
		{"x<script> en", "", En},
		{"e1 zh", "", ZhCN},
		// Accept-Language: the highest q-value among supported tags.
		{"", "en-US,en;q=0.9", En},
		{"", "zh-CN,zh;q=0.9,en;q=0.8", ZhCN},
		{"", "en;q=0.5, zh-TW;q=0.8", ZhCN},
		{"", "zh;q=0.3, en-GB;q=0.7", En},
		{"", "fr-FR, fr;q=0.9, en;q=0.1", En},
		{"", "fr, de", ZhCN},
		{"", "EN-AU", En},
		{"", "zh-tw", ZhCN},
		// Equal q: the earlier one.
		{"", "en;q=0.8, zh;q=0.8", En},
		{"", "zh, en", ZhCN},
		// q=0 means "not this one".
		{"", "en;q=0, zh;q=0.1", ZhCN},
		{"", "zh;q=0, en;q=0.1", En},
		{"", "en;q=0", ZhCN},
		// "*" is the default language at its q.
		{"", "fr, *;q=0.5, en;q=0.4", ZhCN},
		{"", "fr, *;q=0.3, en;q=0.4", En},
		// Garbage is skipped, not fatal.
		{"", "en;q=NaN, zh;q=0.1", ZhCN},
		{"", "en;q=2, zh;q=0.1", ZhCN},
		{"", "en;q=1e0", ZhCN},
		{"", "en;q=-0.5", ZhCN},
		{"", "en;level=1", ZhCN},
		{"", ";;;,,,==", ZhCN},
		{"", "en-US-x-subtaglongerthaneight", ZhCN},
		{"", "\xff\xfe, en", En},
		{"", "en;q=0.123", En},
		{"", "en;q=0.1234", ZhCN},
		{"", " en ; q = 0.7 ", En},
	} {
		if got := Negotiate(tc.uiLocales, tc.acceptLanguage); got != tc.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", tc.uiLocales, tc.acceptLanguage, got, tc.want)
		}
	}
}
