package wechat_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/wechat"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// The shared-token tests on a real store (several instances on one
// database) live with that store, in internal/wechatstore.

// brokenStore fails every call, as a database that went away.
type brokenStore struct{}

var errStoreDown = errors.New("database unreachable")

func (brokenStore) Load(context.Context, string) (string, time.Time, bool, error) {
	return "", time.Time{}, false, errStoreDown
}
func (brokenStore) Save(context.Context, string, string, time.Time) error { return errStoreDown }
func (brokenStore) Lease(context.Context, string, string, time.Duration, time.Time) (bool, error) {
	return false, errStoreDown
}
func (brokenStore) Release(context.Context, string, string) error { return errStoreDown }

// TestSharedTokenStoreDownFallsBack: without its store a client still gets
// tokens, as it would alone, and says why in the log.
func TestSharedTokenStoreDownFallsBack(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.TokenStore = brokenStore{}
	c, err := wechat.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.AccessToken(context.Background(), e.app)
	if err != nil {
		t.Fatalf("AccessToken with the store down: %v", err)
	}
	e.secret(tok)
	if again, _ := c.AccessToken(context.Background(), e.app); again != tok {
		t.Error("token not cached locally")
	}
	if n := e.calls(wechattest.APIStableToken); n != 1 {
		t.Errorf("%d stable_token calls, want 1", n)
	}
	if !bytes.Contains([]byte(e.logs.String()), []byte(errStoreDown.Error())) {
		t.Error("the store failure was not logged")
	}
}

func TestTokenLeaseTTLValidated(t *testing.T) {
	if _, err := wechat.NewClient(wechat.Config{TokenLeaseTTL: -time.Second}); err == nil {
		t.Error("negative TokenLeaseTTL accepted")
	}
}
