package wechattest

import (
	"net/http/httptest"
	"testing"
)

// NewServer starts an emulator on an httptest server (loopback) and closes it
// when the test ends. Point wechat.Config.BaseURL at srv.URL.
func NewServer(t testing.TB, opts Options) (*Emulator, *httptest.Server) {
	t.Helper()
	e := New(opts)
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	return e, srv
}
