package provider

import (
	"slices"
	"testing"

	"github.com/wxoidc/wxoidc/storage"
)

func TestIDTokenSigningAlgs(t *testing.T) {
	for _, tc := range []struct {
		configured, want []string
	}{
		{nil, []string{"RS256"}},
		{[]string{}, []string{"RS256"}},
		{[]string{"RS256", "ES256", "EdDSA"}, []string{"RS256", "ES256", "EdDSA"}},
		{[]string{"ES256", "EdDSA", "RS256"}, []string{"RS256", "ES256", "EdDSA"}},
		{[]string{"EdDSA", "RS256"}, []string{"RS256", "EdDSA"}},
		// Without the default (config refuses this; keys.Config allows it)
		// the configured ones are listed as they are.
		{[]string{"ES256", "EdDSA"}, []string{"ES256", "EdDSA"}},
	} {
		in := slices.Clone(tc.configured)
		got := IDTokenSigningAlgs(tc.configured)
		if !slices.Equal(got, tc.want) {
			t.Errorf("IDTokenSigningAlgs(%q) = %q, want %q", tc.configured, got, tc.want)
		}
		if !slices.Equal(in, tc.configured) {
			t.Errorf("IDTokenSigningAlgs changed its argument to %q", tc.configured)
		}
	}
}

// The default a client gets when it names no algorithm is the one listed
// first in discovery.
func TestIDTokenAlgDefaultIsAdvertisedFirst(t *testing.T) {
	def := IDTokenAlg(storage.Client{})
	if def != "RS256" {
		t.Errorf("IDTokenAlg of a client naming none = %q, want RS256 (OIDC's default)", def)
	}
	if got := IDTokenSigningAlgs([]string{"EdDSA", "ES256", def}); got[0] != def {
		t.Errorf("discovery lists %q first, want the default %q", got[0], def)
	}
	if got := IDTokenAlg(storage.Client{IDTokenSignedResponseAlg: "EdDSA"}); got != "EdDSA" {
		t.Errorf("IDTokenAlg of an EdDSA client = %q", got)
	}
}

func TestValidateClientIDTokenAlg(t *testing.T) {
	base := storage.Client{ID: "c", TokenEndpointAuthMethod: AuthMethodClientSecretBasic, GrantTypes: []string{GrantTypeClientCredentials}}
	for alg, ok := range map[string]bool{"": true, "RS256": true, "ES256": true, "EdDSA": true, "HS256": false, "RS512": false, "rs256": false} {
		c := base
		c.IDTokenSignedResponseAlg = alg
		if err := ValidateClient(c); (err == nil) != ok {
			t.Errorf("ValidateClient with id_token_signed_response_alg %q: %v, want ok=%v", alg, err, ok)
		}
	}
}
