package provider

import (
	"net/url"
	"strings"
	"testing"

	"github.com/ory/fosite"
)

// FuzzParseGrantParams feeds arbitrary forms to the WeChat grant's parameter
// rules: either an invalid_request, or parameters that obey every rule.
func FuzzParseGrantParams(f *testing.F) {
	f.Add("code=c1")
	f.Add("code=c1&phone_code=p1")
	f.Add("code=c1&encrypted_data=ed&iv=iv")
	f.Add("code=&phone_code=p")
	f.Add("code=c&encrypted_data=ed")
	f.Add("code=c&phone_code=p&encrypted_data=e&iv=i")
	f.Add("code=" + strings.Repeat("x", maxCodeLen+1))
	f.Add("code=%ff%fe&iv=%00")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		r := fosite.NewAccessRequest(newSession())
		r.Form = form
		p, err := parseGrantParams(r)
		if err != nil {
			rfc := fosite.ErrorToRFC6749Error(err)
			if rfc.ErrorField != fosite.ErrInvalidRequest.ErrorField || rfc.HintField == "" {
				t.Fatalf("refusal %v", err)
			}
			return
		}
		switch {
		case p.code == "" || len(p.code) > maxCodeLen || len(p.phoneCode) > maxCodeLen:
			t.Fatalf("accepted code lengths %d/%d", len(p.code), len(p.phoneCode))
		case (p.encryptedData == "") != (p.iv == ""):
			t.Fatal("accepted half a legacy pair")
		case len(p.encryptedData) > maxEncryptedDataLen || len(p.iv) > maxIVLen:
			t.Fatal("accepted oversize legacy data")
		case p.phoneCode != "" && p.encryptedData != "":
			t.Fatal("accepted both phone methods")
		}
	})
}
