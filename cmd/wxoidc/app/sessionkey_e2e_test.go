package app_test

import (
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// The legacy-decryption race (docs/contract.md §1.1) after a wx.login that
// keeps the session key: K1, K2, K2 must leave K1 stored as the previous
// key, so phone data encrypted under K1 still decrypts.
func TestLegacyPhoneAfterSameKeyLogin(t *testing.T) {
	clk := wechattest.NewManualClock(time.Now())
	s := newHardStack(t, hardOptions{emu: wechattest.Options{Clock: clk, SessionKeyMinRotation: time.Hour}}).stack
	const user = "uma"

	// K1, and phone data the user taps under it.
	code := s.login(appA, user)
	k1 := s.Emu.CurrentSessionKey(appA, user)
	data := s.phone(appA, user, "+8613922223333")
	sub := s.verifyID(miniA, mustToken(t, s.token(wechatForm(miniA, code, "scope", "openid")))).Subject

	// K2: WeChat rotates the key after an hour.
	clk.Advance(time.Hour + time.Minute)
	mustToken(t, s.token(wechatForm(miniA, s.login(appA, user), "scope", "openid")))
	k2 := s.Emu.CurrentSessionKey(appA, user)
	if k2 == k1 {
		t.Fatal("the emulator did not rotate the session key")
	}
	// K2 again: a login within the hour keeps the key.
	mustToken(t, s.token(wechatForm(miniA, s.login(appA, user), "scope", "openid")))
	if s.Emu.CurrentSessionKey(appA, user) != k2 {
		t.Fatal("the emulator rotated the session key within the hour")
	}

	// The phone data is under K1: neither this code's key nor the current
	// stored key opens it, the previous one must.
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, user), "encrypted_data", data.EncryptedData, "iv", data.IV, "scope", "openid phone")))
	c := s.verifyID(miniA, tr)
	if c.Subject != sub || c.PhoneNumber != "+8613922223333" || !c.PhoneVerified {
		t.Errorf("claims = %+v (want sub %s and the phone)", c, sub)
	}
}
