package wechat

import (
	"context"
	"errors"
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
	panic("wechat: ValidScene not implemented yet")
}

// UnlimitedCode asks WeChat for a mini-program code of app (POST
// /wxa/getwxacodeunlimit, authenticated by the app access token, with the
// same refresh-and-retry as PhoneNumber).
func (c *Client) UnlimitedCode(ctx context.Context, app App, req CodeRequest) (CodeImage, error) {
	panic("wechat: UnlimitedCode not implemented yet")
}
