package pages

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// view is what the one page template draws. Every page is the same shape —
// a head (avatar or icon, title), sentences, an optional list of what the
// client gets, actions (a POST form and/or links), small print — so each
// page kind only decides the words. Every field is plain text or a URL that
// html/template escapes in context; nothing here is template.HTML.
type view struct {
	Lang, Title, Nonce string
	CSS, Favicon       string // asset URLs

	Avatar   string // the client's initial, when the page is about a client
	Icon     string // asset URL of the status icon
	Heading  string
	Subtitle string
	Lines    []string
	Next     string // what to do now, in grey under Lines

	ListIntro string
	List      []string
	ListFirst bool // the list goes above the actions (consent) or below (login)

	Form  *form
	Links []link
	Notes []string

	Scan        *scanView // the code and its status line (scan page only)
	OthersIntro string
	Others      []link // other ways in, as secondary links under the actions
	Script      string // asset URL of the page's one script, loaded with the nonce

	FooterLinks []link
	Code        string // "错误代码：access_denied"
}

// scanView is the code, its status line and what the script needs: its
// URLs and its sentences travel in data-* attributes, never inline script.
type scanView struct {
	ImageURL, Alt                    string
	StatusURL, ContinueURL, RenewURL string
	ExpiresIn                        int
	Success                          string // asset URL of the "scanned" mark
	Pending, Scanned, Approved       string // the status line per state
	Denied, Expired, Error           string
	Refresh, Retry, ClickToRefresh   string
	NoScript                         string
}

type form struct {
	Action  string
	Fields  []Field
	Buttons []button
}

type button struct {
	Name, Value, Text string
	Primary           bool
}

type link struct {
	Text, URL, Hint string
	Primary         bool
}

// viewOf turns a page into the template's data in the page's language.
func (r *Renderer) viewOf(p Page) (*view, error) {
	switch p := p.(type) {
	case LoginPage:
		return r.loginView(p), nil
	case ScanPage:
		return r.scanView(p), nil
	case *ScanPage:
		return r.scanView(*p), nil
	case *LoginPage:
		return r.loginView(*p), nil
	case ConsentPage:
		return r.consentView(p), nil
	case *ConsentPage:
		return r.consentView(*p), nil
	case ErrorPage:
		return r.errorView(p), nil
	case *ErrorPage:
		return r.errorView(*p), nil
	case LoggedOutPage:
		return r.loggedOutView(p), nil
	case *LoggedOutPage:
		return r.loggedOutView(*p), nil
	case LogoutConfirmPage:
		return r.logoutConfirmView(p), nil
	case *LogoutConfirmPage:
		return r.logoutConfirmView(*p), nil
	}
	return nil, fmt.Errorf("pages: no template for %T", p)
}

func (r *Renderer) base(loc Locale) (*view, map[string]string) {
	loc, w := wordsFor(loc)
	return &view{
		Lang:    string(loc),
		CSS:     r.assets.urls["app.css"],
		Favicon: r.assets.urls["favicon.svg"],
	}, w
}

// speaker fills the page's sentences with the client's name, or with "this
// app" in the page's language when the name is unknown.
type speaker struct {
	w      map[string]string
	client string
	named  bool
}

func newSpeaker(w map[string]string, clientName string) speaker {
	if name := strings.TrimSpace(clientName); name != "" {
		return speaker{w: w, client: name, named: true}
	}
	return speaker{w: w, client: w["this_app"]}
}

// fill is a sentence: text with the client's name in it. An English sentence
// that starts with the "this app" fallback gets its capital letter; a real
// client name is shown as the client spells it.
func (s speaker) fill(text string) string {
	out := fill(text, s.client)
	if !s.named {
		out = capitalize(out)
	}
	return out
}

// say is fill of the sentence named key.
func (s speaker) say(key string) string { return s.fill(s.w[key]) }

// initial is the first letter of the client's name, upper-cased, for the
// avatar that stands in for a logo.
func initial(name string) string {
	r, _ := utf8.DecodeRuneInString(strings.TrimSpace(name))
	if r == utf8.RuneError {
		return ""
	}
	return strings.ToUpper(string(r))
}

// capitalize upper-cases the first letter of an English sentence that
// starts with the "this app" fallback.
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}

func (r *Renderer) loginView(p LoginPage) *view {
	v, w := r.base(p.Locale)
	s := newSpeaker(w, p.ClientName)
	v.Avatar = initial(p.ClientName)
	v.Heading = s.say("login.title")
	v.Title = v.Heading
	v.Subtitle = w["login.subtitle"]
	for i, m := range p.Methods {
		v.Links = append(v.Links, link{Text: methodText(w, m.Kind), URL: m.URL, Hint: w["method."+m.Kind+".hint"], Primary: i == 0})
	}
	if len(p.Methods) == 0 {
		v.Lines = []string{w["login.none"]}
	}
	v.List = scopeWords(w, p.Scopes)
	v.ListIntro = s.say("login.gets")
	v.Notes = []string{s.say("login.no_password")}
	if p.PrivacyURL != "" {
		v.FooterLinks = []link{{Text: w["privacy"], URL: p.PrivacyURL}}
	}
	return v
}

// methodText names a way to sign in; an unknown kind gets a generic name.
func methodText(w map[string]string, kind string) string {
	if text, ok := w["method."+kind]; ok {
		return text
	}
	return w["method.other"]
}

// others are other ways in as secondary links, with their heading.
func others(v *view, w map[string]string, methods []LoginMethod) {
	for _, m := range methods {
		v.Others = append(v.Others, link{Text: methodText(w, m.Kind), URL: m.URL})
	}
	if len(v.Others) > 0 {
		v.OthersIntro = w["others"]
	}
}

// scanView draws the pending state; the script takes it from there.
func (r *Renderer) scanView(p ScanPage) *view {
	v, w := r.base(p.Locale)
	s := newSpeaker(w, p.ClientName)
	v.Avatar = initial(p.ClientName)
	v.Heading = s.say("login.title")
	v.Title = v.Heading
	v.Scan = &scanView{
		ImageURL: p.ImageURL, Alt: s.say("scan.alt"),
		StatusURL: p.StatusURL, ContinueURL: p.ContinueURL, RenewURL: p.RenewURL,
		ExpiresIn: p.ExpiresIn,
		Success:   r.assets.urls["success.svg"],
		Pending:   w["scan.pending"], Scanned: w["scan.scanned"], Approved: w["scan.approved"],
		Denied: w["scan.denied"], Expired: w["scan.expired"], Error: w["scan.error"],
		Refresh: w["scan.refresh"], Retry: w["scan.retry"], ClickToRefresh: w["scan.click"],
		NoScript: w["scan.noscript"],
	}
	v.Script = r.assets.urls["scan.js"]
	others(v, w, p.Others)
	v.List = scopeWords(w, p.Scopes)
	v.ListIntro = s.say("login.gets")
	if p.PrivacyURL != "" {
		v.FooterLinks = []link{{Text: w["privacy"], URL: p.PrivacyURL}}
	}
	return v
}

func (r *Renderer) consentView(p ConsentPage) *view {
	v, w := r.base(p.Locale)
	s := newSpeaker(w, p.ClientName)
	v.Avatar = initial(p.ClientName)
	v.Heading = s.say("consent.title")
	v.Title = v.Heading
	v.List = scopeWords(w, p.Scopes)
	v.ListIntro = s.say("consent.gets")
	v.ListFirst = true
	name, value := p.AllowName, p.AllowValue
	if name == "" {
		name = DecisionField
	}
	if value == "" {
		value = DecisionAllow
	}
	v.Form = &form{Action: p.Action, Fields: p.Fields, Buttons: []button{
		{Name: name, Value: value, Text: w["consent.allow"], Primary: true},
		{Name: name, Value: DecisionDeny, Text: w["consent.deny"]},
	}}
	v.Notes = []string{w["consent.remember"]}
	if p.PrivacyURL != "" {
		v.FooterLinks = []link{{Text: w["privacy"], URL: p.PrivacyURL}}
	}
	return v
}

func (r *Renderer) errorView(p ErrorPage) *view {
	v, w := r.base(p.Locale)
	loc := Locale(v.Lang)
	s := newSpeaker(w, p.ClientName)
	e, ok := errorTexts[loc][p.Kind]
	if !ok {
		e = errorTexts[loc][""]
	}
	v.Icon = r.assets.urls[e.Icon+".svg"]
	v.Heading = e.Title
	v.Title = e.Title
	// What happened and whose fault it was read as one paragraph.
	body := s.fill(e.Body)
	if e.NotYours {
		body += w["sentence_gap"] + w["not_you"]
	}
	v.Lines = []string{body}
	v.Next = s.fill(e.Next)
	if p.RetryURL != "" {
		v.Links = append(v.Links, link{Text: w["retry"], URL: p.RetryURL, Primary: true})
	}
	if p.BackURL != "" {
		v.Links = append(v.Links, link{Text: s.say("back"), URL: p.BackURL, Primary: p.RetryURL == ""})
	}
	others(v, w, p.Others)
	if p.Code != "" {
		v.Code = w["code"] + p.Code
	}
	return v
}

func (r *Renderer) loggedOutView(p LoggedOutPage) *view {
	v, w := r.base(p.Locale)
	s := newSpeaker(w, p.ClientName)
	v.Icon = r.assets.urls["success.svg"]
	v.Heading = w["loggedout.title"]
	v.Title = v.Heading
	v.Lines = []string{w["loggedout.body"]}
	if p.ReturnURL != "" {
		v.Links = []link{{Text: s.say("back"), URL: p.ReturnURL, Primary: true}}
	} else {
		v.Next = w["close"]
	}
	return v
}

func (r *Renderer) logoutConfirmView(p LogoutConfirmPage) *view {
	v, w := r.base(p.Locale)
	v.Avatar = initial(p.ClientName)
	v.Heading = w["logout.title"]
	v.Title = v.Heading
	if strings.TrimSpace(p.ClientName) != "" {
		v.Lines = []string{newSpeaker(w, p.ClientName).say("logout.body")}
	} else {
		v.Lines = []string{w["logout.body0"]}
	}
	v.Form = &form{Action: p.Action, Fields: p.Fields, Buttons: []button{
		{Text: w["logout.submit"], Primary: true},
	}}
	if p.ReturnURL != "" {
		v.Links = []link{{Text: w["logout.cancel"], URL: p.ReturnURL}}
	} else {
		v.Notes = []string{w["logout.stay"]}
	}
	return v
}
