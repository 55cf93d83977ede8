package wechat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// PhoneNumber resolves a phone code from <button open-type="getPhoneNumber">
// with POST /wxa/business/getuserphonenumber, authenticated by the app access
// token (AccessToken). openID, when not empty, is sent so that WeChat checks
// the code was issued to that user. The answer's watermark appid must equal
// app.AppID (else ErrWatermark).
//
// Retries: an access-token rejection (40001/40014/42001) drops the cached
// token and retries once with a fresh one (ErrAccessToken if it fails again);
// -1 and transport failures follow the same note-A policy as Code2Session (a
// 40029 after an attempt with unknown outcome matches ErrBusy, since a reused
// phone code answers 40029). Concurrent calls with the same appid, code and
// openid share one WeChat call.
func (c *Client) PhoneNumber(ctx context.Context, app App, phoneCode, openID string) (Phone, error) {
	if err := app.validate(); err != nil {
		return Phone{}, err
	}
	if err := checkCode(apiPhoneNumber, phoneCode); err != nil {
		return Phone{}, err
	}
	if openID != "" && !validID(openID) {
		return Phone{}, fmt.Errorf("wechat %s: malformed openid: %w", apiPhoneNumber, ErrConfig)
	}
	v, err := c.codes.do(ctx, flightKey(apiPhoneNumber, app.AppID, phoneCode, openID), func(ctx context.Context) (any, error) {
		return c.phoneNumber(ctx, app, phoneCode, openID)
	})
	if err != nil {
		if ctx.Err() != nil && err == ctx.Err() {
			return Phone{}, ctxError(apiPhoneNumber, err)
		}
		return Phone{}, err
	}
	return v.(Phone), nil
}

func (c *Client) phoneNumber(ctx context.Context, app App, phoneCode, openID string) (Phone, error) {
	body, err := json.Marshal(struct {
		Code   string `json:"code"`
		OpenID string `json:"openid,omitempty"`
	}{phoneCode, openID})
	if err != nil {
		return Phone{}, fmt.Errorf("wechat %s: encoding request: %w", apiPhoneNumber, err)
	}
	rep, err := c.run(ctx, operation{
		build:        c.withAppToken(app, apiPhoneNumber, "/wxa/business/getuserphonenumber", body, false, phoneCode, app.Secret),
		codeExchange: true,
		usesToken:    true,
		app:          app,
	})
	if err != nil {
		return Phone{}, err
	}
	p, err := parsePhoneInfo(rep.body)
	if err != nil {
		return Phone{}, &TransportError{API: apiPhoneNumber, Host: rep.host, Status: http.StatusOK, Reason: "success answer without a valid phone_info"}
	}
	if p.WatermarkAppID != app.AppID {
		return Phone{}, fmt.Errorf("wechat %s: phone_info watermark does not name appid %s: %w", apiPhoneNumber, app.AppID, ErrWatermark)
	}
	return p, nil
}
