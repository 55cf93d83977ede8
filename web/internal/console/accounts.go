package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/config"
)

func init() { addWords(accountWords) }

var accountWords = map[string]phrase{
	"accounts.title":                        {"Accounts", "账号"},
	"accounts.lead":                         {"Find an account by its sub, by a WeChat openid, or by its verified phone number. The phone number is sent in the form only: it never appears in an address, the browser history or the server log.", "可按 sub、微信 openid 或已验证的手机号查找账号。手机号只随表单提交，不会出现在网址、浏览器历史或服务器日志中。"},
	"accounts.by_sub":                       {"By sub", "按 sub 查找"},
	"accounts.by_openid":                    {"By WeChat openid", "按微信 openid 查找"},
	"accounts.by_phone":                     {"By phone number", "按手机号查找"},
	"accounts.sub":                          {"Account sub", "账号 sub"},
	"accounts.openid":                       {"openid", "openid"},
	"accounts.appid":                        {"WeChat app (appid)", "微信应用（appid）"},
	"accounts.appid.choose":                 {"— choose the app —", "— 请选择应用 —"},
	"accounts.phone":                        {"Phone number (E.164, with the country code)", "手机号（E.164 格式，含国家码）"},
	"accounts.phone.hint":                   {"For example +86 138 0013 8000. Only a verified number finds an account.", "例如 +86 138 0013 8000。只能查到已验证的手机号。"},
	"accounts.find":                         {"Find", "查找"},
	"accounts.err.no_sub":                   {"Type the account's sub.", "请输入账号 sub。"},
	"accounts.err.no_openid":                {"Type the openid.", "请输入 openid。"},
	"accounts.err.no_appid":                 {"Choose the WeChat app the openid belongs to: an openid is only unique within one app.", "请选择 openid 所属的微信应用：openid 只在同一应用内唯一。"},
	"accounts.err.bad_appid":                {"%s is not a WeChat app configured on this server.", "%s 不是本服务器已配置的微信应用。"},
	"accounts.err.no_phone":                 {"Type the phone number.", "请输入手机号。"},
	"accounts.err.bad_phone":                {"That is not a phone number in E.164 form: start with + and the country code, for example +8613800138000.", "手机号格式不正确：请以 + 和国家码开头，例如 +8613800138000。"},
	"accounts.err.bad_by":                   {"Choose how to look the account up.", "请选择查找方式。"},
	"accounts.none.sub":                     {"No account has the sub %s.", "没有 sub 为 %s 的账号。"},
	"accounts.none.openid":                  {"No account has openid %s under app %s.", "应用 %[2]s 下没有 openid 为 %[1]s 的账号。"},
	"accounts.none.phone":                   {"No account has that phone number verified.", "没有账号验证过该手机号。"},
	"accounts.several":                      {"%d accounts have this phone number verified (a number can be recycled by the carrier). Open each to tell them apart.", "有 %d 个账号验证过该手机号（运营商可能回收再分配号码）。请逐个打开辨别。"},
	"accounts.col.sub":                      {"sub", "sub"},
	"accounts.col.state":                    {"State", "状态"},
	"accounts.col.created":                  {"Created", "创建时间"},
	"accounts.col.updated":                  {"Updated", "更新时间"},
	"accounts.col.identities":               {"Identities", "身份"},
	"accounts.state.active":                 {"active", "正常"},
	"accounts.state.disabled":               {"disabled", "已停用"},
	"account.title":                         {"Account %s", "账号 %s"},
	"account.back":                          {"← Look up another account", "← 查找其他账号"},
	"account.facts":                         {"Account", "账号信息"},
	"account.created":                       {"Created", "创建时间"},
	"account.updated":                       {"Updated", "更新时间"},
	"account.state":                         {"State", "状态"},
	"account.phone":                         {"Phone number", "手机号"},
	"account.phone.yes":                     {"verified", "已验证"},
	"account.phone.no":                      {"none verified", "未验证"},
	"account.phone.how":                     {"Verified %[2]s, through %[1]s.", "验证于 %[2]s，方式：%[1]s。"},
	"account.phone.source.phone_code":       {"WeChat's phone number button (getPhoneNumber)", "微信手机号快速验证（getPhoneNumber）"},
	"account.phone.source.legacy":           {"import from the previous system", "从旧系统导入"},
	"account.phone.hidden":                  {"The number is stored encrypted and is never shown here.", "号码加密存储，此处不会显示。"},
	"account.apps":                          {"Linked apps", "关联应用"},
	"account.identities":                    {"WeChat identities", "微信身份"},
	"account.col.appid":                     {"App (appid)", "应用（appid）"},
	"account.col.kind":                      {"Kind", "类型"},
	"account.col.openid":                    {"openid", "openid"},
	"account.col.unionid":                   {"unionid", "unionid"},
	"account.col.created":                   {"First sign-in", "首次登录"},
	"account.col.last_login":                {"Last sign-in", "最近登录"},
	"account.kind.miniprogram":              {"mini-program", "小程序"},
	"account.kind.website":                  {"website (QR)", "网站应用（扫码）"},
	"account.kind.official":                 {"official account", "公众号"},
	"account.kind.mobile":                   {"mobile app", "移动应用"},
	"account.kind.unknown":                  {"not configured", "未配置"},
	"account.sessions":                      {"Browser login sessions", "浏览器登录会话"},
	"account.sessions.lead":                 {"Where this person is signed in through a browser (single sign-on). The id is a hash; the cookie itself is never stored.", "此人通过浏览器登录（单点登录）的会话。ID 为哈希值，Cookie 本身从不存储。"},
	"account.col.session":                   {"Session", "会话"},
	"account.col.clients":                   {"Clients signed in to", "已登录的客户端"},
	"account.col.started":                   {"Started", "开始"},
	"account.col.seen":                      {"Last seen", "最近活动"},
	"account.col.expires":                   {"Expires", "过期"},
	"account.consents":                      {"Consents", "授权"},
	"account.consents.lead":                 {"What this person allowed each client; kept until revoked.", "此人允许各客户端访问的范围，撤销前一直有效。"},
	"account.col.client":                    {"Client", "客户端"},
	"account.col.scopes":                    {"Scopes", "范围"},
	"account.col.granted":                   {"Granted", "授权时间"},
	"account.actions":                       {"Actions", "操作"},
	"account.action.disable":                {"Disable this account…", "停用此账号…"},
	"account.action.enable":                 {"Enable this account", "启用此账号"},
	"account.action.enable.what":            {"Enabling lets this person sign in again. Tokens and sessions ended when the account was disabled stay ended.", "启用后此人可以重新登录。停用时结束的令牌和会话不会恢复。"},
	"account.action.revoke-tokens":          {"Revoke all tokens…", "吊销全部令牌…"},
	"account.action.end-sessions":           {"End login sessions…", "结束登录会话…"},
	"account.action.revoke-consent":         {"Revoke…", "撤销…"},
	"account.confirm.disable.title":         {"Disable account %s", "停用账号 %s"},
	"account.confirm.disable.what":          {"Disabling stops this person from signing in to any client until the account is enabled again.", "停用后，此人在重新启用前无法登录任何客户端。"},
	"account.confirm.disable.tokens":        {"All of its refresh tokens are revoked and its access tokens stop working: every app using them must have the person sign in again (and cannot, while disabled).", "其所有刷新令牌被吊销、访问令牌失效：使用这些令牌的应用需要此人重新登录（停用期间无法登录）。"},
	"account.confirm.disable.sessions":      {"Its browser login sessions (%d now) end at once, and the clients they signed in to are told (back-channel logout).", "其 %d 个浏览器登录会话立即结束，并通知相关客户端（后端通道登出）。"},
	"account.confirm.disable.submit":        {"Disable this account", "停用此账号"},
	"account.confirm.revoke-tokens.title":   {"Revoke every token of %s", "吊销 %s 的全部令牌"},
	"account.confirm.revoke-tokens.what":    {"Revokes every refresh token and deletes every access token of this account (“sign out everywhere”): each app using them must have the person sign in again.", "吊销此账号的所有刷新令牌并删除所有访问令牌（“在所有设备上退出”）：使用这些令牌的应用需要此人重新登录。"},
	"account.confirm.revoke-tokens.keep":    {"The browser login sessions stay: a browser still signed in can get new tokens without the person doing anything. End them too if the account is compromised.", "浏览器登录会话不受影响：仍处于登录状态的浏览器可以无需操作直接获取新令牌。如账号被盗用，请同时结束登录会话。"},
	"account.confirm.revoke-tokens.submit":  {"Revoke all tokens", "吊销全部令牌"},
	"account.confirm.end-sessions.title":    {"End the login sessions of %s", "结束 %s 的登录会话"},
	"account.confirm.end-sessions.what":     {"Ends the account's browser login sessions (%d now): those browsers must sign in again, and the clients they signed in to are told (back-channel logout).", "结束此账号的 %d 个浏览器登录会话：这些浏览器需要重新登录，并通知相关客户端（后端通道登出）。"},
	"account.confirm.end-sessions.keep":     {"Tokens already issued stay valid until they expire; revoke them separately.", "已签发的令牌在过期前仍然有效，请另行吊销。"},
	"account.confirm.end-sessions.submit":   {"End login sessions", "结束登录会话"},
	"account.confirm.revoke-consent.title":  {"Revoke the consent of %s for client %s", "撤销 %s 对客户端 %s 的授权"},
	"account.confirm.revoke-consent.what":   {"Forgets that this person allowed client %s the scopes %s: the next browser sign-in to that client asks again (unless the client skips consent).", "清除此人对客户端 %s 授予的范围 %s：下次通过浏览器登录该客户端时会再次询问（除非该客户端跳过授权确认）。"},
	"account.confirm.revoke-consent.keep":   {"Tokens already issued to the client stay valid; revoke them separately.", "已签发给该客户端的令牌仍然有效，请另行吊销。"},
	"account.confirm.revoke-consent.submit": {"Revoke this consent", "撤销此授权"},
	"account.confirm.cancel":                {"Cancel", "取消"},
	"account.done.disable":                  {"Account %s is disabled. Tokens revoked: %d; login sessions ended: %d.", "账号 %s 已停用：吊销了 %d 个令牌，结束了 %d 个登录会话。"},
	"account.done.enable":                   {"Account %s is enabled: the person can sign in again.", "账号 %s 已启用：此人可以重新登录。"},
	"account.done.revoke-tokens":            {"Tokens of account %[2]s revoked: %[1]d.", "已吊销账号 %[2]s 的 %[1]d 个令牌。"},
	"account.done.end-sessions":             {"Login sessions of account %[2]s ended: %[1]d.", "已结束账号 %[2]s 的 %[1]d 个登录会话。"},
	"account.done.revoke-consent":           {"The consent of %s for client %s is revoked.", "已撤销 %s 对客户端 %s 的授权。"},
	"account.no_consent":                    {"Account %s has no consent for client %s.", "账号 %s 没有对客户端 %s 的授权。"},
}

func (c *Console) accountRoutes(r chi.Router) {
	r.Get("/accounts", c.accountsPage)
	r.Post("/accounts/search", c.searchAccounts)
	r.Get("/accounts/{sub}", c.accountPage)
	r.Post("/accounts/{sub}/enable", c.enableAccount)
	r.Get("/accounts/{sub}/{action}", c.accountActionForm)
	r.Post("/accounts/{sub}/{action}", c.accountAction)
}

// appChoice is one configured WeChat app in the openid form's picker.
type appChoice struct {
	AppID, Kind string
}

// lookupData is the lookup page: the three forms, what was typed into the
// one sent, what went wrong, and the accounts a phone number matched.
type lookupData struct {
	By                        string // the form sent: sub, openid or phone
	Sub, OpenID, AppID, Phone string
	Apps                      []appChoice
	Error                     string
	Matches                   []admin.AccountView
}

// appKinds maps every configured appid to its kind.
func (c *Console) appKinds() map[string]string {
	apps := c.svc.WeChatApps()
	kinds := make(map[string]string, len(apps))
	for _, a := range apps {
		kinds[a.AppID] = a.Kind
	}
	return kinds
}

func (c *Console) apps(r *http.Request) []appChoice {
	kinds := c.appKinds()
	out := make([]appChoice, 0, len(kinds))
	for id := range kinds {
		out = append(out, appChoice{AppID: id, Kind: text(locale(r), kindWord(kinds, id))})
	}
	slices.SortFunc(out, func(a, b appChoice) int { return strings.Compare(a.AppID, b.AppID) })
	return out
}

func (c *Console) showLookup(w http.ResponseWriter, r *http.Request, status int, d lookupData) {
	v := c.newView(r, sessionOf(r), "accounts", "accounts.title")
	d.Apps = c.apps(r)
	if d.AppID == "" && len(d.Apps) == 1 {
		d.AppID = d.Apps[0].AppID
	}
	v.Data = d
	c.show(w, r, status, "accounts", v)
}

func (c *Console) accountsPage(w http.ResponseWriter, r *http.Request) {
	c.showLookup(w, r, http.StatusOK, lookupData{By: "sub"})
}

// searchAccounts looks an account up. A phone number only ever travels in
// this POST body: on a mistake the form is shown again in the answer itself
// (not behind a redirect), and one match leads to the account's own page,
// whose address holds only the sub.
func (c *Console) searchAccounts(w http.ResponseWriter, r *http.Request) {
	loc := locale(r)
	f := r.PostForm
	d := lookupData{
		By:  f.Get("by"),
		Sub: strings.TrimSpace(f.Get("sub")), OpenID: strings.TrimSpace(f.Get("openid")),
		AppID: strings.TrimSpace(f.Get("appid")), Phone: strings.TrimSpace(f.Get("phone")),
	}
	var q admin.AccountQuery
	var notFound string
	switch d.By {
	case "sub":
		q.Sub, notFound = d.Sub, text(loc, "accounts.none.sub", d.Sub)
		if d.Sub == "" {
			d.Error = text(loc, "accounts.err.no_sub")
		}
	case "openid":
		q.OpenID, q.AppID, notFound = d.OpenID, d.AppID, text(loc, "accounts.none.openid", d.OpenID, d.AppID)
		_, known := c.appKinds()[d.AppID]
		switch {
		case d.OpenID == "":
			d.Error = text(loc, "accounts.err.no_openid")
		case d.AppID == "":
			d.Error = text(loc, "accounts.err.no_appid")
		case !known:
			d.Error = text(loc, "accounts.err.bad_appid", d.AppID)
		}
	case "phone":
		q.Phone, notFound = d.Phone, text(loc, "accounts.none.phone")
		if d.Phone == "" {
			d.Error = text(loc, "accounts.err.no_phone")
		}
	default:
		d.By, d.Error = "sub", text(loc, "accounts.err.bad_by")
	}
	if d.Error != "" {
		c.showLookup(w, r, http.StatusBadRequest, d)
		return
	}
	accs, err := c.svc.FindAccounts(r.Context(), q)
	switch {
	case errors.Is(err, admin.ErrNotFound):
		d.Error = notFound
		c.showLookup(w, r, http.StatusNotFound, d)
		return
	case errors.Is(err, admin.ErrInvalid):
		// The service's words name the field but never echo a phone.
		d.Error = err.Error()
		if d.By == "phone" {
			d.Error = text(loc, "accounts.err.bad_phone")
		}
		c.showLookup(w, r, http.StatusBadRequest, d)
		return
	case err != nil:
		c.fail(w, r, "/accounts", err)
		return
	case len(accs) == 1:
		http.Redirect(w, r, Prefix+"/accounts/"+pathEscape(accs[0].Sub), http.StatusSeeOther)
		return
	}
	d.Matches = accs
	d.Error = text(loc, "accounts.several", len(accs))
	c.showLookup(w, r, http.StatusOK, d)
}

// identityRow is an identity with its app's kind in words.
type identityRow struct {
	admin.IdentityView
	Kind string
}

// sessionRow is a login session with a short form of its id (a hash) for
// the table; the whole id is in the cell's title.
type sessionRow struct {
	admin.LoginSessionView
	Short string
}

type accountData struct {
	Account     admin.AccountView
	PhoneSource string // how the phone was verified, in words
	Identities  []identityRow
	Sessions    []sessionRow
	Apps        []string // the linked apps, "appid (kind)"
}

// kindWord is the word key naming the kind of app appID for people.
func kindWord(kinds map[string]string, appID string) string {
	k, ok := kinds[appID]
	if !ok {
		return "account.kind.unknown"
	}
	switch k {
	case config.WeChatKindWebsite:
		return "account.kind.website"
	case config.WeChatKindOfficialAccount:
		return "account.kind.official"
	case config.WeChatKindMobileApp:
		return "account.kind.mobile"
	}
	return "account.kind.miniprogram"
}

// findSub returns account sub, or answers with the lookup page saying
// there is none.
func (c *Console) findSub(w http.ResponseWriter, r *http.Request, sub string) (admin.AccountView, bool) {
	a, err := c.svc.FindAccount(r.Context(), admin.AccountQuery{Sub: sub})
	switch {
	case errors.Is(err, admin.ErrNotFound):
		c.showLookup(w, r, http.StatusNotFound, lookupData{By: "sub", Sub: sub, Error: text(locale(r), "accounts.none.sub", sub)})
		return a, false
	case err != nil:
		c.fail(w, r, "/accounts", err)
		return a, false
	}
	return a, true
}

func (c *Console) accountPage(w http.ResponseWriter, r *http.Request) {
	a, ok := c.findSub(w, r, chi.URLParam(r, "sub"))
	if !ok {
		return
	}
	v := c.newView(r, sessionOf(r), "accounts", "accounts.title")
	v.Title = v.T("account.title", a.Sub)
	kinds := c.appKinds()
	d := accountData{Account: a, PhoneSource: a.PhoneSource}
	if _, known := words["account.phone.source."+a.PhoneSource]; known {
		d.PhoneSource = v.T("account.phone.source." + a.PhoneSource)
	}
	for _, id := range a.Identities {
		kind := v.T(kindWord(kinds, id.AppID))
		d.Identities = append(d.Identities, identityRow{IdentityView: id, Kind: kind})
		if app := id.AppID + " (" + kind + ")"; !slices.Contains(d.Apps, app) {
			d.Apps = append(d.Apps, app)
		}
	}
	for _, ls := range a.LoginSessions {
		short := ls.ID
		if len(short) > 12 {
			short = short[:12] + "…"
		}
		d.Sessions = append(d.Sessions, sessionRow{LoginSessionView: ls, Short: short})
	}
	v.Data = d
	c.show(w, r, http.StatusOK, "account", v)
}

// accountActions are the account actions that need the sub typed first.
var accountActions = []string{"disable", "revoke-tokens", "end-sessions", "revoke-consent"}

type accountActionData struct {
	Account     admin.AccountView
	Action      string
	ClientID    string // revoke-consent only
	Consequence []string
	Submit      string
}

func (c *Console) accountActionForm(w http.ResponseWriter, r *http.Request) {
	action := chi.URLParam(r, "action")
	if !slices.Contains(accountActions, action) {
		c.errorPage(w, r, sessionOf(r), http.StatusNotFound, "error.not_found")
		return
	}
	a, ok := c.findSub(w, r, chi.URLParam(r, "sub"))
	if !ok {
		return
	}
	v := c.newView(r, sessionOf(r), "accounts", "accounts.title")
	d := accountActionData{Account: a, Action: action, Submit: v.T("account.confirm." + action + ".submit")}
	switch action {
	case "disable":
		v.Title = v.T("account.confirm.disable.title", a.Sub)
		d.Consequence = []string{v.T("account.confirm.disable.what"), v.T("account.confirm.disable.tokens"), v.T("account.confirm.disable.sessions", len(a.LoginSessions))}
	case "revoke-tokens":
		v.Title = v.T("account.confirm.revoke-tokens.title", a.Sub)
		d.Consequence = []string{v.T("account.confirm.revoke-tokens.what"), v.T("account.confirm.revoke-tokens.keep")}
	case "end-sessions":
		v.Title = v.T("account.confirm.end-sessions.title", a.Sub)
		d.Consequence = []string{v.T("account.confirm.end-sessions.what", len(a.LoginSessions)), v.T("account.confirm.end-sessions.keep")}
	case "revoke-consent":
		d.ClientID = r.URL.Query().Get("client_id")
		i := slices.IndexFunc(a.Consents, func(cv admin.ConsentView) bool { return cv.ClientID == d.ClientID })
		if i < 0 {
			sessionOf(r).setFlash(true, v.T("account.no_consent", a.Sub, d.ClientID))
			http.Redirect(w, r, Prefix+"/accounts/"+pathEscape(a.Sub), http.StatusSeeOther)
			return
		}
		v.Title = v.T("account.confirm.revoke-consent.title", a.Sub, d.ClientID)
		d.Consequence = []string{v.T("account.confirm.revoke-consent.what", d.ClientID, strings.Join(a.Consents[i].Scopes, " ")), v.T("account.confirm.revoke-consent.keep")}
	}
	v.Data = d
	c.show(w, r, http.StatusOK, "account_action", v)
}

// accountAction runs a confirmed action; a sub typed wrong changes nothing.
func (c *Console) accountAction(w http.ResponseWriter, r *http.Request) {
	sub, action := chi.URLParam(r, "sub"), chi.URLParam(r, "action")
	if !slices.Contains(accountActions, action) {
		c.errorPage(w, r, sessionOf(r), http.StatusNotFound, "error.not_found")
		return
	}
	loc := locale(r)
	page := "/accounts/" + pathEscape(sub)
	clientID := r.PostForm.Get("client_id")
	back := page + "/" + action
	if action == "revoke-consent" {
		back += "?client_id=" + url.QueryEscape(clientID)
	}
	if !confirmed(w, r, sub, back) {
		return
	}
	ctx := r.Context()
	var msg string
	switch action {
	case "disable":
		res, err := c.svc.SetAccountDisabled(ctx, sub, true)
		if err != nil {
			c.fail(w, r, page, err)
			return
		}
		msg = text(loc, "account.done.disable", sub, res.TokensRevoked, res.SessionsEnded)
	case "revoke-tokens":
		n, err := c.svc.RevokeAccountTokens(ctx, sub)
		if err != nil {
			c.fail(w, r, page, err)
			return
		}
		msg = text(loc, "account.done.revoke-tokens", n, sub)
	case "end-sessions":
		n, err := c.svc.EndLoginSessions(ctx, sub)
		if err != nil {
			c.fail(w, r, page, err)
			return
		}
		msg = text(loc, "account.done.end-sessions", n, sub)
	case "revoke-consent":
		if err := c.svc.RevokeConsent(ctx, sub, clientID); err != nil {
			c.fail(w, r, page, err)
			return
		}
		msg = text(loc, "account.done.revoke-consent", sub, clientID)
	}
	c.done(w, r, page, msg)
}

// enableAccount is not destructive: one click, its effect said beside the
// button.
func (c *Console) enableAccount(w http.ResponseWriter, r *http.Request) {
	sub := chi.URLParam(r, "sub")
	page := "/accounts/" + pathEscape(sub)
	if _, err := c.svc.SetAccountDisabled(r.Context(), sub, false); err != nil {
		c.fail(w, r, page, err)
		return
	}
	c.done(w, r, page, text(locale(r), "account.done.enable", sub))
}
