package console

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/go-chi/chi/v5"
)

// A value kept once is taken once.
func TestSessionOnce(t *testing.T) {
	s := &session{}
	if _, ok := s.takeOnce("k"); ok {
		t.Fatal("an empty session has a value")
	}
	s.keepOnce("k", "v1")
	s.keepOnce("k", "v2")
	s.keepOnce("other", "x")
	if v, ok := s.takeOnce("k"); !ok || v != "v2" {
		t.Fatalf("take: %q %v", v, ok)
	}
	if v, ok := s.takeOnce("k"); ok {
		t.Fatalf("taken twice: %q", v)
	}
	if v, _ := s.takeOnce("other"); v != "x" {
		t.Fatalf("other: %q", v)
	}
}

// Every client ID travels through its page's path and back.
func TestClientPathRoundTrip(t *testing.T) {
	for _, id := range []string{"plain", "team/app", "50%off", "new", "a?b#c", "a%2Fb", "x+y", "~~"} {
		var got string
		r := chi.NewRouter()
		r.Get("/clients/new", func(_ http.ResponseWriter, _ *http.Request) { got = "(the new form)" })
		r.Get("/clients/{id}", func(_ http.ResponseWriter, req *http.Request) { got = clientIDParam(req) })
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", clientPath(id), nil))
		if got != id {
			t.Errorf("%q: path %s reads back %q", id, clientPath(id), got)
		}
	}
}

func TestFormFields(t *testing.T) {
	if got := lines(" https://a/cb \r\n\r\nhttps://b/cb?x=1,2\n"); !slices.Equal(got, []string{"https://a/cb", "https://b/cb?x=1,2"}) {
		t.Errorf("lines: %q", got)
	}
	if got := fieldWords("openid,phone  offline_access\n"); !slices.Equal(got, []string{"openid", "phone", "offline_access"}) {
		t.Errorf("words: %q", got)
	}
}
