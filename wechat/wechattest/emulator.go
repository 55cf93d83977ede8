// Package wechattest is a faithful in-process emulator of the WeChat server
// APIs that wxoidc uses (docs/wechat.md §12): jscode2session,
// getuserphonenumber, /cgi-bin/token, /cgi-bin/stable_token, checksession,
// resetusersessionkey, getwxacodeunlimit (mini-program codes, docs/wechat.md
// §6.3) and the web OAuth APIs (/sns/oauth2/access_token,
// /sns/oauth2/refresh_token, /sns/userinfo, /sns/auth), plus the "phone side"
// (wx.login codes, the phone button's code and legacy encrypted data, Open SDK
// codes, scanning a mini-program code), WeChat's browser authorize pages,
// fault injection and a call log.
//
// It speaks the real wire format (HTTP 200 + JSON errcodes), takes an injected
// clock, and is safe for concurrent use. Use NewServer in tests, or mount
// Handler under a prefix with http.StripPrefix (dev mode mounts it at
// /wechat-emulator/). Its helper endpoints (/login, /app-login, /phone,
// /scan, /faults, /calls) and authorize pages
// mint codes and change behaviour without authentication: serve it on
// loopback only (dev mode's listener guarantees that).
//
// Where WeChat's behaviour is UNCONFIRMED (docs/wechat.md §13) the emulator picks
// the documented assumption: 40029 for an openid mismatch on
// getuserphonenumber, 43002 for GET on stable_token, 45011 for stable_token's
// minute limit, 40002 for a wrong grant_type on jscode2session, 40003 for an
// unknown openid on checksession/resetusersessionkey, "+CC" prefixed
// phoneNumber for non-CN numbers, 40097 for a bad scene, width or
// env_version on getwxacodeunlimit and 40013 there for a token of an app
// that is not a mini-program.
package wechattest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxoidc/wxoidc/internal/manualclock"
)

// Clock is the emulator's time source.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// ManualClock is a Clock that moves only when told (Now, Advance, Set). Safe
// for concurrent use. Its Now method value can be passed as wechat.Config.Now.
type ManualClock = manualclock.Clock

// NewManualClock returns a clock stopped at t.
func NewManualClock(t time.Time) *ManualClock { return manualclock.New(t) }

// AppKind is the kind of a registered app.
type AppKind string

// App kinds. Only mini-programs can mint wx.login and phone codes; website
// apps and official accounts mint web OAuth codes (WebCode, the browser
// pages); mobile apps mint Open SDK codes (AppLogin).
const (
	KindMiniProgram     AppKind = "miniprogram"
	KindOfficialAccount AppKind = "officialaccount"
	KindWebsite         AppKind = "website"
	// KindMobileApp is an Open SDK mobile app: AppLogin mints its SendAuth
	// codes (scope snsapi_userinfo).
	KindMobileApp AppKind = "mobileapp"
)

// App is a registered WeChat app.
type App struct {
	AppID  string
	Secret string
	Kind   AppKind // "" means KindMiniProgram
	// OpenPlatformID binds the app to an open platform account: users get the
	// same unionid in every app bound to it. "" = unbound, no unionid.
	OpenPlatformID string
	// PhoneAPI allows getuserphonenumber; when false it answers 48001.
	PhoneAPI bool
	// IPWhitelist, when not empty, restricts the token endpoints to callers
	// whose IP is listed (addresses or CIDR prefixes); others get 40164.
	IPWhitelist []string
	// SecretFrozen makes the token endpoints answer 40243.
	SecretFrozen bool
	// Pages lists a mini-program's released pages (e.g. "pages/login/index").
	// When not empty, getwxacodeunlimit answers 41030 for a page not listed if
	// check_path is on and env_version is release; when empty any page is
	// accepted.
	Pages []string
}

// Options configures an Emulator. Zero values pick WeChat's documented
// defaults; a negative quota means unlimited.
type Options struct {
	Clock Clock // default: the system clock
	// SessionKeyMinRotation: a login rotates the user's session key only if
	// the current key is at least this old. 0 = every login rotates.
	SessionKeyMinRotation time.Duration
	// SessionKeyLifetime: after this, checksession answers 87009. 0 = never
	// expires (WeChat does not disclose the lifetime).
	SessionKeyLifetime time.Duration
	// DailyTokenQuota: /cgi-bin/token calls per appid per day (default 2000).
	DailyTokenQuota int
	// StableTokenMinuteQuota: stable_token calls per appid per minute (default 10000).
	StableTokenMinuteQuota int
	// StableTokenDailyQuota: stable_token calls per appid per day (default 500000).
	StableTokenDailyQuota int
	// ForceRefreshDailyLimit: force_refresh renewals per appid per day (default 20).
	ForceRefreshDailyLimit int
	// JSCode2SessionPerMinute: jscode2session calls per user per minute (default 100).
	JSCode2SessionPerMinute int
	// MaxCalls bounds the call log (default 10000); the oldest half is
	// dropped when it is full.
	MaxCalls int
	// MaxScenes bounds the mini-program codes remembered for Scan (default
	// 10000; the oldest is forgotten first) and the scan log (the oldest half
	// is dropped when it is full).
	MaxScenes int
}

// Lifetimes and windows of docs/wechat.md §2–§5.
const (
	loginCodeLife       = 5 * time.Minute
	phoneCodeLife       = 5 * time.Minute
	tokenLife           = 7200 * time.Second
	classicTokenGrace   = 5 * time.Minute
	stableRenewWindow   = 300 * time.Second
	forceRefreshSpacing = 30 * time.Second
)

func (o *Options) setDefaults() {
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.DailyTokenQuota, 2000)
	def(&o.StableTokenMinuteQuota, 10000)
	def(&o.StableTokenDailyQuota, 500000)
	def(&o.ForceRefreshDailyLimit, 20)
	def(&o.JSCode2SessionPerMinute, 100)
	def(&o.MaxCalls, 10000)
	def(&o.MaxScenes, 10000)
}

// Errors of the Go helpers (and the 400 answers of /login and /phone).
var (
	ErrUnknownApp     = errors.New("unknown appid")
	ErrNotMiniProgram = errors.New("app is not a mini-program")
	ErrInvalidUser    = errors.New("invalid user: want 1 to 128 printable characters")
	ErrInvalidPhone   = errors.New("invalid phone_number: want E.164, e.g. +8613800138000")
	ErrNotWebApp      = errors.New("app is not a website app or an official account")
	ErrNotMobileApp   = errors.New("app is not a mobile app")
	ErrInvalidScope   = errors.New("invalid scope for this app: website apps take snsapi_login, official accounts snsapi_base or snsapi_userinfo")
)

// Emulator is an in-process WeChat. Create it with New or NewServer.
type Emulator struct {
	opts  Options
	clock Clock

	mu      sync.Mutex
	apps    map[string]*appState
	users   map[userKey]*userState
	openids map[userKey]string // (appid, openid) → user
	codes   map[string]*codeState
	tokens  map[string]*tokenState
	web     map[string]*webToken   // per-user web access tokens (web.go)
	refresh map[string]*webRefresh // their refresh tokens
	faults  []*faultEntry
	calls   []Call
	mints   int
	scenes  sceneLog    // mini-program codes issued (wxacode.go)
	scans   []ScanEvent // scans of those codes, oldest first
}

type userKey struct{ appID, user string }

type appState struct {
	App
	whitelist []netip.Prefix

	classic   *tokenState // latest /cgi-bin/token token
	classicDC dayCounter

	stable        *tokenState // latest stable token
	stableMinute  minuteCounter
	stableDC      dayCounter
	forceDC       dayCounter
	lastForceTime time.Time
}

type userState struct {
	key       []byte // current session key, nil until the first login/phone
	rotatedAt time.Time
	expiresAt time.Time // zero: never
	blocked   bool
	snapshot  bool // a "snapshot page" virtual user (web OAuth answers is_snapshotuser:1)
	rate      minuteCounter
}

type codeKind int

const (
	kindLogin codeKind = iota + 1
	kindPhone
	kindWeb // web OAuth (website, official account) and Open SDK codes
)

type codeState struct {
	appID, user string
	kind        codeKind
	issued      time.Time
	expires     time.Time
	used        bool
	phone       phoneNumber // kindPhone only
	scope       string      // kindWeb only
}

type tokenState struct {
	value   string
	appID   string
	stable  bool
	expires time.Time
	deadAt  time.Time // superseded /cgi-bin/token: dies then; zero otherwise
	revoked bool      // force-refreshed away
}

type dayCounter struct {
	day string
	n   int
}

// inc counts one call on now's day (WeChat's day: UTC+8) and returns the count.
func (d *dayCounter) inc(now time.Time) int {
	day := now.In(beijing).Format(time.DateOnly)
	if d.day != day {
		d.day, d.n = day, 0
	}
	d.n++
	return d.n
}

func (d *dayCounter) count(now time.Time) int {
	if d.day != now.In(beijing).Format(time.DateOnly) {
		return 0
	}
	return d.n
}

var beijing = time.FixedZone("UTC+8", 8*3600)

type minuteCounter struct {
	minute int64
	n      int
}

func (m *minuteCounter) inc(now time.Time) int {
	if cur := now.Unix() / 60; m.minute != cur {
		m.minute, m.n = cur, 0
	}
	m.n++
	return m.n
}

// New returns an emulator with no apps registered.
func New(opts Options) *Emulator {
	opts.setDefaults()
	return &Emulator{
		opts:    opts,
		clock:   opts.Clock,
		apps:    make(map[string]*appState),
		users:   make(map[userKey]*userState),
		openids: make(map[userKey]string),
		codes:   make(map[string]*codeState),
		tokens:  make(map[string]*tokenState),
		web:     make(map[string]*webToken),
		refresh: make(map[string]*webRefresh),
		scenes:  newSceneLog(),
	}
}

// RegisterApp adds or replaces an app. Invalid IPWhitelist entries panic
// (a test or seed bug).
func (e *Emulator) RegisterApp(a App) {
	if a.Kind == "" {
		a.Kind = KindMiniProgram
	}
	st := &appState{App: a}
	for _, s := range a.IPWhitelist {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil {
				panic(fmt.Sprintf("wechattest: bad IPWhitelist entry %q", s))
			}
			p = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		st.whitelist = append(st.whitelist, p.Masked())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, ok := e.apps[a.AppID]; ok {
		// Keep issued tokens and counters across a re-registration.
		st.classic, st.classicDC = old.classic, old.classicDC
		st.stable, st.stableMinute, st.stableDC = old.stable, old.stableMinute, old.stableDC
		st.forceDC, st.lastForceTime = old.forceDC, old.lastForceTime
	}
	e.apps[a.AppID] = st
}

// OpenID returns user's openid in appID: deterministic, 28 characters from
// [A-Za-z0-9_-], starting with 'o', different in every appid.
func (e *Emulator) OpenID(appID, user string) string { return deriveID("openid", appID, user) }

// UnionID returns user's unionid for appID's open platform, or "" when the
// app is unknown or not bound to an open platform.
func (e *Emulator) UnionID(appID, user string) string {
	e.mu.Lock()
	app, ok := e.apps[appID]
	e.mu.Unlock()
	if !ok || app.OpenPlatformID == "" {
		return ""
	}
	return deriveID("unionid", app.OpenPlatformID, user)
}

func deriveID(kind, scope, user string) string {
	h := sha256.Sum256([]byte("wechattest\x00" + kind + "\x00" + scope + "\x00" + user))
	return "o" + base64.RawURLEncoding.EncodeToString(h[:])[:27]
}

// BlockUser makes WeChat risk control block user in appID: jscode2session
// answers 40226.
func (e *Emulator) BlockUser(appID, user string) { e.setBlocked(appID, user, true) }

// UnblockUser undoes BlockUser.
func (e *Emulator) UnblockUser(appID, user string) { e.setBlocked(appID, user, false) }

func (e *Emulator) setBlocked(appID, user string, b bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.userLocked(appID, user).blocked = b
}

// userLocked returns (and creates) a user's state. e.mu must be held.
func (e *Emulator) userLocked(appID, user string) *userState {
	k := userKey{appID, user}
	u, ok := e.users[k]
	if !ok {
		u = &userState{}
		e.users[k] = u
		e.openids[userKey{appID, e.OpenID(appID, user)}] = user
	}
	return u
}

// CurrentSessionKey returns user's current session key in appID (base64), or
// "" if the user never logged in. For tests only.
func (e *Emulator) CurrentSessionKey(appID, user string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.users[userKey{appID, user}]
	if !ok || u.key == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(u.key)
}

func (e *Emulator) miniProgram(appID string) error {
	app, ok := e.apps[appID]
	if !ok {
		return ErrUnknownApp
	}
	if app.Kind != KindMiniProgram {
		return ErrNotMiniProgram
	}
	return nil
}

func validUser(user string) error {
	if user == "" || len(user) > 128 {
		return ErrInvalidUser
	}
	for _, r := range user {
		if r < ' ' || r == 0x7f {
			return ErrInvalidUser
		}
	}
	return nil
}

// Login plays wx.login for user in appID: it mints a login code (5 minutes,
// single use) and rotates the user's session key unless the current key is
// younger than Options.SessionKeyMinRotation.
func (e *Emulator) Login(appID, user string) (string, error) {
	if err := validUser(user); err != nil {
		return "", err
	}
	code := randomCode()
	newKey := randomBytes(16)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.loginLocked(appID, user, code, newKey, e.clock.Now()); err != nil {
		return "", err
	}
	return code, nil
}

// loginLocked is Login's work (shared with Scan): code becomes a login code
// of user in appID, newKey the user's session key if due. e.mu held.
func (e *Emulator) loginLocked(appID, user, code string, newKey []byte, now time.Time) error {
	if err := e.miniProgram(appID); err != nil {
		return err
	}
	u := e.userLocked(appID, user)
	if u.key == nil || e.opts.SessionKeyMinRotation <= 0 || now.Sub(u.rotatedAt) >= e.opts.SessionKeyMinRotation {
		e.setKeyLocked(u, newKey, now)
	}
	e.addCodeLocked(code, &codeState{appID: appID, user: user, kind: kindLogin, issued: now, expires: now.Add(loginCodeLife)})
	return nil
}

func (e *Emulator) setKeyLocked(u *userState, key []byte, now time.Time) {
	u.key, u.rotatedAt = key, now
	u.expiresAt = time.Time{}
	if e.opts.SessionKeyLifetime > 0 {
		u.expiresAt = now.Add(e.opts.SessionKeyLifetime)
	}
}

func (e *Emulator) addCodeLocked(code string, c *codeState) {
	e.codes[code] = c
	e.mints++
	if e.mints%1024 == 0 {
		e.sweepLocked(c.issued)
	}
}

// sweepLocked forgets long-dead codes and tokens so a long load test does not
// grow the maps without bound. Dead entries are kept a while so that replays
// still get the realistic answer (40163, 42001).
func (e *Emulator) sweepLocked(now time.Time) {
	for k, c := range e.codes {
		if now.Sub(c.expires) > time.Hour {
			delete(e.codes, k)
		}
	}
	for k, t := range e.tokens {
		if now.Sub(t.expires) > 24*time.Hour {
			delete(e.tokens, k)
		}
	}
	for k, t := range e.web {
		if now.Sub(t.expires) > 24*time.Hour {
			delete(e.web, k)
		}
	}
	for k, r := range e.refresh {
		if now.Sub(r.expires) > 24*time.Hour {
			delete(e.refresh, k)
		}
	}
}

// PhoneGrant is what the phone button's event gives the mini-program: the
// new-API phone code and the legacy encryptedData/iv.
type PhoneGrant struct {
	Code          string `json:"code"`
	EncryptedData string `json:"encryptedData"`
	IV            string `json:"iv"`
}

// Tamper selects a corruption of the legacy data minted by PhoneTampered.
type Tamper string

// Tampering hooks (docs/wechat.md §12 item 9).
const (
	TamperNone Tamper = ""
	// TamperCiphertext flips a bit of the ciphertext so that the padding
	// check fails.
	TamperCiphertext Tamper = "ciphertext"
	// TamperWatermark encrypts a watermark naming another appid.
	TamperWatermark Tamper = "watermark"
	// TamperIVLength returns a 12-byte IV.
	TamperIVLength Tamper = "iv_length"
	// TamperNonJSON encrypts (correctly padded) text that is not JSON.
	TamperNonJSON Tamper = "non_json"
)

// Phone plays the phone button for user in appID with number e164 (e.g.
// "+8613800138000"): a phone code (5 minutes, single use, resolvable by
// getuserphonenumber) and legacy data encrypted under the user's session key
// current at this moment (one is created if the user never logged in).
func (e *Emulator) Phone(appID, user, e164 string) (PhoneGrant, error) {
	return e.PhoneTampered(appID, user, e164, TamperNone)
}

// PhoneTampered is Phone with the legacy data corrupted as t says. The phone
// code is unaffected.
func (e *Emulator) PhoneTampered(appID, user, e164 string, t Tamper) (PhoneGrant, error) {
	switch t {
	case TamperNone, TamperCiphertext, TamperWatermark, TamperIVLength, TamperNonJSON:
	default:
		return PhoneGrant{}, fmt.Errorf("wechattest: unknown tamper %q", t)
	}
	if err := validUser(user); err != nil {
		return PhoneGrant{}, err
	}
	num, err := parseE164(e164)
	if err != nil {
		return PhoneGrant{}, err
	}
	code := randomCode()
	fresh := randomBytes(16)
	e.mu.Lock()
	if err := e.miniProgram(appID); err != nil {
		e.mu.Unlock()
		return PhoneGrant{}, err
	}
	now := e.clock.Now()
	u := e.userLocked(appID, user)
	if u.key == nil {
		e.setKeyLocked(u, fresh, now)
	}
	key := u.key
	e.addCodeLocked(code, &codeState{appID: appID, user: user, kind: kindPhone, issued: now, expires: now.Add(phoneCodeLife), phone: num})
	e.mu.Unlock()

	wmApp := appID
	if t == TamperWatermark {
		wmApp = "wx0000000000000000"
	}
	pt, err := json.Marshal(num.info(wmApp, now))
	if err != nil {
		return PhoneGrant{}, fmt.Errorf("wechattest: encoding phone data: %w", err)
	}
	if t == TamperNonJSON {
		pt = []byte("phone=" + num.pure + "; this is not JSON")
	}
	data, iv := encryptCBC(key, pt)
	switch t {
	case TamperCiphertext:
		// Flip the top bit of the byte that CBC XORs into the last padding
		// byte: the pad byte becomes >= 0x80, always invalid.
		data[len(data)-aes.BlockSize-1] ^= 0x80
	case TamperIVLength:
		iv = iv[:12]
	}
	return PhoneGrant{
		Code:          code,
		EncryptedData: base64.StdEncoding.EncodeToString(data),
		IV:            base64.StdEncoding.EncodeToString(iv),
	}, nil
}

// Encrypt encrypts plaintext the way WeChat encrypts legacy data for user in
// appID (AES-128-CBC, PKCS#7, the user's current session key, a random IV),
// e.g. to build user-info data. The user must have a session key.
func (e *Emulator) Encrypt(appID, user string, plaintext []byte) (encryptedData, iv string, err error) {
	e.mu.Lock()
	u, ok := e.users[userKey{appID, user}]
	var key []byte
	if ok {
		key = u.key
	}
	e.mu.Unlock()
	if key == nil {
		return "", "", fmt.Errorf("wechattest: %s has no session key in %s", user, appID)
	}
	data, ivb := encryptCBC(key, plaintext)
	return base64.StdEncoding.EncodeToString(data), base64.StdEncoding.EncodeToString(ivb), nil
}

func encryptCBC(key, pt []byte) (data, iv []byte) {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // keys are always 16 bytes
	}
	pad := aes.BlockSize - len(pt)%aes.BlockSize
	buf := make([]byte, len(pt)+pad)
	copy(buf, pt)
	for i := len(pt); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	iv = randomBytes(aes.BlockSize)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return buf, iv
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return b
}

// randomCode returns a 32-character code like WeChat's.
func randomCode() string { return base64.RawURLEncoding.EncodeToString(randomBytes(24)) }

// phoneNumber is a number split into country code and national number.
type phoneNumber struct{ cc, pure string }

type phoneInfo struct {
	PhoneNumber     string         `json:"phoneNumber"`
	PurePhoneNumber string         `json:"purePhoneNumber"`
	CountryCode     string         `json:"countryCode"`
	Watermark       phoneWatermark `json:"watermark"`
}

type phoneWatermark struct {
	Timestamp int64  `json:"timestamp"`
	AppID     string `json:"appid"`
}

func (p phoneNumber) info(appID string, at time.Time) phoneInfo {
	full := p.pure
	if p.cc != "86" {
		full = "+" + p.cc + p.pure // UNCONFIRMED format for non-CN numbers
	}
	return phoneInfo{
		PhoneNumber:     full,
		PurePhoneNumber: p.pure,
		CountryCode:     p.cc,
		Watermark:       phoneWatermark{Timestamp: at.Unix(), AppID: appID},
	}
}

// twoDigitCC lists the two-digit E.164 country calling codes; 1 and 7 are the
// one-digit ones and every other code has three digits (ITU-T E.164 list).
var twoDigitCC = map[string]bool{
	"20": true, "27": true, "30": true, "31": true, "32": true, "33": true, "34": true,
	"36": true, "39": true, "40": true, "41": true, "43": true, "44": true, "45": true,
	"46": true, "47": true, "48": true, "49": true, "51": true, "52": true, "53": true,
	"54": true, "55": true, "56": true, "57": true, "58": true, "60": true, "61": true,
	"62": true, "63": true, "64": true, "65": true, "66": true, "81": true, "82": true,
	"84": true, "86": true, "90": true, "91": true, "92": true, "93": true, "94": true,
	"95": true, "98": true,
}

func parseE164(s string) (phoneNumber, error) {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return phoneNumber{}, ErrInvalidPhone
	}
	digits := s[1:]
	if _, err := strconv.ParseUint(digits, 10, 64); err != nil || strings.ContainsAny(digits, "+-") {
		return phoneNumber{}, ErrInvalidPhone
	}
	n := 3
	switch {
	case digits[0] == '1' || digits[0] == '7':
		n = 1
	case twoDigitCC[digits[:2]]:
		n = 2
	}
	if len(digits)-n < 4 {
		return phoneNumber{}, ErrInvalidPhone
	}
	return phoneNumber{cc: digits[:n], pure: digits[n:]}, nil
}
