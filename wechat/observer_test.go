package wechat_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/wechat"
)

type observedCall struct{ api, outcome string }

type callRecorder struct {
	mu    sync.Mutex
	calls []observedCall
}

func (r *callRecorder) ObserveCall(api, outcome string, d time.Duration) {
	if d < 0 {
		panic("negative duration")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, observedCall{api, outcome})
}

// Every HTTP attempt is observed once with its API and outcome: the errcode
// of a JSON answer, or "transport" when there was none.
func TestObserverSeesEveryAttempt(t *testing.T) {
	var mu sync.Mutex
	answers := []func(w http.ResponseWriter){
		func(w http.ResponseWriter) { fmt.Fprint(w, `{"errcode":-1,"errmsg":"system busy"}`) },
		func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"openid":"o1","session_key":"AAAAAAAAAAAAAAAAAAAAAA==","errcode":0}`)
		},
		func(w http.ResponseWriter) { fmt.Fprint(w, `{"errcode":40029,"errmsg":"invalid code"}`) },
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) },
		func(w http.ResponseWriter) { fmt.Fprint(w, `not json`) },
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		next := answers[0]
		answers = answers[1:]
		mu.Unlock()
		next(w)
	}))
	defer srv.Close()
	rec := &callRecorder{}
	c, err := wechat.NewClient(wechat.Config{BaseURL: srv.URL, RetryBackoff: time.Millisecond, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	app := wechat.App{AppID: "wx0123456789abcdef", Secret: "secret"}
	ctx := context.Background()
	if _, err := c.Code2Session(ctx, app, "code-1"); err != nil { // busy, then success
		t.Fatal(err)
	}
	if _, err := c.Code2Session(ctx, app, "code-2"); err == nil { // invalid code: not retried
		t.Fatal("invalid code accepted")
	}
	if _, err := c.Code2Session(ctx, app, "code-3"); err == nil { // 502, retried: not JSON
		t.Fatal("transport failures accepted")
	}
	want := []observedCall{
		{"jscode2session", "-1"}, {"jscode2session", "0"}, {"jscode2session", "40029"},
		{"jscode2session", wechat.OutcomeTransport}, {"jscode2session", wechat.OutcomeTransport},
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !slices.Equal(rec.calls, want) {
		t.Errorf("observed %v, want %v", rec.calls, want)
	}
}
