package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrInvalidPage: WeChat refused the mini-program page of a code request
// (41030: no such page, or not released while check_path is on). It also
// matches ErrConfig: the operator must fix the configured page.
var ErrInvalidPage = errors.New("wechat: invalid mini-program page")

// MaxSceneLen is the longest scene getwxacodeunlimit accepts
// (docs/wechat.md §6.3).
const MaxSceneLen = 32

// Mini-program versions a code may open (getwxacodeunlimit's env_version).
const (
	EnvRelease = "release"
	EnvTrial   = "trial"
	EnvDevelop = "develop"
)

// CodeRequest is a getwxacodeunlimit request (docs/wechat.md §6.3).
type CodeRequest struct {
	Scene string // required: 1–32 characters of [0-9A-Za-z!#$&'()*+,/:;=?@._~-]
	Page  string // the page the code opens, e.g. "pages/scan/index"; "" is the home page
	// EnvVersion is EnvRelease (the default when empty), EnvTrial or
	// EnvDevelop.
	EnvVersion string
	// SkipPathCheck sends check_path=false: the page need not exist in the
	// released version (required for trial and develop codes).
	SkipPathCheck bool
	Width         int // 280–1280 pixels; 0 is WeChat's default (430)
}

// CodeImage is a mini-program code: the image bytes WeChat answered and
// their type, told by the bytes themselves ("image/png" or "image/jpeg").
type CodeImage struct {
	Bytes       []byte
	ContentType string
}

// ValidScene reports whether s is a scene WeChat accepts: 1 to MaxSceneLen
// characters of its alphabet (no '%', so no URL encoding).
func ValidScene(s string) bool {
	if s == "" || len(s) > MaxSceneLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !sceneChar(s[i]) {
			return false
		}
	}
	return true
}

// scenePunct is the punctuation getwxacodeunlimit allows in a scene
// (docs/wechat.md §6.3).
const scenePunct = "!#$&'()*+,/:;=?@-._~"

func sceneChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' ||
		strings.IndexByte(scenePunct, c) >= 0
}

// Bounds of a code request (docs/wechat.md §6.3).
const (
	minCodeWidth = 280
	maxCodeWidth = 1280
	maxPageLen   = 256 // WeChat states none; a page path is far shorter
)

// validate checks the request shape before WeChat sees it. The scene is never
// quoted: it is a sign-in ticket.
func (r CodeRequest) validate() error {
	if !ValidScene(r.Scene) {
		return fmt.Errorf("wechat %s: invalid scene: want 1 to %d characters of [0-9A-Za-z] and %s: %w", apiUnlimitedCode, MaxSceneLen, scenePunct, ErrConfig)
	}
	if r.Page != "" && (!printable(r.Page, maxPageLen) || r.Page[0] == '/' || strings.ContainsAny(r.Page, "?#")) {
		return fmt.Errorf("wechat %s: invalid page: want a path of at most %d printable characters without a leading '/' or a query, e.g. pages/login/index: %w", apiUnlimitedCode, maxPageLen, ErrConfig)
	}
	switch r.EnvVersion {
	case "", EnvRelease, EnvTrial, EnvDevelop:
	default:
		return fmt.Errorf("wechat %s: env_version must be %q, %q or %q: %w", apiUnlimitedCode, EnvRelease, EnvTrial, EnvDevelop, ErrConfig)
	}
	if r.Width != 0 && (r.Width < minCodeWidth || r.Width > maxCodeWidth) {
		return fmt.Errorf("wechat %s: width must be 0 (WeChat's default) or %d to %d pixels, got %d: %w", apiUnlimitedCode, minCodeWidth, maxCodeWidth, r.Width, ErrConfig)
	}
	return nil
}

// codeBody is getwxacodeunlimit's JSON body. check_path is always sent:
// WeChat's default (true) is what a zero SkipPathCheck means anyway.
type codeBody struct {
	Scene      string `json:"scene"`
	Page       string `json:"page,omitempty"`
	CheckPath  bool   `json:"check_path"`
	EnvVersion string `json:"env_version,omitempty"`
	Width      int    `json:"width,omitempty"`
}

// UnlimitedCode asks WeChat for a mini-program code of app (POST
// /wxa/getwxacodeunlimit, authenticated by the app access token, with the
// same refresh-and-retry as PhoneNumber).
//
// The request is checked first (ErrConfig: scene, page, env_version, width).
// WeChat's errors are *Error: 41030 matches ErrInvalidPage and ErrConfig,
// 40097 ErrConfig, 45009/45011 ErrRateLimited, a token still rejected after
// the refresh ErrAccessToken. A success answer is told by its bytes (a PNG or
// JPEG of at most 1 MiB), never by its Content-Type: WeChat serves JSON
// errors as image/jpeg. -1 and transport failures are retried once, as for
// every call; no code is consumed, so no single-flight is needed.
func (c *Client) UnlimitedCode(ctx context.Context, app App, req CodeRequest) (CodeImage, error) {
	if err := app.validate(); err != nil {
		return CodeImage{}, err
	}
	if err := req.validate(); err != nil {
		return CodeImage{}, err
	}
	body, err := json.Marshal(codeBody{
		Scene:      req.Scene,
		Page:       req.Page,
		CheckPath:  !req.SkipPathCheck,
		EnvVersion: req.EnvVersion,
		Width:      req.Width,
	})
	if err != nil {
		return CodeImage{}, fmt.Errorf("wechat %s: encoding request: %w", apiUnlimitedCode, err)
	}
	rep, err := c.run(ctx, operation{
		build:     c.withAppToken(app, apiUnlimitedCode, "/wxa/getwxacodeunlimit", body, true, app.Secret, req.Scene),
		usesToken: true,
		app:       app,
	})
	if err != nil {
		return CodeImage{}, err
	}
	if rep.image == "" {
		// errcode 0 (or none) but JSON: not a code.
		return CodeImage{}, &TransportError{API: apiUnlimitedCode, Host: rep.host, Status: http.StatusOK, Reason: "success answer without an image"}
	}
	return CodeImage{Bytes: rep.body, ContentType: rep.image}, nil
}
