package wechattest

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// The browser pages play open.weixin.qq.com (docs/contract.md §5): WeChat's
// authorize pages, where a person types a user name and approves or denies.
// Invalid parameters get an HTML error page with status 400, never a
// redirect. The #wechat_redirect fragment never reaches a server.

// page describes one of the two authorize pages.
type page struct {
	path   string
	kind   AppKind
	scopes []string
	title  string
}

var (
	qrConnectPage = page{path: "/connect/qrconnect", kind: KindWebsite, scopes: []string{ScopeLogin}, title: "Website QR login"}
	authorizePage = page{path: "/connect/oauth2/authorize", kind: KindOfficialAccount, scopes: []string{ScopeBase, ScopeUserInfo}, title: "Official account web authorization"}
)

// maxStateLen is WeChat's bound on state (docs/wechat.md §6.2).
const maxStateLen = 128

// authRequest is a validated authorize request.
type authRequest struct {
	AppID, RedirectURI, Scope, State, Lang string
	redirect                               *url.URL
}

// pageParams holds what the form carries back, in WeChat's order.
func (a authRequest) params() []struct{ Name, Value string } {
	out := []struct{ Name, Value string }{
		{"appid", a.AppID}, {"redirect_uri", a.RedirectURI}, {"response_type", "code"}, {"scope", a.Scope}, {"state", a.State},
	}
	if a.Lang != "" {
		out = append(out, struct{ Name, Value string }{"lang", a.Lang})
	}
	return out
}

func validState(s string) bool {
	if len(s) > maxStateLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// parseAuthRequest validates WeChat's parameters for p.
func (e *Emulator) parseAuthRequest(p page, v url.Values) (authRequest, error) {
	a := authRequest{AppID: v.Get("appid"), RedirectURI: v.Get("redirect_uri"), Scope: v.Get("scope"), State: v.Get("state"), Lang: v.Get("lang")}
	if a.AppID == "" {
		return a, errors.New("appid is missing")
	}
	e.mu.Lock()
	app, ok := e.apps[a.AppID]
	e.mu.Unlock()
	switch {
	case !ok:
		return a, errors.New("appid is not a registered app")
	case app.Kind != p.kind:
		return a, errors.New("appid is not of the kind this page serves (" + string(p.kind) + ")")
	}
	if a.RedirectURI == "" {
		return a, errors.New("redirect_uri is missing")
	}
	u, err := url.Parse(a.RedirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return a, errors.New("redirect_uri must be an absolute http or https URL")
	}
	if u.Fragment != "" || strings.Contains(a.RedirectURI, "#") {
		return a, errors.New("redirect_uri must not contain a fragment")
	}
	a.redirect = u
	if v.Get("response_type") != "code" {
		return a, errors.New("response_type must be code")
	}
	scopeOK := false
	for _, s := range p.scopes {
		scopeOK = scopeOK || a.Scope == s
	}
	if !scopeOK {
		return a, errors.New("scope must be one of " + strings.Join(p.scopes, ", "))
	}
	if !validState(a.State) {
		return a, errors.New("state must be at most 128 characters from [A-Za-z0-9]")
	}
	if p.kind == KindWebsite && a.Lang != "" && a.Lang != "cn" && a.Lang != "en" {
		return a, errors.New("lang must be cn or en")
	}
	return a, nil
}

// redirectTo is redirect_uri with code (omitted when empty: a denial) and
// state appended to any query it already has.
func (a authRequest) redirectTo(code string) string {
	u := *a.redirect
	var add []string
	if code != "" {
		add = append(add, "code="+url.QueryEscape(code))
	}
	add = append(add, "state="+url.QueryEscape(a.State))
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += strings.Join(add, "&")
	u.ForceQuery = false
	return u.String()
}

// servePage handles an authorize page: the form, its submission and the
// user=NAME / deny=1 shortcuts.
func (e *Emulator) servePage(p page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			e.renderError(w, http.StatusMethodNotAllowed, p, "use GET")
			return
		}
		v := r.URL.Query()
		a, err := e.parseAuthRequest(p, v)
		if err != nil {
			e.renderError(w, http.StatusBadRequest, p, err.Error())
			return
		}
		if v.Get("deny") != "" {
			http.Redirect(w, r, a.redirectTo(""), http.StatusFound)
			return
		}
		if !v.Has("user") {
			e.renderForm(w, http.StatusOK, p, a, "")
			return
		}
		user := strings.TrimSpace(v.Get("user"))
		code, err := e.WebCode(a.AppID, user, a.Scope)
		if errors.Is(err, ErrInvalidUser) {
			e.renderForm(w, http.StatusBadRequest, p, a, "Type a user name (1 to 128 printable characters).")
			return
		}
		if err != nil {
			e.renderError(w, http.StatusBadRequest, p, err.Error())
			return
		}
		http.Redirect(w, r, a.redirectTo(code), http.StatusFound)
	}
}

func pageHeaders(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
}

func (e *Emulator) renderForm(w http.ResponseWriter, status int, p page, a authRequest, problem string) {
	pageHeaders(w, status)
	_ = pageTemplate.Execute(w, map[string]any{
		"Title": p.title, "Action": "." + p.path[strings.LastIndex(p.path, "/"):], "Params": a.params(),
		"AppID": a.AppID, "Scope": a.Scope, "RedirectHost": a.redirect.Host, "Problem": problem,
	})
}

func (e *Emulator) renderError(w http.ResponseWriter, status int, p page, msg string) {
	pageHeaders(w, status)
	_ = pageTemplate.Execute(w, map[string]any{"Title": p.title, "Error": msg})
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · wxoidc WeChat emulator</title>
<style>
body{font-family:system-ui,sans-serif;background:#ededed;margin:0;display:flex;justify-content:center}
main{background:#fff;margin:3rem 1rem;padding:1.5rem 2rem;border-radius:8px;max-width:26rem;width:100%}
h1{font-size:1.2rem;margin:0 0 .25rem}p.sub{color:#888;margin:0 0 1rem;font-size:.85rem}
dl{font-size:.85rem;color:#555}dt{float:left;width:6rem}dd{margin:0 0 .25rem 6rem;word-break:break-all}
label{display:block;margin:1rem 0 .25rem}input[type=text]{width:100%;padding:.5rem;box-sizing:border-box;font-size:1rem}
.buttons{display:flex;gap:.5rem;margin-top:1rem}button{flex:1;padding:.6rem;font-size:1rem;border:0;border-radius:4px;cursor:pointer}
.approve{background:#07c160;color:#fff}.deny{background:#f2f2f2;color:#333}.error{color:#c00}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p class="sub">wxoidc WeChat emulator: a fake WeChat for development, not the real one.</p>
{{if .Error}}<p class="error">Invalid request: {{.Error}}</p>{{else}}
<dl><dt>app</dt><dd>{{.AppID}}</dd><dt>scope</dt><dd>{{.Scope}}</dd><dt>returns to</dt><dd>{{.RedirectHost}}</dd></dl>
{{if .Problem}}<p class="error">{{.Problem}}</p>{{end}}
<form method="get" action="{{.Action}}">
{{range .Params}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<label for="user">Sign in to WeChat as (user name)</label>
<input type="text" id="user" name="user" value="alice" maxlength="128" autofocus>
<div class="buttons"><button class="approve" type="submit">Approve</button><button class="deny" type="submit" name="deny" value="1">Deny</button></div>
</form>{{end}}
</main>
</body>
</html>
`))
