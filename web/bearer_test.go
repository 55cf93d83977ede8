package web

import "testing"

func TestParseBearer(t *testing.T) {
	for _, tc := range []struct {
		name, header, token string
		isBearer            bool
	}{
		{"no header", "", "", false},
		{"another scheme", "Basic Zm9vOmJhcg==", "", false},
		{"a longer scheme name", "Bearerx abc", "", false},
		{"no separator", "Bearerabc", "", false},
		{"tab separator", "Bearer\tabc", "", false},
		{"scheme in a token", "Token Bearer abc", "", false},
		{"canonical", "Bearer abc", "abc", true},
		{"lower case scheme", "bearer abc", "abc", true},
		{"upper case scheme", "BEARER abc", "abc", true},
		{"mixed case scheme", "bEaReR abc", "abc", true},
		{"several spaces (1*SP)", "Bearer   abc", "abc", true},
		{"whitespace around the value", " \tBearer abc \t", "abc", true},
		{"all b64token characters", "Bearer azAZ09-._~+/", "azAZ09-._~+/", true},
		{"trailing padding", "Bearer abc==", "abc==", true},
		{"a JWT", "Bearer eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJub25lIn0.e30.", true},
		{"scheme only", "Bearer", "", true},
		{"scheme and spaces", "Bearer    ", "", true},
		{"padding only", "Bearer ==", "", true},
		{"padding inside", "Bearer ab=c", "", true},
		{"two tokens", "Bearer abc def", "", true},
		{"quoted token", `Bearer "abc"`, "", true},
		{"comma", "Bearer abc,def", "", true},
		{"auth-param syntax", "Bearer token=abc", "", true},
		{"non-ASCII", "Bearer ab\xffc", "", true},
		{"control character", "Bearer ab\x00c", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token, isBearer := parseBearer(tc.header)
			if token != tc.token || isBearer != tc.isBearer {
				t.Fatalf("parseBearer(%q) = %q, %v; want %q, %v", tc.header, token, isBearer, tc.token, tc.isBearer)
			}
		})
	}
}
