package web

import (
	"net/http"
	"strings"
)

// bearerToken returns the access token of r's Authorization header; see
// parseBearer. The UserInfo endpoint and the admin API both read it here.
func bearerToken(r *http.Request) (token string, isBearer bool) {
	return parseBearer(r.Header.Get("Authorization"))
}

// parseBearer reads an Authorization header value as RFC 6750 §2.1
// credentials: the scheme "Bearer" in any case (RFC 9110 §11.1), one or more
// spaces (the RFC's 1*SP), then a b64token. isBearer reports whether the
// header uses the Bearer scheme at all, so that a caller can tell missing
// credentials from bad ones; token is "" when the credentials are empty or
// malformed. Whitespace around the whole value is not part of it (RFC 9110
// §5.5).
func parseBearer(header string) (token string, isBearer bool) {
	h := strings.Trim(header, " \t")
	const scheme = "bearer"
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	rest := h[len(scheme):]
	if rest == "" {
		return "", true
	}
	if rest[0] != ' ' {
		return "", false // another scheme that starts with "bearer", or a tab
	}
	token = strings.TrimLeft(rest, " ")
	if !isB64Token(token) {
		return "", true
	}
	return token, true
}

// isB64Token reports whether s matches RFC 6750 §2.1's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
