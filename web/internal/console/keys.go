package console

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

func init() { addWords(keyWords) }

var keyWords = map[string]phrase{
	"keys.title":              {"Signing keys", "签名密钥"},
	"keys.lead":               {"Each algorithm has one current key that signs, one next key already published so relying parties cache it before it signs, and retired keys kept published until every token they signed has expired.", "每种算法有一个正在签名的当前密钥、一个已发布但尚未签名的下一个密钥（让依赖方提前缓存），以及在其签发的令牌全部过期前仍保持发布的已退役密钥。"},
	"keys.timeline":           {"Key timeline", "密钥时间线"},
	"keys.legend.next":        {"next (published, not signing)", "下一个（已发布，未签名）"},
	"keys.legend.current":     {"current (signing)", "当前（正在签名）"},
	"keys.legend.retired":     {"retired (published until its tokens expire)", "已退役（发布至其令牌过期）"},
	"keys.legend.revoked":     {"revoked (out of the JWKS)", "已吊销（已移出 JWKS）"},
	"keys.legend.planned":     {"planned (hatched)", "计划（斜线）"},
	"keys.legend.now":         {"now", "现在"},
	"keys.mark.safe-rotation": {"safe to rotate", "可安全轮换"},
	"keys.mark.auto-rotation": {"automatic rotation", "自动轮换"},
	"keys.mark.removable":     {"can be removed", "可移除"},
	"keys.mark.revoked":       {"revoked", "已吊销"},
	"keys.col.kid":            {"Key id (kid)", "密钥 ID（kid）"},
	"keys.col.state":          {"State", "状态"},
	"keys.col.created":        {"Created", "创建"},
	"keys.col.activated":      {"Signing since", "开始签名"},
	"keys.col.retired":        {"Retired", "退役"},
	"keys.col.remove_after":   {"Leaves the JWKS", "移出 JWKS"},
	"keys.col.signs":          {"Signs", "签发"},
	"keys.state.next":         {"next", "下一个"},
	"keys.state.current":      {"current", "当前"},
	"keys.state.retired":      {"retired", "已退役"},
	"keys.state.revoked":      {"revoked", "已吊销"},
	"keys.until_rotated":      {"until it is rotated", "直至轮换"},
	"keys.signs.id":           {"ID tokens (default)", "ID 令牌（默认）"},
	"keys.signs.id_asked":     {"ID tokens of clients that ask for %s", "要求 %s 的客户端的 ID 令牌"},
	"keys.signs.access":       {"access tokens", "访问令牌"},
	"keys.signs.nothing":      {"nothing", "无"},
	"keys.summary.current":    {"Current key %s has signed since %s (%s).", "当前密钥 %s 自 %s（%s）起签名。"},
	"keys.summary.no_current": {"There is no current key: nothing can be signed with %s.", "没有当前密钥：无法使用 %s 签名。"},
	"keys.summary.safe_now":   {"Next rotation: safe now (next key %s has been published long enough).", "下次轮换：现在即可安全进行（下一个密钥 %s 已发布足够久）。"},
	"keys.summary.safe_at":    {"Next rotation: safe from %s (%s), when every relying party can have fetched next key %s.", "下次轮换：%s（%s）起安全，届时所有依赖方都已能获取下一个密钥 %s。"},
	"keys.summary.no_next":    {"There is no next key yet; maintenance creates one.", "暂无下一个密钥，维护任务会创建。"},
	"keys.summary.auto":       {"Automatic rotation is due %s (%s).", "自动轮换将于 %s（%s）进行。"},
	"keys.summary.manual":     {"Automatic rotation is off: rotate by hand.", "自动轮换已关闭：请手动轮换。"},
	"keys.summary.removable":  {"Retired key %s leaves the JWKS %s (%s); the server removes it by itself.", "已退役密钥 %s 将于 %s（%s）移出 JWKS，服务器会自动移除。"},
	"keys.rotate":             {"Rotate %s now", "立即轮换 %s"},
	"keys.rotate.force":       {"Rotate even if the next key is too new (use after a compromise only)", "即使下一个密钥发布时间过短也轮换（仅在泄露后使用）"},
	"keys.rotated":            {"Rotated %s: key %s signs now.", "已轮换 %s：密钥 %s 现在开始签名。"},
	"keys.too_soon":           {"Not rotated. The next %s key %s has been published for only %s: relying parties may still hold a cached JWKS without it, and would reject the tokens it signs. It is safe in %s. To rotate anyway (after a compromise), tick “force”.", "未轮换。下一个 %s 密钥 %s 仅发布了 %s：依赖方可能仍缓存着不含它的 JWKS，会拒绝它签发的令牌。%s后即可安全轮换。如必须立即轮换（密钥泄露时），请勾选“强制”。"},
	"keys.too_soon_no_next":   {"Not rotated. There is no next %s key to promote yet; one is published within %s.", "未轮换。目前没有可提升的下一个 %s 密钥，将在 %s 内发布。"},
	"keys.revoke":             {"Revoke…", "吊销…"},
	"keys.revoke.title":       {"Revoke key %s", "吊销密钥 %s"},
	"keys.revoke.what":        {"Revoking removes the key from the JWKS at once. This server stops accepting tokens it signed immediately; relying parties stop within %s (the JWKS cache lifetime), when they fetch the JWKS again.", "吊销会立即将密钥移出 JWKS。本服务器立即不再接受它签发的令牌；依赖方在 %s（JWKS 缓存时长）内重新获取 JWKS 后也将拒绝。"},
	"keys.revoke.current":     {"This is the current key: the next key %s starts signing now, before every relying party may have fetched it. Use this only when the key is compromised.", "这是当前密钥：下一个密钥 %s 将立即开始签名，此时部分依赖方可能尚未获取它。仅在密钥泄露时使用。"},
	"keys.revoke.retired":     {"This key is retired: tokens it signed in the last %s stop working, so people holding them must sign in again.", "该密钥已退役：它在最近 %s 内签发的令牌将失效，持有者需要重新登录。"},
	"keys.revoke.next":        {"This key has not signed anything yet; a new next key is made. Nothing stops working.", "该密钥尚未签发任何令牌，系统会生成新的下一个密钥，不影响现有令牌。"},
	"keys.revoke.revoked":     {"This key is already revoked. Revoking again changes no key; with the option below it repeats the token revocation.", "该密钥已被吊销。再次吊销不会改变密钥；勾选下方选项会再次吊销相关令牌。"},
	"keys.revoke.tokens":      {"Also revoke every refresh token issued while this key was signing (those people must sign in again)", "同时吊销该密钥签名期间签发的所有刷新令牌（相关用户需重新登录）"},
	"keys.revoke.submit":      {"Revoke this key", "吊销此密钥"},
	"keys.revoke.cancel":      {"Cancel", "取消"},
	"keys.revoked":            {"Key %s is revoked.", "密钥 %s 已吊销。"},
	"keys.revoked_tokens":     {"Key %s is revoked and %d tokens were revoked.", "密钥 %s 已吊销，并吊销了 %d 个令牌。"},
	"keys.follow_up":          {" Instances that had not reloaded may have signed with it until %s; the server repeats the token revocation then.", "未及时重新加载的实例可能在 %s 前仍用它签名；服务器届时会再次吊销令牌。"},
	"keys.follow_up_manual":   {" Instances that had not reloaded may have signed with it until %s: revoke again with the token option after that.", "未及时重新加载的实例可能在 %s 前仍用它签名：请在此之后勾选令牌选项再次吊销。"},
}

func (c *Console) keyRoutes(r chi.Router) {
	r.Get("/keys", c.keysPage)
	r.Post("/keys/rotate", c.rotateKey)
	r.Get("/keys/{kid}/revoke", c.revokeForm)
	r.Post("/keys/{kid}/revoke", c.revokeKey)
}

// keyRowView is one row of the key table.
type keyRowView struct {
	keys.KeyInfo
	Signs []string
}

// algSummary is what an admin needs to know about one algorithm, in words.
type algSummary struct {
	Alg   string
	Lines []string
}

type keysData struct {
	Timeline  timeline
	Summaries []algSummary
	Rows      []keyRowView
	Algs      []string
}

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request) {
	ks, err := c.svc.ListKeys(r.Context())
	if err != nil {
		c.fail(w, r, "/keys", err)
		return
	}
	v := c.newView(r, sessionOf(r), "keys", "keys.title")
	p := c.svc.KeyPolicy()
	d := keysData{Timeline: buildTimeline(ks, p, v.Now), Algs: p.Algorithms}
	for _, alg := range d.Algs {
		d.Summaries = append(d.Summaries, algSummary{Alg: alg, Lines: summarize(v, ks, p, alg)})
	}
	rows := slices.Clone(ks)
	slices.SortStableFunc(rows, func(a, b keys.KeyInfo) int {
		if a.Algorithm != b.Algorithm {
			return slices.Index(d.Algs, a.Algorithm) - slices.Index(d.Algs, b.Algorithm)
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	for _, k := range rows {
		d.Rows = append(d.Rows, keyRowView{KeyInfo: k, Signs: signs(v, k, p)})
	}
	v.Data = d
	c.show(w, r, http.StatusOK, "keys", v)
}

// signs says what a key signs now: the current key of the ID-token default
// signs most ID tokens, the access-token algorithm's signs access tokens.
func signs(v view, k keys.KeyInfo, p admin.KeyPolicy) []string {
	if k.State != storage.KeyCurrent {
		return []string{v.T("keys.signs.nothing")}
	}
	var out []string
	if k.Algorithm == p.IDTokenAlgorithm {
		out = append(out, v.T("keys.signs.id"))
	} else {
		out = append(out, v.T("keys.signs.id_asked", k.Algorithm))
	}
	if k.Algorithm == p.AccessTokenAlgorithm {
		out = append(out, v.T("keys.signs.access"))
	}
	return out
}

// summarize says, for one algorithm, which key signs, when the next
// rotation is safe and due, and when retired keys go.
func summarize(v view, ks []keys.KeyInfo, p admin.KeyPolicy, alg string) []string {
	var lines []string
	var cur, next *keys.KeyInfo
	for i := range ks {
		switch k := &ks[i]; {
		case k.Algorithm != alg:
		case k.State == storage.KeyCurrent:
			cur = k
		case k.State == storage.KeyNext:
			next = k
		}
	}
	if cur == nil {
		lines = append(lines, v.T("keys.summary.no_current", alg))
	} else {
		lines = append(lines, v.T("keys.summary.current", cur.KID, stamp(since(*cur)), v.Rel(since(*cur))))
	}
	switch {
	case next == nil:
		lines = append(lines, v.T("keys.summary.no_next"))
	case !next.CreatedAt.Add(p.SafePublishDelay).After(v.Now):
		lines = append(lines, v.T("keys.summary.safe_now", next.KID))
	default:
		at := next.CreatedAt.Add(p.SafePublishDelay)
		lines = append(lines, v.T("keys.summary.safe_at", stamp(at), v.Rel(at), next.KID))
	}
	if p.RotationPeriod <= 0 {
		lines = append(lines, v.T("keys.summary.manual"))
	} else if cur != nil {
		at := since(*cur).Add(p.RotationPeriod)
		lines = append(lines, v.T("keys.summary.auto", stamp(at), v.Rel(at)))
	}
	for _, k := range byCreation(ks, alg) {
		if k.State == storage.KeyRetired && !k.RemoveAfter.IsZero() {
			lines = append(lines, v.T("keys.summary.removable", k.KID, stamp(k.RemoveAfter), v.Rel(k.RemoveAfter)))
		}
	}
	return lines
}

func (c *Console) rotateKey(w http.ResponseWriter, r *http.Request) {
	alg := r.PostForm.Get("alg")
	force := r.PostForm.Get("force") == "on"
	loc := locale(r)
	rotated, err := c.svc.RotateKeys(r.Context(), []string{alg}, force)
	var soon *keys.RotationTooSoonError
	switch {
	case errors.As(err, &soon):
		msg := text(loc, "keys.too_soon_no_next", alg, duration(loc, soon.Wait))
		if soon.NextKID != "" {
			msg = text(loc, "keys.too_soon", alg, soon.NextKID, duration(loc, soon.Published), duration(loc, soon.Wait))
		}
		sessionOf(r).setFlash(true, msg)
		http.Redirect(w, r, Prefix+"/keys", http.StatusSeeOther)
		return
	case err != nil:
		c.fail(w, r, "/keys", err)
		return
	}
	c.done(w, r, "/keys", text(loc, "keys.rotated", alg, rotated[0].KID))
}

type revokeData struct {
	Key         keys.KeyInfo
	Consequence []string
}

// revokeForm spells out what revoking this key does before it is done.
func (c *Console) revokeForm(w http.ResponseWriter, r *http.Request) {
	ks, err := c.svc.ListKeys(r.Context())
	if err != nil {
		c.fail(w, r, "/keys", err)
		return
	}
	i := slices.IndexFunc(ks, func(k keys.KeyInfo) bool { return k.KID == chi.URLParam(r, "kid") })
	if i < 0 {
		c.errorPage(w, r, sessionOf(r), http.StatusNotFound, "error.not_found")
		return
	}
	k := ks[i]
	v := c.newView(r, sessionOf(r), "keys", "keys.title")
	v.Title = v.T("keys.revoke.title", k.KID)
	p := c.svc.KeyPolicy()
	d := revokeData{Key: k, Consequence: []string{v.T("keys.revoke.what", v.Dur(p.JWKSMaxAge))}}
	switch k.State {
	case storage.KeyCurrent:
		next := "—"
		for _, o := range ks {
			if o.Algorithm == k.Algorithm && o.State == storage.KeyNext {
				next = o.KID
			}
		}
		d.Consequence = append(d.Consequence, v.T("keys.revoke.current", next))
	case storage.KeyRetired:
		d.Consequence = append(d.Consequence, v.T("keys.revoke.retired", v.Dur(p.MaxTokenLifetime)))
	case storage.KeyNext:
		d.Consequence = []string{v.T("keys.revoke.next")}
	case storage.KeyRevoked:
		d.Consequence = []string{v.T("keys.revoke.revoked")}
	}
	v.Data = d
	c.show(w, r, http.StatusOK, "key_revoke", v)
}

func (c *Console) revokeKey(w http.ResponseWriter, r *http.Request) {
	kid := chi.URLParam(r, "kid")
	loc := locale(r)
	if !confirmed(w, r, kid, "/keys/"+pathEscape(kid)+"/revoke") {
		return
	}
	res, err := c.svc.RevokeKey(r.Context(), kid, r.PostForm.Get("revoke_tokens") == "on")
	if err != nil {
		c.fail(w, r, "/keys", err)
		return
	}
	msg := text(loc, "keys.revoked", kid)
	if r.PostForm.Get("revoke_tokens") == "on" {
		msg = text(loc, "keys.revoked_tokens", kid, res.TokensRevoked)
		if !res.FollowUpAt.IsZero() {
			if res.FollowUpScheduled {
				msg += text(loc, "keys.follow_up", stamp(res.FollowUpAt))
			} else {
				msg += text(loc, "keys.follow_up_manual", stamp(res.FollowUpAt.Add(time.Second)))
			}
		}
	}
	c.done(w, r, "/keys", msg)
}
