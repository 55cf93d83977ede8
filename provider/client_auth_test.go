package provider

import (
	"errors"
	"testing"

	"github.com/ory/fosite"
)

func TestClientAuthErrorIsAlwaysRFC6749(t *testing.T) {
	cases := []struct {
		name string
		in   error
		want *fosite.RFC6749Error
	}{
		{"bare JWT validation error", errors.New("Token is expired"), fosite.ErrInvalidClient},
		{"replayed jti", fosite.ErrJTIKnown.WithHint("used"), fosite.ErrInvalidClient},
		{"invalid_client passes", fosite.ErrInvalidClient.WithHint("x"), fosite.ErrInvalidClient},
		{"invalid_request passes", fosite.ErrInvalidRequest, fosite.ErrInvalidRequest},
		{"server error passes", fosite.ErrServerError.WithWrap(errors.New("db down")), fosite.ErrServerError},
	}
	for _, c := range cases {
		got := fosite.ErrorToRFC6749Error(clientAuthError(c.in))
		if got.ErrorField != c.want.ErrorField || got.CodeField != c.want.CodeField {
			t.Errorf("%s: %s/%d, want %s/%d", c.name, got.ErrorField, got.CodeField, c.want.ErrorField, c.want.CodeField)
		}
	}
	if clientAuthError(nil) != nil {
		t.Error("nil error mapped to an error")
	}
}
