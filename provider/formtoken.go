package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// formTokenLifetime bounds how long a consent or logout page may stay open.
const formTokenLifetime = 30 * time.Minute

// ConsentToken is the CSRF token of a consent form: it binds the form to
// the login session, the client, the scopes and the request, and expires.
func (p *Provider) ConsentToken(r *AuthorizeRequest, login Login) string {
	return p.formToken(consentParts(r, login)...)
}

// CheckConsentToken reports whether tok is a live ConsentToken for r and login.
func (p *Provider) CheckConsentToken(tok string, r *AuthorizeRequest, login Login) bool {
	return p.checkFormToken(tok, consentParts(r, login)...)
}

func consentParts(r *AuthorizeRequest, login Login) []string {
	return []string{"consent", login.SessionID, r.ClientID, strings.Join(r.Scopes, " "), r.RedirectURI, r.State}
}

// LogoutToken is the CSRF token of the logout confirmation form: without
// it, any page could sign a person out by sending their browser here.
func (p *Provider) LogoutToken(login Login) string {
	return p.formToken("logout", login.SessionID)
}

// CheckLogoutToken reports whether tok is a live LogoutToken for login.
func (p *Provider) CheckLogoutToken(tok string, login Login) bool {
	return p.checkFormToken(tok, "logout", login.SessionID)
}

// formToken is "<unix time>.<HMAC of the time and parts>": a CSRF token
// bound to what the form is about, checked without server-side state.
func (p *Provider) formToken(parts ...string) string {
	ts := strconv.FormatInt(p.now().Unix(), 10)
	return ts + "." + p.formMAC(ts, parts)
}

// checkFormToken reports whether tok is a formToken for parts issued
// within formTokenLifetime (and not in the future, beyond a minute's skew).
func (p *Provider) checkFormToken(tok string, parts ...string) bool {
	ts, mac, ok := strings.Cut(tok, ".")
	if !ok {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if age := p.now().Sub(time.Unix(sec, 0)); age < -time.Minute || age > formTokenLifetime {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(p.formMAC(ts, parts)))
}

func (p *Provider) formMAC(ts string, parts []string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	for _, part := range append([]string{ts}, parts...) {
		m.Write([]byte(part))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
