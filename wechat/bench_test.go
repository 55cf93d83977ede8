package wechat_test

import (
	"context"
	"testing"

	"github.com/wxoidc/wxoidc/wechat"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

func BenchmarkDecryptPhone(b *testing.B) {
	emu := wechattest.New(wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: testAppID, Secret: testSecret})
	g, err := emu.Phone(testAppID, "alice", "+8613800138000")
	if err != nil {
		b.Fatal(err)
	}
	key := mustKey(b, emu.CurrentSessionKey(testAppID, "alice"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wechat.DecryptPhone(key, g.EncryptedData, g.IV, testAppID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptDataOfficialVector(b *testing.B) {
	key := mustKey(b, vecKey)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wechat.DecryptData(key, vecData, vecIV, vecAppID); err != nil {
			b.Fatal(err)
		}
	}
}

func benchClient(b *testing.B) (*wechattest.Emulator, *wechat.Client) {
	emu, srv := wechattest.NewServer(b, wechattest.Options{JSCode2SessionPerMinute: -1})
	emu.RegisterApp(wechattest.App{AppID: testAppID, Secret: testSecret, OpenPlatformID: openPlatID})
	c, err := wechat.NewClient(wechat.Config{BaseURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	return emu, c
}

// BenchmarkCode2Session is one wx.login (emulator) plus one code exchange
// over loopback HTTP.
func BenchmarkCode2Session(b *testing.B) {
	emu, c := benchClient(b)
	app := wechat.App{AppID: testAppID, Secret: testSecret}
	b.ReportAllocs()
	for b.Loop() {
		code, err := emu.Login(testAppID, "alice")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Code2Session(context.Background(), app, code); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCode2SessionParallel(b *testing.B) {
	emu, c := benchClient(b)
	app := wechat.App{AppID: testAppID, Secret: testSecret}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			code, err := emu.Login(testAppID, "alice")
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := c.Code2Session(context.Background(), app, code); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
