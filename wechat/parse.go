package wechat

import (
	"bytes"
	"encoding/json"
	"errors"
)

// envelope is the part of every WeChat answer that says success or failure.
type envelope struct {
	code int
	msg  string
}

var (
	errEmptyBody   = errors.New("empty body")
	errNotJSON     = errors.New("non-JSON body")
	errBadErrcode  = errors.New("errcode is not an integer")
	errMissingData = errors.New("success answer without the required fields")
)

// parseEnvelope reads errcode/errmsg from a body of any Content-Type. The body
// must be a JSON object; errcode absent, null or 0 means success. errcode may
// be a JSON integer or a string holding one (lenient, never observed); any
// other shape is malformed.
func parseEnvelope(body []byte) (envelope, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return envelope{}, errEmptyBody
	}
	if trimmed[0] != '{' {
		return envelope{}, errNotJSON
	}
	var raw struct {
		ErrCode json.RawMessage `json:"errcode"`
		ErrMsg  json.RawMessage `json:"errmsg"`
	}
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return envelope{}, errNotJSON
	}
	var env envelope
	if len(raw.ErrCode) > 0 && string(raw.ErrCode) != "null" {
		var n flexNumber
		if err := n.UnmarshalJSON(raw.ErrCode); err != nil || int64(int32(n)) != int64(n) {
			return envelope{}, errBadErrcode
		}
		env.code = int(n)
	}
	if len(raw.ErrMsg) > 0 {
		// A non-string errmsg is ignored rather than fatal: errcode decides.
		_ = json.Unmarshal(raw.ErrMsg, &env.msg)
	}
	return env, nil
}

// sessionJSON is jscode2session's success body.
type sessionJSON struct {
	OpenID     string `json:"openid"`
	UnionID    string `json:"unionid"`
	SessionKey string `json:"session_key"`
}

// maxIDLen bounds openid/unionid: WeChat's are 28 characters; anything much
// longer is not an id we want to store.
const maxIDLen = 128

// parseSession decodes a jscode2session success body. It requires openid and
// a valid session_key (EasyWeChat's rule: a "success" without them is an error).
func parseSession(body []byte) (Session, error) {
	var j sessionJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return Session{}, errMissingData
	}
	if !validID(j.OpenID) || (j.UnionID != "" && !validID(j.UnionID)) {
		return Session{}, errMissingData
	}
	key, err := ParseSessionKey(j.SessionKey)
	if err != nil {
		return Session{}, errMissingData
	}
	return Session{OpenID: j.OpenID, UnionID: j.UnionID, SessionKey: key}, nil
}

// validID accepts printable ASCII ids without spaces. WeChat does not specify
// the format, so only sanity is checked (never parse ids).
func validID(s string) bool { return printable(s, maxIDLen) }

func printable(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// parsePhoneInfo decodes getuserphonenumber's success body.
func parsePhoneInfo(body []byte) (Phone, error) {
	var j struct {
		PhoneInfo *phoneJSON `json:"phone_info"`
	}
	if err := json.Unmarshal(body, &j); err != nil || j.PhoneInfo == nil {
		return Phone{}, errMissingData
	}
	p, ok := j.PhoneInfo.toPhone()
	if !ok {
		return Phone{}, errMissingData
	}
	return p, nil
}

// tokenJSON is stable_token's success body.
type tokenJSON struct {
	AccessToken string     `json:"access_token"`
	ExpiresIn   flexNumber `json:"expires_in"`
}

// maxTokenLen: WeChat says to reserve 512 characters; allow some slack.
const maxTokenLen = 2048

func parseToken(body []byte) (string, int64, error) {
	var j tokenJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return "", 0, errMissingData
	}
	if !printable(j.AccessToken, maxTokenLen) {
		return "", 0, errMissingData
	}
	if j.ExpiresIn <= 0 || j.ExpiresIn > 10*365*24*3600 {
		return "", 0, errMissingData
	}
	return j.AccessToken, int64(j.ExpiresIn), nil
}
