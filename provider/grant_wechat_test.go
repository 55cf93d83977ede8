package provider

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/ory/fosite"
)

func TestParseGrantParams(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	cases := []struct {
		name string
		form url.Values
		want grantParams
		// wantErr is "" for success, else a substring of the hint.
		wantErr string
	}{
		{"code only", url.Values{"code": {"c1"}}, grantParams{code: "c1"}, ""},
		{"code and phone code", url.Values{"code": {"c1"}, "phone_code": {"p1"}}, grantParams{code: "c1", phoneCode: "p1"}, ""},
		{"legacy pair", url.Values{"code": {"c1"}, "encrypted_data": {"ed"}, "iv": {"iv"}}, grantParams{code: "c1", encryptedData: "ed", iv: "iv"}, ""},
		{"limits are inclusive", url.Values{"code": {long(maxCodeLen)}, "phone_code": {long(maxCodeLen)}}, grantParams{code: long(maxCodeLen), phoneCode: long(maxCodeLen)}, ""},
		{"legacy at the limits", url.Values{"code": {"c"}, "encrypted_data": {long(maxEncryptedDataLen)}, "iv": {long(maxIVLen)}}, grantParams{code: "c", encryptedData: long(maxEncryptedDataLen), iv: long(maxIVLen)}, ""},
		{"missing code", url.Values{}, grantParams{}, "'code'"},
		{"empty code", url.Values{"code": {""}, "phone_code": {"p"}}, grantParams{}, "'code'"},
		{"code too long", url.Values{"code": {long(maxCodeLen + 1)}}, grantParams{}, "too long"},
		{"phone code too long", url.Values{"code": {"c"}, "phone_code": {long(maxCodeLen + 1)}}, grantParams{}, "too long"},
		{"encrypted_data without iv", url.Values{"code": {"c"}, "encrypted_data": {"ed"}}, grantParams{}, "together"},
		{"iv without encrypted_data", url.Values{"code": {"c"}, "iv": {"iv"}}, grantParams{}, "together"},
		{"encrypted_data too long", url.Values{"code": {"c"}, "encrypted_data": {long(maxEncryptedDataLen + 1)}, "iv": {"iv"}}, grantParams{}, "too long"},
		{"iv too long", url.Values{"code": {"c"}, "encrypted_data": {"ed"}, "iv": {long(maxIVLen + 1)}}, grantParams{}, "too long"},
		{"both phone methods", url.Values{"code": {"c"}, "phone_code": {"p"}, "encrypted_data": {"ed"}, "iv": {"iv"}}, grantParams{}, "not both"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := fosite.NewAccessRequest(newSession())
			r.Form = c.form
			got, err := parseGrantParams(r)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got != c.want {
					t.Fatalf("got %+v, want %+v", got, c.want)
				}
				return
			}
			if !errors.Is(err, fosite.ErrInvalidRequest) {
				t.Fatalf("error %v, want invalid_request", err)
			}
			rfc := fosite.ErrorToRFC6749Error(err)
			if !strings.Contains(rfc.HintField, c.wantErr) {
				t.Fatalf("hint %q does not mention %q", rfc.HintField, c.wantErr)
			}
			// The hint never echoes the parameter values.
			for _, vs := range c.form {
				for _, v := range vs {
					if len(v) > 3 && strings.Contains(rfc.HintField, v) {
						t.Fatalf("hint echoes a parameter value: %q", rfc.HintField)
					}
				}
			}
		})
	}
}
