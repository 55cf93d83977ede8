package wechattest

import (
	"bytes"
	"container/list"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Mini-program codes for PC sign-in (docs/wechat.md §6.3): getwxacodeunlimit
// answers a PNG QR code of ScanURL(appid, scene) and remembers the scene, so
// that Scan can play a person scanning it.

// Mini-program versions a code may open (env_version).
const (
	EnvRelease = "release"
	EnvTrial   = "trial"
	EnvDevelop = "develop"
)

// Bounds of getwxacodeunlimit (docs/wechat.md §6.3).
const (
	maxSceneLen      = 32
	minCodeWidth     = 280
	maxCodeWidth     = 1280
	defaultCodeWidth = 430
	scenePunct       = "!#$&'()*+,/:;=?@-._~"
)

// ErrUnknownScene: Scan was given a scene no mini-program code was issued
// with (or one forgotten past Options.MaxScenes). A person can only scan a
// code that exists.
var ErrUnknownScene = errors.New("unknown scene: no mini-program code was issued with it")

// WXACode is a mini-program code the emulator answered.
type WXACode struct {
	AppID      string
	Scene      string
	Page       string // "" is the home page
	EnvVersion string // EnvRelease, EnvTrial or EnvDevelop
	Width      int    // pixels
	IssuedAt   time.Time
}

// ScanEvent is one Scan: user scanned the code of Scene.
type ScanEvent struct {
	Scene string
	AppID string
	User  string
	At    time.Time
}

// ScanURL is the text of the QR code the emulator draws for scene in appID.
func ScanURL(appID, scene string) string {
	return "wxemu://scan?appid=" + url.QueryEscape(appID) + "&scene=" + url.QueryEscape(scene)
}

// validScene applies WeChat's scene alphabet: 1 to 32 characters of
// [0-9A-Za-z] and scenePunct ('%' excluded).
func validScene(s string) bool {
	if s == "" || len(s) > maxSceneLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || strings.IndexByte(scenePunct, c) >= 0) {
			return false
		}
	}
	return true
}

// sceneLog remembers issued codes by scene, oldest first, so that the oldest
// can be forgotten in O(1). A scene issued again (by any app) replaces its
// record and becomes the newest.
type sceneLog struct {
	order   *list.List // of WXACode
	byScene map[string]*list.Element
}

func newSceneLog() sceneLog {
	return sceneLog{order: list.New(), byScene: make(map[string]*list.Element)}
}

func (l *sceneLog) put(c WXACode, limit int) {
	if el, ok := l.byScene[c.Scene]; ok {
		l.order.Remove(el)
	}
	l.byScene[c.Scene] = l.order.PushBack(c)
	for l.order.Len() > limit {
		oldest := l.order.Front()
		l.order.Remove(oldest)
		delete(l.byScene, oldest.Value.(WXACode).Scene)
	}
}

// newest returns the most recently issued code.
func (l *sceneLog) newest() (WXACode, bool) {
	el := l.order.Back()
	if el == nil {
		return WXACode{}, false
	}
	return el.Value.(WXACode), true
}

func (l *sceneLog) get(scene string) (WXACode, bool) {
	el, ok := l.byScene[scene]
	if !ok {
		return WXACode{}, false
	}
	return el.Value.(WXACode), true
}

// IssuedCode returns the code issued with scene, if the emulator still
// remembers it.
func (e *Emulator) IssuedCode(scene string) (WXACode, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.scenes.get(scene)
}

// IssuedCodes returns how many codes the emulator remembers (at most
// Options.MaxScenes).
func (e *Emulator) IssuedCodes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.scenes.order.Len()
}

// ScanLatest is Scan of the most recently issued code (a person at the dev
// walkthrough does not see the scene of the code on their screen). It
// returns the scene it scanned.
func (e *Emulator) ScanLatest(user string) (scene, appID, code string, err error) {
	e.mu.Lock()
	c, ok := e.scenes.newest()
	e.mu.Unlock()
	if !ok {
		return "", "", "", ErrUnknownScene
	}
	appID, code, err = e.Scan(c.Scene, user)
	return c.Scene, appID, code, err
}

// Scan plays user scanning the mini-program code issued with scene: the
// mini-program opens with that scene and calls wx.login, so Scan mints a
// login code for user in the code's appid exactly as Login does (the same
// openid/unionid; jscode2session accepts it once, within 5 minutes). It
// fails with ErrUnknownScene for a scene never issued, and with Login's
// errors for a bad user or an app no longer a mini-program.
func (e *Emulator) Scan(scene, user string) (appID, code string, err error) {
	if err := validUser(user); err != nil {
		return "", "", err
	}
	code = randomCode()
	newKey := randomBytes(16)
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.scenes.get(scene)
	if !ok {
		return "", "", ErrUnknownScene
	}
	now := e.clock.Now()
	if err := e.loginLocked(c.AppID, user, code, newKey, now); err != nil {
		return "", "", err
	}
	if len(e.scans) >= e.opts.MaxScenes {
		n := copy(e.scans, e.scans[len(e.scans)/2:])
		clear(e.scans[n:])
		e.scans = e.scans[:n]
	}
	e.scans = append(e.scans, ScanEvent{Scene: scene, AppID: c.AppID, User: user, At: now})
	return c.AppID, code, nil
}

// Scans returns a copy of the scan log, oldest first.
func (e *Emulator) Scans() []ScanEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.scans)
}

func (e *Emulator) identifyTokenApp(q *apiReq) {
	q.appID = e.tokenApp(q.r.URL.Query().Get("access_token"))
}

// unlimitedCode serves POST /wxa/getwxacodeunlimit. Checks in order: POST
// (43002), the access token (41001/40014/40001/42001), the token's app a
// mini-program (40013, UNCONFIRMED), the JSON body (47001 too big or
// malformed, 44002 empty), scene, width and env_version (40097 "invalid
// args" with the field named: WeChat's exact errcode and errmsg for each is
// UNCONFIRMED), then the page against App.Pages (41030).
func (e *Emulator) unlimitedCode(q *apiReq) answer {
	if q.r.Method != http.MethodPost {
		return fail(43002)
	}
	e.mu.Lock()
	tok, code := e.checkTokenLocked(q.r.URL.Query().Get("access_token"), q.now)
	var pages []string
	if code == 0 {
		if err := e.miniProgram(tok.appID); err != nil {
			code = 40013
		} else {
			pages = slices.Clone(e.apps[tok.appID].Pages)
		}
	}
	e.mu.Unlock()
	if code != 0 {
		return fail(code)
	}
	if q.tooBig {
		return fail(47001)
	}
	if len(bytes.TrimSpace(q.body)) == 0 {
		return fail(44002)
	}
	var b struct {
		Scene      string          `json:"scene"`
		Page       string          `json:"page"`
		CheckPath  *bool           `json:"check_path"`
		EnvVersion string          `json:"env_version"`
		Width      int             `json:"width"`
		AutoColor  bool            `json:"auto_color"`
		LineColor  json.RawMessage `json:"line_color"` // accepted, not drawn
		IsHyaline  bool            `json:"is_hyaline"` // accepted, not drawn
	}
	if err := json.Unmarshal(q.body, &b); err != nil {
		return fail(47001)
	}
	width := b.Width
	if width == 0 {
		width = defaultCodeWidth
	}
	env := b.EnvVersion
	if env == "" {
		env = EnvRelease
	}
	switch {
	case !validScene(b.Scene):
		return answer{errcode: 40097, errmsg: "invalid args, invalid scene"}
	case width < minCodeWidth || width > maxCodeWidth:
		return answer{errcode: 40097, errmsg: "invalid args, invalid width"}
	case env != EnvRelease && env != EnvTrial && env != EnvDevelop:
		return answer{errcode: 40097, errmsg: "invalid args, invalid env_version"}
	}
	checkPath := b.CheckPath == nil || *b.CheckPath
	if b.Page != "" && len(pages) > 0 && checkPath && env == EnvRelease && !slices.Contains(pages, b.Page) {
		return fail(41030)
	}
	img, err := codePNG(ScanURL(tok.appID, b.Scene), width)
	if err != nil {
		return fail(-1) // cannot happen: the text is at most a few hundred bytes
	}
	e.mu.Lock()
	e.scenes.put(WXACode{AppID: tok.appID, Scene: b.Scene, Page: b.Page, EnvVersion: env, Width: width, IssuedAt: q.now}, e.opts.MaxScenes)
	e.mu.Unlock()
	return answer{image: img}
}

// serveScan is the HTTP form of Scan.
func (e *Emulator) serveScan(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Scene string `json:"scene"`
		User  string `json:"user"`
	}
	if !decodeHelper(w, r, &in) {
		return
	}
	if in.User == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "user is required"})
		return
	}
	var appID, code string
	var err error
	if in.Scene == "" {
		// No scene: the code most recently shown (the dev walkthrough).
		in.Scene, appID, code, err = e.ScanLatest(in.User)
	} else {
		appID, code, err = e.Scan(in.Scene, in.User)
	}
	switch {
	case errors.Is(err, ErrUnknownScene):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"appid": appID, "scene": in.Scene, "code": code})
	}
}
