package wechat

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// TestDedupeWebExchanges: concurrent exchanges of one web code make one
// WeChat call, and every caller gets its token.
func TestDedupeWebExchanges(t *testing.T) {
	emu, srv := wechattest.NewServer(t, wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: "wxweb", Secret: "s1", Kind: wechattest.KindWebsite})
	c, err := NewClient(Config{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	app := App{AppID: "wxweb", Secret: "s1"}
	code, err := emu.WebCode("wxweb", "alice", ScopeSNSAPILogin)
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	emu.Inject(wechattest.Fault{API: wechattest.APIWebAccessToken, Hold: hold})

	const n = 6
	var wg sync.WaitGroup
	toks := make([]WebToken, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { toks[i], errs[i] = c.WebAccessToken(context.Background(), app, code) })
	}
	key := flightKey(apiWebAccessToken, app.AppID, code)
	for c.codes.waiting(key) != n {
		runtime.Gosched()
	}
	close(hold)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if toks[i].AccessToken != toks[0].AccessToken || toks[i].OpenID != emu.OpenID("wxweb", "alice") {
			t.Errorf("caller %d got another token", i)
		}
	}
	if got := len(emu.CallsTo(wechattest.APIWebAccessToken)); got != 1 {
		t.Errorf("%d calls, want 1", got)
	}
}
